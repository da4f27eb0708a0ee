/**
 * The register steps of a Function Level Reset and of a power-state change, and how a driver sees
 * that a function answers again. They start an operation and do not wait for it: transports wait
 * (transports/shared/function-reset.ts), and a test that must act while the operation runs starts it
 * with these.
 */
import type { ConfigReader } from './pci-capabilities.ts';
import { PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PciCfg, PM_CTRL, PM_CTRL_PME_STATUS, PM_CTRL_STATE_MASK, PowerState, type PowerStateName } from './pci.ts';

/** Configuration space read and write at exact width. */
export interface ConfigAccess {
  read: ConfigReader;
  write(offset: number, width: 1 | 2 | 4, value: number): Promise<void>;
}

/** The access of anything with pciConfigRead/pciConfigWrite (MemberPort). */
export function configAccessOf(p: {
  pciConfigRead(offset: number, width: 1 | 2 | 4): Promise<number>;
  pciConfigWrite(offset: number, width: 1 | 2 | 4, value: number): Promise<void>;
}): ConfigAccess {
  return { read: (o, w) => p.pciConfigRead(o, w), write: (o, w, v) => p.pciConfigWrite(o, w, v) };
}

/**
 * Whether the function answers configuration reads: Command and Status (one dword at 0x04) read other
 * than all ones. Not the Vendor ID: a VF's Vendor ID reads 0xffff whatever its state (SR-IOV), which
 * is why Linux pci_dev_wait() reads Command too.
 */
export async function answersConfigReads(read: ConfigReader): Promise<boolean> {
  return (await read(PciCfg.COMMAND, 4)) !== 0xffffffff;
}

/** Sets Initiate Function Level Reset in Device Control of the PCI Express capability at `exp`. */
export async function requestFlr(cfg: ConfigAccess, exp: number): Promise<void> {
  const ctl = await cfg.read(exp + PCI_EXP_DEVCTL, 2);
  await cfg.write(exp + PCI_EXP_DEVCTL, 2, ctl | PCI_EXP_DEVCTL_BCR_FLR);
}

/** Writes a power state into PMCSR of the PM capability at `pm` (PME_En kept; PME_Status, write-1-to-clear, left alone). */
export async function requestPowerState(cfg: ConfigAccess, pm: number, state: PowerStateName): Promise<void> {
  const cur = await cfg.read(pm + PM_CTRL, 2);
  await cfg.write(pm + PM_CTRL, 2, (cur & ~PM_CTRL_STATE_MASK & ~PM_CTRL_PME_STATUS) | PowerState[state]);
}
