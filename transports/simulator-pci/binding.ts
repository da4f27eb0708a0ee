import type { BindingIdentity, DeviceTiming, HostBinding, VfBinding } from '../../protocol/host-binding.ts';
import { ConfigError } from '../../protocol/errors.ts';
import type { SriovControl } from '../../protocol/sriov-control.ts';
import { PciCfg, SriovReg } from '../../protocol/pci.ts';
import { TransportClosedError } from '../../protocol/transport-errors.ts';
import { findMutant } from '../../device/mutants/index.ts';
import { type CommandSets, deviceOptions, type MemberSpec, type ReferenceDeviceOptions } from '../../device/options.ts';
import { PF_SRIOV_CAP } from '../../device/owner/pf-function.ts';
import { findPciMutant, PCI_MUTANTS } from '../../device/pci/mutants.ts';
import { PfPciModel } from '../../device/pci/pf-model.ts';
import type { MsixTable } from '../../device/pci/msix.ts';
import type { PciModelFunction } from '../../device/pci/pci-model.ts';
import { DeviceScheduler } from '../../device/pci/scheduler.ts';
import { VfPciModel } from '../../device/pci/vf-model.ts';
import { ReferenceDevice } from '../../device/reference-device.ts';
import { LoggedDmaSpace } from './dma-space.ts';
import { withDeadline } from '../shared/deadline.ts';
import { sriovThroughCapability } from '../shared/sriov-capability.ts';
import { simulatorTiming } from '../simulator/simulator-transport.ts';
import { resetWithRestore } from './host-reset.ts';
import { HostManagedMsix, type MsixTableOwner } from './host-msix.ts';
import { EventIrqSource } from './irq-source.ts';
import { PostedPciFunction } from './pci-function.ts';
import { type VfIdView, VfHostView } from './vf-host-view.ts';

export interface SimulatorPciOptions {
  /** The VFs (members) of the reference device; default two block members. */
  members?: MemberSpec[];
  /** Optional command sets the device offers; default all. */
  commandSets?: Partial<CommandSets>;
  /** Other reference-device options: the profile's wire opcodes, seed, member timings, serial. */
  device?: Partial<ReferenceDeviceOptions>;
  /** A seeded-bug device (device/mutants), by the name `vmcts mutants` lists. */
  mutant?: string;
  /** A device with broken PCI plumbing (device/pci/mutants.ts), by name. */
  pciMutant?: string;
  /** How long the device takes to act on a doorbell or a reset, in ms (0: the next turn of the event loop). */
  latencyMs?: number;
  /** How a VF's Vendor ID and Device ID read: as Linux and VFIO present them (default) or raw (0xFFFF). */
  vfIds?: VfIdView;
  /** Who programs and unmasks MSI-X table entries when the driver sets MSI-X Enable: the host (default, as VFIO) or the driver. */
  msixTable?: MsixTableOwner;
  /**
   * Named changes to the reference device already resolved by the caller (the simulator registration's
   * DeviceChange: seeded bugs, legal variants), applied after `mutant`: options before it is built, then
   * the built device.
   */
  changes?: DeviceChangeLike[];
}

/** A change to the reference device: its options before it is built, or the built device. */
export interface DeviceChangeLike {
  options?(o: Partial<ReferenceDeviceOptions>): Partial<ReferenceDeviceOptions>;
  apply?(device: ReferenceDevice): void;
}

export const DEFAULT_LATENCY_MS = 1;

/** The changes the options ask for: the mutant named (resolved as the simulator resolves it), then the given ones. */
function deviceChanges(o: SimulatorPciOptions): DeviceChangeLike[] {
  const out: DeviceChangeLike[] = [];
  if (o.mutant !== undefined) {
    const m = findMutant(o.mutant);
    if (!m) throw new ConfigError(`simulator-pci: mutant "${o.mutant}" is not a known seeded-bug device (see \`vmcts mutants\`)`);
    out.push(m);
  }
  return [...out, ...(o.changes ?? [])];
}

/**
 * The in-process HostBinding: the reference device behind register-level PF and VF models
 * (device/pci), reached the way a host reaches a card. See index.ts for what a driver must know.
 */
export class SimulatorPciBinding implements HostBinding {
  readonly kind = 'simulator-pci';
  readonly device: ReferenceDevice;
  readonly pfModel: PfPciModel;
  readonly pf: PostedPciFunction;
  readonly pfDma: LoggedDmaSpace;
  readonly pfIrq: EventIrqSource;
  readonly sriov: SriovControl;
  readonly timing: DeviceTiming;
  private readonly faultLog: string[] = [];
  private readonly scheduler: DeviceScheduler;
  private readonly vfModels = new Map<number, VfPciModel>();
  private readonly vfDma = new Map<number, LoggedDmaSpace>();
  private readonly vfIrq = new Map<number, EventIrqSource>();
  private readonly vfBindings = new Map<number, VfBinding>();
  /** Every VF binding handed out, current or not (closed with the binding). */
  private readonly handedOut: VfBinding[] = [];
  private readonly vfIds: VfIdView;
  private readonly msixTable: MsixTableOwner;
  /** Counts VF Enable clears: a VF binding of an older generation is a function that no longer exists. */
  private vfGeneration = 0;
  private closed = false;

  constructor(o: SimulatorPciOptions = {}) {
    const pciMutant = o.pciMutant === undefined ? undefined : findPciMutant(o.pciMutant);
    if (o.pciMutant !== undefined && !pciMutant) throw new ConfigError(`simulator-pci: pciMutant "${o.pciMutant}" is not known; known: ${PCI_MUTANTS.map((m) => m.name).join(', ')}`);
    const latencyMs = o.latencyMs ?? DEFAULT_LATENCY_MS;
    this.vfIds = o.vfIds ?? 'from-pf';
    this.msixTable = o.msixTable ?? 'host';
    this.scheduler = new DeviceScheduler(latencyMs, (e) => this.fault(e));
    const clock = { next: () => this.device.clock.next() };
    const changes = deviceChanges(o);
    let requested: Partial<ReferenceDeviceOptions> = {
      ...o.device,
      ...(o.members ? { members: o.members } : {}),
      commandSets: { ...deviceOptions(o.device).commandSets, ...o.commandSets },
    };
    for (const c of changes) if (c.options) requested = c.options(requested);
    const opts = deviceOptions(requested);
    this.pfDma = new LoggedDmaSpace(clock);
    this.pfIrq = new EventIrqSource(clock);
    this.device = new ReferenceDevice(opts, {
      dma: (id) => {
        const space = new LoggedDmaSpace(clock);
        this.vfDma.set(id, space);
        return space.device;
      },
      hooks: {
        interrupt: (id, vector) => this.vfModels.get(id)?.interrupt(vector),
        // A PME shows as PME_Status in the VF's PMCSR; the binding has no PME event to deliver.
        pme: () => undefined,
      },
    });
    for (const c of changes) c.apply?.(this.device);
    this.pfModel = new PfPciModel({
      device: this.device,
      dma: this.pfDma.device,
      scheduler: this.scheduler,
      interrupt: (v) => this.pfIrq.push(v),
      onVfEnableChange: (enabled) => {
        if (!enabled) this.releaseVfs();
      },
    });
    for (const [id, member] of this.device.members) {
      this.vfModels.set(id, new VfPciModel({ member, pf: this.pfModel, scheduler: this.scheduler, interrupt: (v) => this.vfIrq.get(id)?.push(v) }));
    }
    pciMutant?.apply(this.pfModel);
    const pfFn = this.hostView(this.pfModel, this.pfModel.msix, () => this.pfModel.config.msixEnabled);
    // The simulator's declared timing for the same device, plus the doorbell latency of the models.
    const base = simulatorTiming(opts.timings);
    this.timing = { completionMs: base.completionMs + 4 * latencyMs, quietMs: base.quietMs + 2 * latencyMs, resetMs: base.resetMs + latencyMs };
    this.pf = new PostedPciFunction('simulator-pci/pf', pfFn, { reset: () => resetWithRestore(pfFn, this.timing.resetMs, 'the PF reset'), onFault: (e) => this.fault(e) });
    const pf = this.pf;
    this.sriov = sriovThroughCapability(
      { read: (o, w) => pf.configRead(o, w), write: (o, w, v) => pf.configWrite(o, w, v), configSize: pf.configSize },
      // The host sees the VFs come and go once they answer again (the members' VF Enable reset is done).
      () => withDeadline(this.membersIdle(), 'the VFs after an SR-IOV change', this.timing.resetMs),
    );
  }

  private fault(e: unknown): void {
    this.faultLog.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }

  /** Errors the models' and the members' own work ran into (a reference-device invariant broken): diagnostics, never expected. */
  get faults(): readonly string[] {
    for (const m of this.device.members.values()) {
      const f = m.work.takeFault();
      if (f !== undefined) this.fault(f);
    }
    return this.faultLog;
  }

  /**
   * VF Enable was cleared: the VFs are gone. Functions handed out for them read all ones and drop
   * writes from now on (a removed function), and their interrupt sources take no more events.
   */
  private releaseVfs(): void {
    this.vfGeneration++;
    for (const irq of this.vfIrq.values()) void irq.close();
    this.vfIrq.clear();
    this.vfBindings.clear();
    for (const m of this.vfModels.values()) m.released();
  }

  /** The function as the host presents it: with its MSI-X vectors set up by the host unless the driver owns the table. */
  private hostView(fn: PciModelFunction, table: MsixTable, enabled: () => boolean): PciModelFunction {
    return this.msixTable === 'host' ? new HostManagedMsix(fn, table, enabled) : fn;
  }

  private async membersIdle(): Promise<void> {
    await Promise.all([...this.device.members.values()].map((m) => m.idle()));
  }

  /** The IDs Linux gives a VF: the PF's Vendor ID and the SR-IOV capability's VF Device ID. */
  private vfIdsFromPf(): { vendorId: number; deviceId: number } {
    return { vendorId: this.pfModel.configRead(PciCfg.VENDOR_ID, 2), deviceId: this.pfModel.configRead(PF_SRIOV_CAP + SriovReg.VF_DID, 2) };
  }

  async vf(memberId: number): Promise<VfBinding> {
    if (this.closed) throw new TransportClosedError('the simulator-pci binding is closed');
    const model = this.vfModels.get(memberId);
    if (!model || !this.pfModel.vfPresent(memberId)) {
      const pf = this.device.pf;
      throw new RangeError(`VF ${memberId} does not exist: ${pf.vfEnabled ? `NumVFs is ${pf.numVfs}` : 'VF Enable is clear'}`);
    }
    const cached = this.vfBindings.get(memberId);
    if (cached) return cached;
    const gen = this.vfGeneration;
    const view = this.hostView(new VfHostView(model, this.vfIds, () => this.vfIdsFromPf()), model.msix, () => model.member.config.msixEnabled);
    const irq = new EventIrqSource({ next: () => this.device.clock.next() });
    this.vfIrq.set(memberId, irq);
    const fn = new PostedPciFunction(`simulator-pci/vf${memberId}`, view, {
      alive: () => gen === this.vfGeneration && this.pfModel.vfPresent(memberId),
      reset: () => resetWithRestore(view, this.timing.resetMs, `the reset of VF ${memberId}`),
      onFault: (e) => this.fault(e),
    });
    const m = model.member;
    const binding: VfBinding = {
      memberId,
      fn,
      dma: this.vfDma.get(memberId)!,
      irq,
      stimuli: { configChange: async () => m.signalConfigChange(), wake: async () => m.signalWake(), holdRequests: async (on) => m.holdRequests(on) },
    };
    this.vfBindings.set(memberId, binding);
    this.handedOut.push(binding);
    return binding;
  }

  async identity(): Promise<BindingIdentity> {
    const o = this.device.options;
    return {
      description: `vmcts reference device as register-level PCI functions (simulator-pci), ${o.members.length} member(s): ${o.members.map((m) => m.type).join(', ')}`,
      serial: o.serial,
      firmware: o.firmware,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.close();
    await this.pf.close();
    await this.pfIrq.close();
    for (const b of this.handedOut) {
      await b.fn.close();
      await b.irq.close();
    }
  }
}

/** Opens the in-process binding (see index.ts). An unknown mutant or pciMutant name is a ConfigError. */
export async function openSimulatorPciBinding(options: SimulatorPciOptions = {}): Promise<SimulatorPciBinding> {
  return new SimulatorPciBinding(options);
}
