import { walkCapabilities, walkExtendedCapabilities, type PciCapability } from '../../protocol/pci-capabilities.ts';
import { COMMON_CFG_SIZE, CommonCfg, PciCapType } from '../../protocol/pci-common-cfg.ts';
import type { PciFunction } from '../../protocol/pci-function.ts';
import { MSIX_BIR_MASK, MSIX_CTRL_TABLE_SIZE, MsixCap, PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_FLR, PciCapId, VirtioPciCap } from '../../protocol/pci.ts';
import { VirtioPciError } from './errors.ts';
import type { Region } from './region.ts';

/** struct virtio_pci_cap is 16 bytes; the notify and PCI_CFG forms add one le32. */
const VIRTIO_CAP_LEN = 16;
const VIRTIO_CAP_EXTRA_LEN = 20;
const STD_CONFIG_END = 0x100;
/** struct virtio_pci_common_cfg up to queue_device (Linux's minimum, sizeof(virtio_pci_common_cfg)). */
const COMMON_CFG_MIN = CommonCfg.QUEUE_DEVICE.offset + CommonCfg.QUEUE_DEVICE.size;
/** cfg_type values a driver may meet (virtio-pci.md section 2); the rest are reserved and ignored. */
const KNOWN_CFG_TYPES: ReadonlySet<number> = new Set(Object.values(PciCapType));
/** PCIe Device Serial Number extended capability: the serial is the le64 at +4. */
export const PCI_EXT_CAP_ID_DSN = 0x0003;

export interface NotifyRegion extends Region {
  /** notify_off_multiplier: a queue notifies at offset + queue_notify_off x multiplier. */
  multiplier: number;
}

export interface MsixLayout {
  at: number;
  vectors: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

/** What the driver found in a function's configuration space. */
export interface VirtioPciLayout {
  common: Region;
  notify: NotifyRegion;
  isr: Region;
  device?: Region;
  /** Config-space offset of the VIRTIO_PCI_CAP_PCI_CFG capability. */
  pciCfgAt?: number;
  msix?: MsixLayout;
  /** PCI Express capability, and whether Device Capabilities says FLR is supported. */
  expAt?: number;
  flrCapable: boolean;
  pmAt?: number;
  /** Extended capabilities (SR-IOV, DSN), by id: the first of each. */
  extended: ReadonlyMap<number, number>;
  /** Virtio capabilities the driver skipped, and why (reserved type or BAR, structure outside its BAR, a later duplicate). */
  skipped: string[];
}

interface VirtioCap {
  at: number;
  cfgType: number;
  bar: number;
  offset: number;
  length: number;
  capLen: number;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * Capability discovery (virtio 1.3 transport-pci, "Virtio Structure PCI Capabilities"), with the
 * protocol walker: a list that loops or leaves config space is refused; virtio capabilities with a
 * reserved cfg_type or BAR, or whose BAR the function does not implement, are ignored; the first
 * usable instance of each type is taken; a longer cap_len is accepted; a structure must lie inside its
 * BAR. COMMON_CFG, NOTIFY_CFG and ISR_CFG are required.
 */
export async function discoverLayout(fn: PciFunction): Promise<VirtioPciLayout> {
  const read = (o: number, w: 1 | 2 | 4) => fn.configRead(o, w);
  const std = await walkCapabilities(read);
  if (std.problems.length) throw new VirtioPciError(fn.address, `the PCI capability list is broken: ${std.problems.join('; ')}`);
  const ext = await walkExtendedCapabilities(read, fn.configSize);
  if (ext.problems.length) throw new VirtioPciError(fn.address, `the PCIe extended capability list is broken: ${ext.problems.join('; ')}`);

  const skipped: string[] = [];
  const chosen = new Map<number, VirtioCap>();
  for (const c of std.caps) {
    if (c.id !== PciCapId.VENDOR) continue;
    const cap = await readVirtioCap(fn, c, skipped);
    if (!cap) continue;
    if (chosen.has(cap.cfgType)) {
      skipped.push(`cfg_type ${cap.cfgType} at ${hex(cap.at)}: a later instance (the first is used)`);
      continue;
    }
    chosen.set(cap.cfgType, cap);
  }
  const need = (type: number, name: string): VirtioCap => {
    const c = chosen.get(type);
    if (c) return c;
    const why = skipped.length ? ` (skipped: ${skipped.join('; ')})` : '';
    throw new VirtioPciError(fn.address, `no usable ${name} capability in the PCI capability list${why}`);
  };
  const common = need(PciCapType.COMMON_CFG, 'VIRTIO_PCI_CAP_COMMON_CFG');
  const notify = need(PciCapType.NOTIFY_CFG, 'VIRTIO_PCI_CAP_NOTIFY_CFG');
  const isr = need(PciCapType.ISR_CFG, 'VIRTIO_PCI_CAP_ISR_CFG');
  const device = chosen.get(PciCapType.DEVICE_CFG);
  const region = (c: VirtioCap): Region => ({ bar: c.bar, offset: c.offset, length: c.length });

  const first = (id: number) => std.caps.find((c) => c.id === id)?.at;
  const expAt = first(PciCapId.EXP);
  const pmAt = first(PciCapId.PM);
  const msixAt = first(PciCapId.MSIX);
  const extended = new Map<number, number>();
  for (const c of ext.caps) if (!extended.has(c.id)) extended.set(c.id, c.at);
  return {
    common: region(common),
    notify: { ...region(notify), multiplier: await fn.configRead(notify.at + VirtioPciCap.EXTRA, 4) },
    isr: region(isr),
    ...(device ? { device: region(device) } : {}),
    ...(chosen.has(PciCapType.PCI_CFG) ? { pciCfgAt: chosen.get(PciCapType.PCI_CFG)!.at } : {}),
    ...(msixAt !== undefined ? { msix: await readMsix(fn, msixAt) } : {}),
    ...(expAt !== undefined ? { expAt } : {}),
    flrCapable: expAt !== undefined && ((await fn.configRead(expAt + PCI_EXP_DEVCAP, 4)) & PCI_EXP_DEVCAP_FLR) !== 0,
    ...(pmAt !== undefined ? { pmAt } : {}),
    extended,
    skipped,
  };
}

/** One virtio vendor capability, or undefined (with the reason in `skipped`) when the driver must ignore it. */
async function readVirtioCap(fn: PciFunction, c: PciCapability, skipped: string[]): Promise<VirtioCap | undefined> {
  const at = c.at;
  const cfgType = c.cfgType ?? 0;
  const skip = (why: string) => {
    skipped.push(`cfg_type ${cfgType} at ${hex(at)}: ${why}`);
    return undefined;
  };
  if (!KNOWN_CFG_TYPES.has(cfgType)) return skip('reserved cfg_type');
  const extra = cfgType === PciCapType.NOTIFY_CFG || cfgType === PciCapType.PCI_CFG;
  const need = extra ? VIRTIO_CAP_EXTRA_LEN : VIRTIO_CAP_LEN;
  // A capability is part of the list: one that does not fit in the standard space breaks the list itself.
  if (at + need > STD_CONFIG_END) {
    throw new VirtioPciError(fn.address, `the PCI capability list is broken: the virtio capability (cfg_type ${cfgType}) at ${hex(at)} needs ${need} bytes and runs past the end of the standard configuration space (0xff)`);
  }
  const capLen = await fn.configRead(at + VirtioPciCap.CAP_LEN, 1);
  if (capLen < need) return skip(`cap_len ${capLen} is shorter than the ${need} bytes of its structure`);
  const bar = await fn.configRead(at + VirtioPciCap.BAR, 1);
  const offset = await fn.configRead(at + VirtioPciCap.OFFSET, 4);
  const length = await fn.configRead(at + VirtioPciCap.LENGTH, 4);
  const cap = { at, cfgType, bar, offset, length, capLen };
  // The PCI_CFG window's bar/offset/length are the driver's to write; nothing to check.
  if (cfgType === PciCapType.PCI_CFG) return cap;
  if (bar > 5) return skip(`reserved bar ${bar}`);
  const info = fn.bars.find((b) => b.index === bar);
  if (!info) return skip(`BAR ${bar} is not implemented (size 0)`);
  if (BigInt(offset) + BigInt(length) > info.size) return skip(`the structure (offset ${hex(offset)}, length ${length}) runs past BAR ${bar} (${info.size} bytes)`);
  if (cfgType === PciCapType.COMMON_CFG && length < COMMON_CFG_MIN) return skip(`length ${length} cannot hold struct virtio_pci_common_cfg (${COMMON_CFG_MIN} bytes)`);
  return cap;
}

async function readMsix(fn: PciFunction, at: number): Promise<MsixLayout> {
  const ctrl = await fn.configRead(at + MsixCap.CTRL, 2);
  const table = await fn.configRead(at + MsixCap.TABLE, 4);
  const pba = await fn.configRead(at + MsixCap.PBA, 4);
  return {
    at,
    vectors: (ctrl & MSIX_CTRL_TABLE_SIZE) + 1,
    tableBar: table & MSIX_BIR_MASK,
    tableOffset: (table & ~MSIX_BIR_MASK) >>> 0,
    pbaBar: pba & MSIX_BIR_MASK,
    pbaOffset: (pba & ~MSIX_BIR_MASK) >>> 0,
  };
}

/** Whether the common configuration structure reaches admin_queue_num (Linux checks the same before accepting VIRTIO_F_ADMIN_VQ). */
export function commonCfgHoldsAdminQueue(layout: VirtioPciLayout): boolean {
  return layout.common.length >= COMMON_CFG_SIZE;
}

