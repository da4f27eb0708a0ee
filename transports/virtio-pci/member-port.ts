import type { DmaAccess, GuestMemory } from '../../protocol/guest-memory.ts';
import type { DeviceTiming, VfBinding } from '../../protocol/host-binding.ts';
import type { MemberCapabilities, MemberEvent, MemberPort, MemberStimuli, RegisterWidth } from '../../protocol/member-port.ts';
import { CommonCfg, VIRTIO_MSI_NO_VECTOR } from '../../protocol/pci-common-cfg.ts';
import { PciCapId, type PowerStateName } from '../../protocol/pci.ts';
import { type CapabilityCache, type ConfigAccess, functionLevelReset, setPowerState } from '../shared/function-reset.ts';
import { TransportClosedError } from '../../protocol/transport-errors.ts';
import { discoverLayout, type VirtioPciLayout } from './capabilities.ts';
import { CommonConfig } from './common-cfg.ts';
import { VirtioPciError } from './errors.ts';
import { unmaskVector } from './msix.ts';
import { pause } from '../shared/poll.ts';
import { RegionIo } from './region.ts';

/** A VF as the driver found it: its binding and the virtio structures in its configuration space. */
interface BoundVf {
  vf: VfBinding;
  layout: VirtioPciLayout;
  common: CommonConfig;
  device?: RegionIo;
  isr: RegionIo;
  /** queue_notify_off of each queue, learned when the queue is enabled (or on its first notify). */
  notifyOff: Map<number, number>;
  cfg: ConfigAccess;
  /** The PCI Express and PM capabilities, found by discovery (the FLR and power-state steps use them). */
  caps: CapabilityCache;
}

/**
 * The guest side of one member (a VF) over its host binding, with the same capability discovery and
 * register access as the owner: common and device configuration at exact width, the notify address
 * of each queue (queue_notify_off x multiplier), ISR, PCI configuration space, FLR through PCIe Device
 * Control, power states through PMCSR; guest memory is the VF's DMA space, interrupts and DMA come
 * from what the host observed. The port object outlives SR-IOV changes: `bind()` points it at the VF
 * that exists now.
 */
export class VirtioPciMemberPort implements MemberPort {
  private bound: BoundVf | undefined;
  private type = 0;
  private caps: MemberCapabilities = {
    dmaObservation: false,
    interruptObservation: false,
    pmeObservation: false,
    flr: false,
    powerManagement: false,
    pciConfig: false,
    separateMemory: true,
  };

  constructor(
    readonly id: number,
    readonly timing: DeviceTiming,
  ) {}

  /** The virtio device type, from the VF's Device ID. */
  get virtioType(): number {
    return this.type;
  }

  /** Points the port at the VF as it exists now (after VF Enable was set, a new function). */
  async bind(vf: VfBinding, virtioType: number): Promise<void> {
    this.type = virtioType;
    const layout = await discoverLayout(vf.fn);
    const common = new CommonConfig(new RegionIo(vf.fn, layout.common));
    const caps: CapabilityCache = new Map();
    if (layout.expAt !== undefined) caps.set(PciCapId.EXP, layout.expAt);
    if (layout.pmAt !== undefined) caps.set(PciCapId.PM, layout.pmAt);
    this.bound = {
      vf,
      layout,
      common,
      ...(layout.device ? { device: new RegionIo(vf.fn, layout.device) } : {}),
      isr: new RegionIo(vf.fn, layout.isr),
      notifyOff: new Map(),
      cfg: { read: (o, w) => vf.fn.configRead(o, w), write: (o, w, v) => vf.fn.configWrite(o, w, v) },
      caps,
    };
    this.caps = {
      dmaObservation: vf.dma.observation === 'exact',
      dmaObservationLevel: vf.dma.observation,
      interruptObservation: vf.irq.delivery !== 'none',
      // A PME is a message to the root port, not an interrupt of the function: no binding delivers it yet.
      pmeObservation: false,
      flr: layout.flrCapable,
      powerManagement: layout.pmAt !== undefined,
      pciConfig: true,
      separateMemory: true,
    };
  }

  /** The VF is gone (VF Enable cleared, NumVFs lowered): accesses fail until it is bound again. */
  unbind(): void {
    this.bound = undefined;
  }

  get isBound(): boolean {
    return this.bound !== undefined;
  }

  /** Where the VF is, as the host names it (undefined while it does not exist). */
  get address(): string | undefined {
    return this.bound?.vf.fn.address;
  }

  private get b(): BoundVf {
    if (!this.bound) throw new TransportClosedError(`member ${this.id} does not exist now (VF Enable is clear or NumVFs is below ${this.id})`);
    return this.bound;
  }

  get capabilities(): MemberCapabilities {
    return this.caps;
  }

  get memory(): GuestMemory {
    return this.b.vf.dma;
  }

  get stimuli(): MemberStimuli | undefined {
    return this.bound?.vf.stimuli;
  }

  async commonCfgRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.b.common.io.read(offset, width);
  }

  async commonCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    const b = this.b;
    await b.common.io.write(offset, width, value);
    if (offset === CommonCfg.QUEUE_ENABLE.offset && width === 2 && value === 1) await this.learnNotifyOff(b);
    if ((offset === CommonCfg.QUEUE_MSIX_VECTOR.offset || offset === CommonCfg.CONFIG_MSIX_VECTOR.offset) && width === 2) await this.routeVector(b, offset);
  }

  /** A real driver reads queue_notify_off while it sets the queue up; so does this port, when the queue is enabled. */
  private async learnNotifyOff(b: BoundVf): Promise<void> {
    const q = await b.common.read(CommonCfg.QUEUE_SELECT);
    b.notifyOff.set(q, await b.common.read(CommonCfg.QUEUE_NOTIFY_OFF));
  }

  /**
   * After an MSI-X vector is written it is read back (virtio 1.3 4.1.4.3.2: 0xFFFF means the mapping
   * failed); a mapped vector is unmasked in the MSI-X table, as the host does for a vector the guest
   * routes, so its messages reach the IrqSource.
   */
  private async routeVector(b: BoundVf, offset: number): Promise<void> {
    const v = await b.common.io.read(offset, 2);
    if (v !== VIRTIO_MSI_NO_VECTOR && b.layout.msix) await unmaskVector(b.vf.fn, b.layout.msix, v);
  }

  async deviceCfgRead(offset: number, width: RegisterWidth): Promise<number> {
    const d = this.b.device;
    if (!d) throw new VirtioPciError(this.b.vf.fn.address, 'the function has no VIRTIO_PCI_CAP_DEVICE_CFG capability');
    return d.read(offset, width);
  }

  async deviceCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    const d = this.b.device;
    if (!d) throw new VirtioPciError(this.b.vf.fn.address, 'the function has no VIRTIO_PCI_CAP_DEVICE_CFG capability');
    await d.write(offset, width, value);
  }

  async notify(queueIndex: number): Promise<void> {
    const b = this.b;
    const off = b.notifyOff.get(queueIndex) ?? (await this.probeNotifyOff(b, queueIndex));
    const n = b.layout.notify;
    await b.vf.fn.barWrite(n.bar, n.offset + off * n.multiplier, 2, queueIndex);
  }

  /**
   * queue_notify_off of a queue this port did not see enabled (a queue restored from a device
   * context): selected, read, and queue_select put back as the guest left it.
   */
  private async probeNotifyOff(b: BoundVf, q: number): Promise<number> {
    const was = await b.common.read(CommonCfg.QUEUE_SELECT);
    await b.common.write(CommonCfg.QUEUE_SELECT, q);
    const selected = (await b.common.read(CommonCfg.QUEUE_SELECT)) === q;
    const off = await b.common.read(CommonCfg.QUEUE_NOTIFY_OFF);
    await b.common.write(CommonCfg.QUEUE_SELECT, was);
    // A device that ignores the select (Freeze ignores config writes) told us nothing about queue q.
    if (selected) b.notifyOff.set(q, off);
    return selected ? off : q;
  }

  async isrRead(): Promise<number> {
    return this.b.isr.read(0, 1);
  }

  async pciConfigRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.b.vf.fn.configRead(offset, width);
  }

  async pciConfigWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    await this.b.vf.fn.configWrite(offset, width, value);
  }

  async flr(): Promise<void> {
    const b = this.b;
    if (!b.layout.flrCapable) throw new VirtioPciError(b.vf.fn.address, 'the function does not support FLR (PCIe Device Capabilities)');
    await functionLevelReset(b.cfg, this.timing.resetMs, `member ${this.id} FLR`, b.caps);
  }

  async setPowerState(state: PowerStateName): Promise<void> {
    const b = this.b;
    if (b.layout.pmAt === undefined) throw new VirtioPciError(b.vf.fn.address, 'the function has no PCI Power Management capability');
    await setPowerState(b.cfg, state, this.timing.resetMs, `member ${this.id} entering ${state}`, b.caps);
  }

  /** Waits up to `ms` (default: the declared completion time): the device works on its own, nothing here makes it. */
  async settle(ms?: number): Promise<void> {
    await pause(ms ?? this.timing.completionMs);
  }

  takeEvents(): MemberEvent[] {
    const b = this.bound;
    if (!b) return [];
    return b.vf.irq.take().map((e) => (e.vector === 'intx' ? { seq: e.seq, kind: 'intx' as const } : { seq: e.seq, kind: 'msix' as const, vector: e.vector }));
  }

  takeDmaLog(): DmaAccess[] {
    return this.bound?.vf.dma.takeAccessLog() ?? [];
  }
}
