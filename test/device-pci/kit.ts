import { expect } from 'vitest';
import { encodeAdminCmd } from '../../protocol/admin-frame.ts';
import { GroupType } from '../../protocol/status.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { walkCapabilities } from '../../protocol/pci-capabilities.ts';
import { CommonCfg, DeviceStatus, Feature, PciCapType, VIRTIO_MSI_NO_VECTOR } from '../../protocol/pci-common-cfg.ts';
import type { PciFunction } from '../../protocol/pci-function.ts';
import { MSIX_ENTRY_SIZE, MsixCap, MsixEntry, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, PciCapId, PciCfg, VirtioPciCap } from '../../protocol/pci.ts';
import { AvailOff, availRingSize, descTableSize, encodeDesc, USED_ELEM_SIZE, UsedOff, usedRingSize, VirtqDescFlags } from '../../protocol/split-ring.ts';
import type { DmaSpace } from '../../protocol/dma-space.ts';
import type { IrqSource } from '../../protocol/irq-source.ts';
import { openSimulatorPciBinding, type SimulatorPciBinding, type SimulatorPciOptions } from '../../transports/simulator-pci/index.ts';

/**
 * A deliberately tiny virtio-pci driver for the model's own tests: every step a register access
 * through the PciFunction, every ring byte written by hand. It is not the project's driver
 * (transports/virtio-pci); it exists so these tests depend on nothing but the contracts.
 */

export interface VirtioLayout {
  common: { bar: number; offset: number };
  notify: { bar: number; offset: number; multiplier: number };
  isr: { bar: number; offset: number };
  msixCap?: number;
}

/** Finds the virtio structures and MSI-X through the protocol walker. */
export async function layoutOf(fn: PciFunction): Promise<VirtioLayout> {
  const read = (o: number, w: 1 | 2 | 4) => fn.configRead(o, w);
  const { caps, problems } = await walkCapabilities(read);
  expect(problems).toEqual([]);
  const vendor = async (type: number) => {
    const c = caps.find((x) => x.id === PciCapId.VENDOR && x.cfgType === type);
    if (!c) throw new Error(`no virtio capability of type ${type}`);
    return { bar: await read(c.at + VirtioPciCap.BAR, 1), offset: await read(c.at + VirtioPciCap.OFFSET, 4), at: c.at };
  };
  const notify = await vendor(PciCapType.NOTIFY_CFG);
  return {
    common: await vendor(PciCapType.COMMON_CFG),
    notify: { ...notify, multiplier: await read(notify.at + VirtioPciCap.EXTRA, 4) },
    isr: await vendor(PciCapType.ISR_CFG),
    msixCap: caps.find((c) => c.id === PciCapId.MSIX)?.at,
  };
}

export interface ChainPart {
  /** Device-readable bytes, or the size of a device-writable buffer. */
  data?: Uint8Array;
  writable?: number;
}

export interface Placed {
  head: number;
  /** Addresses of the writable buffers, in order. */
  writable: { addr: bigint; len: number }[];
}

/** The driver side of one split virtqueue in a DmaSpace. */
export class TinyQueue {
  readonly desc: bigint;
  readonly avail: bigint;
  readonly used: bigint;
  private nextDesc = 0;
  availIdx = 0;

  constructor(
    readonly dma: DmaSpace,
    readonly index: number,
    readonly size: number,
  ) {
    this.desc = dma.alloc(descTableSize(size), 16);
    this.avail = dma.alloc(availRingSize(size), 2);
    this.used = dma.alloc(usedRingSize(size), 4);
  }

  /** Writes one chain (readable parts must come first unless a test breaks the rule on purpose) and makes it available. */
  place(parts: ChainPart[], o: { publish?: boolean } = {}): Placed {
    const head = this.nextDesc;
    const out: Placed = { head, writable: [] };
    parts.forEach((p, i) => {
      const idx = (head + i) % this.size;
      const len = p.data ? p.data.length : (p.writable ?? 0);
      const addr = this.dma.alloc(Math.max(len, 1), 8);
      if (p.data) this.dma.write(addr, p.data);
      else out.writable.push({ addr, len });
      const last = i === parts.length - 1;
      const flags = (p.data ? 0 : VirtqDescFlags.WRITE) | (last ? 0 : VirtqDescFlags.NEXT);
      this.writeDesc(idx, { addr, len, flags, next: (idx + 1) % this.size });
    });
    this.nextDesc = (head + parts.length) % this.size;
    if (o.publish !== false) this.publish(head);
    return out;
  }

  writeDesc(idx: number, d: { addr: bigint; len: number; flags: number; next: number }): void {
    this.dma.write(this.desc + BigInt(16 * idx), encodeDesc(d));
  }

  publish(head: number): void {
    const slot = new Uint8Array(2);
    new DataView(slot.buffer).setUint16(0, head, true);
    this.dma.write(this.avail + BigInt(AvailOff.RING + 2 * (this.availIdx % this.size)), slot);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.setAvail(AvailOff.IDX, this.availIdx);
  }

  setAvail(off: number, v: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    this.dma.write(this.avail + BigInt(off), b);
  }

  usedIdx(): number {
    return new DataView(this.dma.read(this.used + BigInt(UsedOff.IDX), 2).buffer).getUint16(0, true);
  }

  usedElem(i: number): { id: number; len: number } {
    const b = this.dma.read(this.used + BigInt(UsedOff.RING + USED_ELEM_SIZE * (i % this.size)), USED_ELEM_SIZE);
    const dv = new DataView(b.buffer);
    return { id: dv.getUint32(0, true), len: dv.getUint32(4, true) };
  }

  /** Polls the used index (driver-side reads are not device accesses) until it reaches `n` or the time is up. */
  async waitUsed(n: number, timeoutMs = 2000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (((this.usedIdx() - n) << 16) >> 16 < 0) {
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
    return true;
  }
}

/** Register access to one function's common config, notify and ISR. */
export class TinyDevice {
  constructor(
    readonly fn: PciFunction,
    readonly dma: DmaSpace,
    readonly irq: IrqSource,
    readonly layout: VirtioLayout,
  ) {}

  cfgRead(field: keyof typeof CommonCfg, high = false): Promise<number> {
    const f = CommonCfg[field];
    return this.fn.barRead(this.layout.common.bar, this.layout.common.offset + f.offset + (high ? 4 : 0), f.size === 8 ? 4 : (f.size as 1 | 2 | 4));
  }

  cfgWrite(field: keyof typeof CommonCfg, value: number, high = false): Promise<void> {
    const f = CommonCfg[field];
    return this.fn.barWrite(this.layout.common.bar, this.layout.common.offset + f.offset + (high ? 4 : 0), f.size === 8 ? 4 : (f.size as 1 | 2 | 4), value);
  }

  async waitStatus(pred: (s: number) => boolean, timeoutMs = 1000): Promise<number> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.cfgRead('DEVICE_STATUS');
      if (pred(s) || Date.now() > end) return s;
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (checked); Bus Master (and Memory Space on a PF). */
  async begin(features: bigint, o: { memorySpace?: boolean } = {}): Promise<void> {
    const cmd = await this.fn.configRead(PciCfg.COMMAND, 2);
    await this.fn.configWrite(PciCfg.COMMAND, 2, cmd | PCI_COMMAND_MASTER | (o.memorySpace === false ? 0 : PCI_COMMAND_MEMORY));
    await this.cfgWrite('DEVICE_STATUS', 0);
    expect(await this.waitStatus((s) => s === 0)).toBe(0);
    await this.cfgWrite('DEVICE_STATUS', DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
    for (const sel of [0, 1]) {
      await this.cfgWrite('DRIVER_FEATURE_SELECT', sel);
      await this.cfgWrite('DRIVER_FEATURE', Number((features >> BigInt(32 * sel)) & 0xffffffffn));
    }
    await this.cfgWrite('DEVICE_STATUS', DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
    expect((await this.cfgRead('DEVICE_STATUS')) & DeviceStatus.FEATURES_OK).toBe(DeviceStatus.FEATURES_OK);
  }

  async queue(index: number, size: number, vector = VIRTIO_MSI_NO_VECTOR): Promise<TinyQueue> {
    await this.cfgWrite('QUEUE_SELECT', index);
    await this.cfgWrite('QUEUE_SIZE', size);
    const q = new TinyQueue(this.dma, index, size);
    const lo = (a: bigint) => Number(a & 0xffffffffn);
    const hi = (a: bigint) => Number(a >> 32n);
    await this.cfgWrite('QUEUE_DESC', lo(q.desc));
    await this.cfgWrite('QUEUE_DESC', hi(q.desc), true);
    await this.cfgWrite('QUEUE_DRIVER', lo(q.avail));
    await this.cfgWrite('QUEUE_DRIVER', hi(q.avail), true);
    await this.cfgWrite('QUEUE_DEVICE', lo(q.used));
    await this.cfgWrite('QUEUE_DEVICE', hi(q.used), true);
    await this.cfgWrite('QUEUE_MSIX_VECTOR', vector);
    await this.cfgWrite('QUEUE_ENABLE', 1);
    return q;
  }

  async driverOk(): Promise<void> {
    const s = await this.cfgRead('DEVICE_STATUS');
    await this.cfgWrite('DEVICE_STATUS', s | DeviceStatus.DRIVER_OK);
  }

  async notify(q: TinyQueue): Promise<void> {
    await this.cfgWrite('QUEUE_SELECT', q.index);
    const off = await this.cfgRead('QUEUE_NOTIFY_OFF');
    await this.fn.barWrite(this.layout.notify.bar, this.layout.notify.offset + off * this.layout.notify.multiplier, 2, q.index);
  }

  /** MSI-X Enable with Function Mask clear, and entries `unmask` unmasked. */
  async enableMsix(unmask: number[]): Promise<{ bar: number; table: number; pba: number }> {
    const cap = this.layout.msixCap!;
    const t = await this.fn.configRead(cap + MsixCap.TABLE, 4);
    const p = await this.fn.configRead(cap + MsixCap.PBA, 4);
    const where = { bar: t & 7, table: t & ~7, pba: p & ~7 };
    for (const v of unmask) await this.fn.barWrite(where.bar, where.table + v * MSIX_ENTRY_SIZE + MsixEntry.VECTOR_CTRL, 4, 0);
    const ctrl = await this.fn.configRead(cap + MsixCap.CTRL, 2);
    await this.fn.configWrite(cap + MsixCap.CTRL, 2, (ctrl | 0x8000) & ~0x4000);
    return where;
  }
}

export const PF_FEATURES = (1n << BigInt(Feature.VERSION_1)) | (1n << BigInt(Feature.SR_IOV)) | (1n << BigInt(Feature.ADMIN_VQ));

export interface AdminRig {
  b: SimulatorPciBinding;
  pf: TinyDevice;
  aq: TinyQueue;
}

const opened = new Set<SimulatorPciBinding>();

/** Opens a binding that closeOpened() closes: call `afterEach(closeOpened)` in every file that opens one. */
export async function open(o: SimulatorPciOptions = {}): Promise<SimulatorPciBinding> {
  const b = await openSimulatorPciBinding(o);
  opened.add(b);
  return b;
}

export async function closeOpened(): Promise<void> {
  for (const b of opened) await b.close();
  opened.clear();
}

/** A LIST_QUERY for the SR-IOV group: 24 device-readable bytes. */
export const LIST_QUERY = encodeAdminCmd({ opcode: SEED_V2_WIRE.opcodes.LIST_QUERY, groupType: GroupType.SRIOV, memberId: 0n, data: new Uint8Array(0) });

/** Opens the binding and brings the PF up to DRIVER_OK with its admin queue (vector 1 when MSI-X is on). */
export async function adminRig(o: SimulatorPciOptions & { msix?: boolean; queueSize?: number } = {}): Promise<AdminRig> {
  const b = await open({ latencyMs: 0, ...o });
  const pf = new TinyDevice(b.pf, b.pfDma, b.pfIrq, await layoutOf(b.pf));
  await pf.begin(PF_FEATURES);
  if (o.msix) await pf.enableMsix([0, 1]);
  const index = await pf.cfgRead('ADMIN_QUEUE_INDEX');
  const aq = await pf.queue(index, o.queueSize ?? 16, o.msix ? 1 : VIRTIO_MSI_NO_VECTOR);
  await pf.cfgWrite('CONFIG_MSIX_VECTOR', o.msix ? 0 : VIRTIO_MSI_NO_VECTOR);
  await pf.driverOk();
  return { b, pf, aq };
}
