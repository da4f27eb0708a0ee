/**
 * Helpers of the member suites (not a suite file: vitest collects only *.suite.ts). They use only
 * MemberPort and the guest driver, so they work on any transport that offers what a test `needs`.
 */
import type { ConformanceContext } from '../../harness/ctest.ts';
import type { GuestDriver } from '../../harness/guest/guest-driver.ts';
import type { GuestBuffer } from '../../harness/guest/guest-queue.ts';
import { blkRead } from '../../harness/guest/block-guest.ts';
import { modeName } from '../../protocol/commands.ts';
import type { DmaAccess } from '../../protocol/guest-memory.ts';
import type { MemberEvent, MemberPort, RegisterWidth } from '../../protocol/member-port.ts';
import { CommonCfg, PciCapType, VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import { PCI_COMMAND_MASTER, PCI_EXP_DEVCTL, PciCapId, PciCfg, PM_CTRL, PM_CTRL_PME_ENABLE, PM_CTRL_PME_STATUS, VirtioPciCap } from '../../protocol/pci.ts';
import { configReaderOf, findCapability, type PciCapability, walkCapabilities } from '../../protocol/pci-capabilities.ts';
import { availRingSize, descTableSize, usedRingSize } from '../../protocol/split-ring.ts';

/**
 * Watches the member for the quiet period the transport declares (timing.quietMs) before a test judges
 * that nothing happened: the device works on its own, and settle() lets it (the simulator returns as
 * soon as it has nothing pending, a card waits the whole period).
 */
export async function quiet(port: MemberPort): Promise<void> {
  await port.settle(port.timing.quietMs);
}

/**
 * Makes requests available and notifies them (`postAndKick`) so that the device holds them, taken and
 * not completed, when the test goes on: with the hold-requests stimulus the backend is stalled first
 * and the device is given its completion time to take them. Without it the requests are only
 * notified: the device may have completed them, or not taken them yet. Returns whether they are held
 * (release them with `releaseHeld`).
 */
export async function requestsInFlight(port: MemberPort, postAndKick: () => Promise<void>): Promise<boolean> {
  const hold = port.stimuli?.holdRequests;
  if (!hold) {
    await postAndKick();
    return false;
  }
  await hold(true);
  await postAndKick();
  await port.settle(port.timing.completionMs);
  return true;
}

/** Lets a backend stalled by requestsInFlight go on. */
export async function releaseHeld(port: MemberPort): Promise<void> {
  await port.stimuli?.holdRequests?.(false);
}

/** A request the member's device type completes by writing guest memory (block: a 1-sector read; entropy: 64 bytes). */
export function workRequest(t: ConformanceContext, port: MemberPort): () => GuestBuffer[] {
  if (port.virtioType === VirtioDeviceType.BLOCK) {
    let sector = 0n;
    return () => blkRead(sector++ % 64n, 1);
  }
  if (port.virtioType === VirtioDeviceType.ENTROPY) return () => [{ in: 64 }];
  return t.notTested(`member ${port.id} is virtio device type ${port.virtioType}; the suite drives block (2) and entropy (4) members only`);
}

/**
 * A guest driver on the member that has shown it completes a request in Active (the control every
 * "nothing happens outside Active" test needs, or its silence would prove nothing).
 */
export async function workingGuest(t: ConformanceContext, member: number, queueSize = 32): Promise<{ drv: GuestDriver; port: MemberPort; next: () => GuestBuffer[] }> {
  const port = t.port(member);
  const next = workRequest(t, port);
  const drv = await t.guest(member, { queues: 1, queueSize });
  drv.post(0, next(), 0xc0);
  await drv.kick(0);
  const done = await drv.poll(0, 1);
  if (done.length !== 1) t.notTested(`member ${member} did not complete a request in Active, so its silence outside Active would prove nothing`);
  port.takeDmaLog();
  port.takeEvents();
  return { drv, port, next };
}

export function describeDma(a: DmaAccess): string {
  return `${a.kind} of ${a.len} byte(s) at 0x${a.addr.toString(16)}`;
}

export function describeEvent(e: MemberEvent): string {
  return e.kind === 'msix' ? `MSI-X vector ${e.vector}` : e.kind === 'intx' ? 'INTx' : 'PME';
}

export function listSome<T>(items: readonly T[], show: (x: T) => string, max = 6): string {
  const head = items.slice(0, max).map(show).join(', ');
  return items.length > max ? `${head} and ${items.length - max} more` : head;
}

/** Interrupt messages (MSI-X, INTx) among the events. */
export function interruptsIn(events: readonly MemberEvent[]): MemberEvent[] {
  return events.filter((e) => e.kind === 'msix' || e.kind === 'intx');
}

/** The guest memory a virtqueue covers: its three ring areas and every buffer still outstanding. */
export function virtqueueMemory(drv: GuestDriver): { addr: bigint; len: number }[] {
  const out: { addr: bigint; len: number }[] = [];
  for (const q of drv.queues) {
    out.push({ addr: q.desc, len: descTableSize(q.size) }, { addr: q.driver, len: availRingSize(q.size) + 2 }, { addr: q.device, len: usedRingSize(q.size) + 2 });
    for (const r of q.outstanding.values()) for (const b of r.buffers) out.push({ addr: b.addr, len: b.len });
  }
  return out;
}

export function overlaps(a: { addr: bigint; len: number }, areas: readonly { addr: bigint; len: number }[]): boolean {
  return areas.some((m) => a.addr < m.addr + BigInt(m.len) && m.addr < a.addr + BigInt(a.len));
}

export function modeLabel(m: number): string {
  return modeName(m);
}

// ---- PCI configuration space -------------------------------------------------------------------------

/** The standard capability list of the member (the one walker, protocol/pci-capabilities). */
export async function capabilityList(port: MemberPort): Promise<PciCapability[]> {
  return (await walkCapabilities(configReaderOf(port))).caps;
}

/** The first virtio vendor capability of a cfg_type (virtio-pci: the driver uses the first of each type). */
export function findVirtioCap(port: MemberPort, cfgType: number): Promise<number | undefined> {
  return findCapability(configReaderOf(port), PciCapId.VENDOR, cfgType);
}

/** PCI-architected registers a snapshot covers, by capability id (lengths of the PCI / PCIe specs). */
const CAP_LENGTH: Record<number, number> = { [PciCapId.PM]: 8, [PciCapId.MSIX]: 12, [PciCapId.EXP]: 0x3c, 0x05: 24 };

/** Bits that change on their own (status bits set by the function or the link): left out of comparisons. */
interface Masked {
  at: number;
  width: RegisterWidth;
  keep: number;
  why: string;
}

export interface ConfigSnapshot {
  /** offset -> byte (undefined: not read). */
  bytes: Map<number, number>;
  masked: Masked[];
}

/**
 * Reads the configuration header (0x00-0x3f) and the capability list. `virtioCaps: 'header'` reads only
 * the ID and next pointer of virtio vendor capabilities (their bodies are the virtio interface, which
 * nothing touches in Freeze); 'all' reads them whole except pci_cfg_data, whose read performs a BAR
 * access through the PCI_CFG window.
 */
export async function configSnapshot(port: MemberPort, virtioCaps: 'header' | 'all'): Promise<ConfigSnapshot> {
  const bytes = new Map<number, number>();
  const read = async (from: number, len: number) => {
    for (let o = from; o < from + len; ) {
      if (o % 4 === 0 && o + 4 <= from + len) {
        const v = await port.pciConfigRead(o, 4);
        for (let i = 0; i < 4; i++) bytes.set(o + i, (v >>> (8 * i)) & 0xff);
        o += 4;
      } else {
        bytes.set(o, await port.pciConfigRead(o, 1));
        o += 1;
      }
    }
  };
  await read(0, 0x40);
  const masked: Masked[] = [{ at: PciCfg.STATUS, width: 2, keep: 0x0010, why: 'PCI Status (only Capabilities List compared)' }];
  for (const c of await capabilityList(port)) {
    if (c.id === PciCapId.VENDOR) {
      if (virtioCaps === 'header') {
        await read(c.at, 2);
        continue;
      }
      const len = await port.pciConfigRead(c.at + VirtioPciCap.CAP_LEN, 1);
      if (c.cfgType === PciCapType.PCI_CFG) {
        await read(c.at, VirtioPciCap.EXTRA);
        await read(c.at + VirtioPciCap.EXTRA + 4, Math.max(0, len - VirtioPciCap.EXTRA - 4));
      } else await read(c.at, Math.max(2, len));
      continue;
    }
    await read(c.at, CAP_LENGTH[c.id] ?? 2);
    if (c.id === PciCapId.PM) masked.push({ at: c.at + PM_CTRL, width: 2, keep: ~PM_CTRL_PME_STATUS & 0xffff, why: 'PME_Status' });
    if (c.id === PciCapId.EXP) {
      masked.push({ at: c.at + PCI_EXP_DEVCTL + 2, width: 2, keep: 0, why: 'PCIe Device Status' });
      masked.push({ at: c.at + 0x12, width: 2, keep: 0, why: 'PCIe Link Status' });
      masked.push({ at: c.at + 0x1a, width: 2, keep: 0, why: 'PCIe Slot Status' });
      masked.push({ at: c.at + 0x20, width: 4, keep: 0, why: 'PCIe Root Status' });
      masked.push({ at: c.at + 0x2a, width: 2, keep: 0, why: 'PCIe Device Status 2' });
      masked.push({ at: c.at + 0x32, width: 2, keep: 0, why: 'PCIe Link Status 2' });
    }
  }
  for (const m of masked) {
    for (let i = 0; i < m.width; i++) {
      const b = bytes.get(m.at + i);
      if (b !== undefined) bytes.set(m.at + i, b & ((m.keep >>> (8 * i)) & 0xff));
    }
  }
  return { bytes, masked };
}

/** Differences between two snapshots, as "0xOFF: was 0x.., now 0x.." (registers compared as bytes). */
export function snapshotDiff(before: ConfigSnapshot, now: ConfigSnapshot): string[] {
  const out: string[] = [];
  const offsets = [...new Set([...before.bytes.keys(), ...now.bytes.keys()])].sort((a, b) => a - b);
  for (const o of offsets) {
    const a = before.bytes.get(o);
    const b = now.bytes.get(o);
    if (a !== b) out.push(`0x${o.toString(16).padStart(2, '0')}: 0x${hex(a)} -> 0x${hex(b)}`);
  }
  return out;
}

function hex(v: number | undefined): string {
  return v === undefined ? '(absent)' : v.toString(16).padStart(2, '0');
}

/** The VIRTIO_PCI_CAP_PCI_CFG window: program bar/offset/length, then read or write pci_cfg_data. */
export class PciCfgWindow {
  constructor(
    readonly port: MemberPort,
    readonly cap: number,
  ) {}

  static async find(port: MemberPort): Promise<PciCfgWindow | undefined> {
    const at = await findVirtioCap(port, PciCapType.PCI_CFG);
    return at === undefined ? undefined : new PciCfgWindow(port, at);
  }

  async program(bar: number, offset: number, length: RegisterWidth): Promise<void> {
    await this.port.pciConfigWrite(this.cap + VirtioPciCap.BAR, 1, bar);
    await this.port.pciConfigWrite(this.cap + VirtioPciCap.OFFSET, 4, offset);
    await this.port.pciConfigWrite(this.cap + VirtioPciCap.LENGTH, 4, length);
  }

  async registers(): Promise<{ bar: number; offset: number; length: number }> {
    return {
      bar: await this.port.pciConfigRead(this.cap + VirtioPciCap.BAR, 1),
      offset: await this.port.pciConfigRead(this.cap + VirtioPciCap.OFFSET, 4),
      length: await this.port.pciConfigRead(this.cap + VirtioPciCap.LENGTH, 4),
    };
  }

  read(width: RegisterWidth): Promise<number> {
    return this.port.pciConfigRead(this.cap + VirtioPciCap.EXTRA, width);
  }

  write(width: RegisterWidth, value: number): Promise<void> {
    return this.port.pciConfigWrite(this.cap + VirtioPciCap.EXTRA, width, value);
  }
}

/** Where a virtio structure lives: the bar and offset its capability names. */
export async function virtioStructure(port: MemberPort, cfgType: number): Promise<{ bar: number; offset: number } | undefined> {
  const at = await findVirtioCap(port, cfgType);
  if (at === undefined) return undefined;
  return { bar: await port.pciConfigRead(at + VirtioPciCap.BAR, 1), offset: await port.pciConfigRead(at + VirtioPciCap.OFFSET, 4) };
}

/** struct virtio_pci_common_cfg registers read as they are (no select is written), for comparisons across modes. */
export const COMMON_CFG_READS: readonly { name: string; offset: number; width: RegisterWidth }[] = [
  { name: 'device_feature_select', offset: CommonCfg.DEVICE_FEATURE_SELECT.offset, width: 4 },
  { name: 'device_feature', offset: CommonCfg.DEVICE_FEATURE.offset, width: 4 },
  { name: 'driver_feature_select', offset: CommonCfg.DRIVER_FEATURE_SELECT.offset, width: 4 },
  { name: 'driver_feature', offset: CommonCfg.DRIVER_FEATURE.offset, width: 4 },
  { name: 'config_msix_vector', offset: CommonCfg.CONFIG_MSIX_VECTOR.offset, width: 2 },
  { name: 'num_queues', offset: CommonCfg.NUM_QUEUES.offset, width: 2 },
  { name: 'device_status', offset: CommonCfg.DEVICE_STATUS.offset, width: 1 },
  { name: 'queue_select', offset: CommonCfg.QUEUE_SELECT.offset, width: 2 },
  { name: 'queue_size', offset: CommonCfg.QUEUE_SIZE.offset, width: 2 },
  { name: 'queue_msix_vector', offset: CommonCfg.QUEUE_MSIX_VECTOR.offset, width: 2 },
  { name: 'queue_enable', offset: CommonCfg.QUEUE_ENABLE.offset, width: 2 },
  { name: 'queue_notify_off', offset: CommonCfg.QUEUE_NOTIFY_OFF.offset, width: 2 },
  { name: 'queue_desc (low)', offset: CommonCfg.QUEUE_DESC.offset, width: 4 },
  { name: 'queue_desc (high)', offset: CommonCfg.QUEUE_DESC.offset + 4, width: 4 },
  { name: 'queue_driver (low)', offset: CommonCfg.QUEUE_DRIVER.offset, width: 4 },
  { name: 'queue_driver (high)', offset: CommonCfg.QUEUE_DRIVER.offset + 4, width: 4 },
  { name: 'queue_device (low)', offset: CommonCfg.QUEUE_DEVICE.offset, width: 4 },
  { name: 'queue_device (high)', offset: CommonCfg.QUEUE_DEVICE.offset + 4, width: 4 },
];

export async function commonCfgSnapshot(port: MemberPort): Promise<number[]> {
  const out: number[] = [];
  for (const r of COMMON_CFG_READS) out.push(await port.commonCfgRead(r.offset, r.width));
  return out;
}

/**
 * What writes to a few PCI-architected registers do: each is changed, read back, restored and read
 * back (Command: Bus Master Enable; PMCSR: PME_En; MSI-X Message Control: Function Mask).
 */
export async function pciWriteBehaviour(port: MemberPort): Promise<{ what: string; changed: number; restored: number }[]> {
  const out: { what: string; changed: number; restored: number }[] = [];
  const toggle = async (what: string, at: number, bit: number, ignore = 0) => {
    const cur = (await port.pciConfigRead(at, 2)) & ~ignore;
    await port.pciConfigWrite(at, 2, cur ^ bit);
    const changed = (await port.pciConfigRead(at, 2)) & ~ignore;
    await port.pciConfigWrite(at, 2, cur);
    const restored = (await port.pciConfigRead(at, 2)) & ~ignore;
    out.push({ what, changed, restored });
  };
  await toggle('Command (Bus Master Enable)', PciCfg.COMMAND, PCI_COMMAND_MASTER);
  const caps = await capabilityList(port);
  const pm = caps.find((c) => c.id === PciCapId.PM);
  // PME_Status is write-1-to-clear: the writes carry 0 there and the reads ignore it.
  if (pm) await toggle('PMCSR (PME_En)', pm.at + PM_CTRL, PM_CTRL_PME_ENABLE, PM_CTRL_PME_STATUS);
  const msix = caps.find((c) => c.id === PciCapId.MSIX);
  if (msix) await toggle('MSI-X Message Control (Function Mask)', msix.at + 2, 0x4000);
  return out;
}
