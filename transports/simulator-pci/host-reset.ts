import { findExtendedCapability, walkCapabilities } from '../../protocol/pci-capabilities.ts';
import {
  MSIX_BIR_MASK,
  MSIX_CTRL_TABLE_SIZE,
  MSIX_ENTRY_SIZE,
  MsixCap,
  PCI_EXP_DEVCTL,
  PCI_EXP_DEVCTL_BCR_FLR,
  PCI_EXT_CAP_ID_SRIOV,
  PciCapId,
  PciCfg,
  SriovReg,
} from '../../protocol/pci.ts';
import type { PciModelFunction } from '../../device/pci/pci-model.ts';
import { functionLevelReset } from '../shared/function-reset.ts';

const INTERRUPT_LINE = 0x3c;

type Restore = (fn: PciModelFunction) => void;

/**
 * The host's reset of a function, as Linux does it for VFIO_DEVICE_RESET (pci_reset_function: save the
 * configuration state, FLR, restore it): what the host restores is the Command register, the BARs, the
 * Interrupt Line, PCIe Device Control, MSI-X Message Control and table, and on a PF the SR-IOV VF BARs,
 * NumVFs and VF Enable (the VFs come back as new functions: the FLR released them). Everything else,
 * the virtio state in particular, is at its reset value afterwards.
 */
export async function resetWithRestore(fn: PciModelFunction, timeoutMs: number, what: string): Promise<void> {
  const restore = await save(fn);
  const cfg = { read: async (o: number, w: 1 | 2 | 4) => fn.configRead(o, w), write: async (o: number, w: 1 | 2 | 4, v: number) => fn.configWrite(o, w, v) };
  await functionLevelReset(cfg, timeoutMs, what);
  for (const r of restore) r(fn);
}

async function save(fn: PciModelFunction): Promise<Restore[]> {
  const read = async (o: number, w: 1 | 2 | 4) => fn.configRead(o, w);
  const out: Restore[] = [];
  const cfg = (offset: number, width: 1 | 2 | 4, mask = 0xffffffff) => {
    const v = fn.configRead(offset, width) & mask;
    out.push((f) => f.configWrite(offset, width, v >>> 0));
  };
  for (let bar = 0; bar < 6; bar++) cfg(PciCfg.BAR0 + 4 * bar, 4);
  cfg(INTERRUPT_LINE, 1);
  cfg(PciCfg.COMMAND, 2);
  const { caps } = await walkCapabilities(read);
  const exp = caps.find((c) => c.id === PciCapId.EXP);
  if (exp) cfg(exp.at + PCI_EXP_DEVCTL, 2, ~PCI_EXP_DEVCTL_BCR_FLR & 0xffff);
  const msix = caps.find((c) => c.id === PciCapId.MSIX);
  if (msix) saveMsix(fn, msix.at, out);
  const sriov = await findExtendedCapability(read, PCI_EXT_CAP_ID_SRIOV, fn.configSize);
  if (sriov !== undefined) {
    for (let bar = 0; bar < 6; bar++) cfg(sriov + SriovReg.BAR0 + 4 * bar, 4);
    cfg(sriov + SriovReg.NUM_VF, 2);
    cfg(sriov + SriovReg.CTRL, 2);
  }
  return out;
}

/** The table as the function shows it (skipped when the BAR does not decode), then Message Control. */
function saveMsix(fn: PciModelFunction, cap: number, out: Restore[]): void {
  const ctrl = fn.configRead(cap + MsixCap.CTRL, 2);
  const table = fn.configRead(cap + MsixCap.TABLE, 4);
  const bir = table & MSIX_BIR_MASK;
  const base = table & ~MSIX_BIR_MASK;
  const dwords: number[] = [];
  for (let i = 0; i < ((ctrl & MSIX_CTRL_TABLE_SIZE) + 1) * (MSIX_ENTRY_SIZE / 4); i++) dwords.push(fn.barRead(bir, base + 4 * i, 4));
  if (dwords.some((d) => d !== 0xffffffff)) out.push((f) => dwords.forEach((d, i) => f.barWrite(bir, base + 4 * i, 4, d)));
  out.push((f) => f.configWrite(cap + MsixCap.CTRL, 2, ctrl));
}
