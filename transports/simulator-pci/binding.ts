import type { BindingIdentity, DeviceTiming, HostBinding, VfBinding } from '../../protocol/host-binding.ts';
import { PciCfg, SriovReg } from '../../protocol/pci.ts';
import { TransportClosedError } from '../../protocol/transport-errors.ts';
import { findMutant } from '../../device/mutants/index.ts';
import { type CommandSets, deviceOptions, type MemberSpec, type ReferenceDeviceOptions } from '../../device/options.ts';
import { PF_SRIOV_CAP } from '../../device/owner/pf-function.ts';
import { MemberWork } from '../../device/pci/member-work.ts';
import { findPciMutant, PCI_MUTANTS } from '../../device/pci/mutants.ts';
import { PfPciModel } from '../../device/pci/pf-model.ts';
import { DeviceScheduler } from '../../device/pci/scheduler.ts';
import { VfPciModel } from '../../device/pci/vf-model.ts';
import { ReferenceDevice, type ReferenceDeviceWiring } from '../../device/reference-device.ts';
import { LoggedDmaSpace } from './dma-space.ts';
import { resetWithRestore } from './host-reset.ts';
import { EventIrqSource } from './irq-source.ts';
import { PostedPciFunction } from './pci-function.ts';
import { HostSriovControl } from './sriov-control.ts';
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
  /** Builds the reference device (a registry passes its own to apply variants); default: the mutant named, if any. */
  createDevice?: (opts: Partial<ReferenceDeviceOptions>, wiring: ReferenceDeviceWiring) => ReferenceDevice;
}

export const DEFAULT_LATENCY_MS = 1;

/** The device factory the options name: the reference device, with a seeded bug if `mutant` names one. */
function deviceFactory(o: SimulatorPciOptions): NonNullable<SimulatorPciOptions['createDevice']> {
  if (o.createDevice) return o.createDevice;
  if (!o.mutant) return (opts, wiring) => new ReferenceDevice(opts, wiring);
  const m = findMutant(o.mutant);
  if (!m) throw new Error(`simulator-pci: mutant "${o.mutant}" is not a known seeded-bug device (see \`vmcts mutants\`)`);
  return (opts, wiring) => {
    const d = new ReferenceDevice(opts, wiring);
    m.apply(d);
    return d;
  };
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
  readonly sriov: HostSriovControl;
  readonly timing: DeviceTiming;
  /** Errors the model's own work ran into (a reference-device invariant broken): diagnostics, never expected. */
  readonly faults: string[] = [];
  private readonly scheduler: DeviceScheduler;
  private readonly vfModels = new Map<number, VfPciModel>();
  private readonly vfDma = new Map<number, LoggedDmaSpace>();
  private readonly vfIrq = new Map<number, EventIrqSource>();
  private readonly vfBindings = new Map<number, VfBinding>();
  /** Every VF binding handed out, current or not (closed with the binding). */
  private readonly handedOut: VfBinding[] = [];
  private readonly vfIds: VfIdView;
  /** Counts VF Enable clears: a VF binding of an older generation is a function that no longer exists. */
  private vfGeneration = 0;
  private closed = false;

  constructor(o: SimulatorPciOptions = {}) {
    const pciMutant = o.pciMutant === undefined ? undefined : findPciMutant(o.pciMutant);
    if (o.pciMutant !== undefined && !pciMutant) throw new Error(`simulator-pci: pciMutant "${o.pciMutant}" is not known; known: ${PCI_MUTANTS.map((m) => m.name).join(', ')}`);
    const latencyMs = o.latencyMs ?? DEFAULT_LATENCY_MS;
    this.vfIds = o.vfIds ?? 'from-pf';
    this.scheduler = new DeviceScheduler(latencyMs, (e) => this.faults.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e)));
    const clock = { next: () => this.device.clock.next() };
    const opts = deviceOptions({
      ...o.device,
      ...(o.members ? { members: o.members } : {}),
      commandSets: { ...deviceOptions(o.device).commandSets, ...o.commandSets },
    });
    this.pfDma = new LoggedDmaSpace(clock);
    this.pfIrq = new EventIrqSource(clock);
    this.device = deviceFactory(o)(opts, {
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
    const work = new MemberWork(this.scheduler);
    this.pfModel = new PfPciModel({
      device: this.device,
      dma: this.pfDma.device,
      scheduler: this.scheduler,
      interrupt: (v) => this.pfIrq.push(v),
      onVfEnableChange: (enabled) => {
        if (!enabled) this.releaseVfs();
      },
      onCommandCompleted: () => {
        for (const m of this.device.members.values()) work.poke(m);
      },
    });
    for (const [id, member] of this.device.members) {
      this.vfModels.set(id, new VfPciModel({ member, pf: this.pfModel, scheduler: this.scheduler, work, interrupt: (v) => this.vfIrq.get(id)?.push(v) }));
    }
    pciMutant?.apply(this.pfModel);
    this.pf = new PostedPciFunction('simulator-pci/pf', this.pfModel, { reset: () => resetWithRestore(this.pfModel) });
    this.sriov = new HostSriovControl(this.pf, () => this.membersIdle());
    const t = opts.timings;
    this.timing = {
      completionMs: 200 + 4 * latencyMs,
      quietMs: 50 + 4 * latencyMs,
      resetMs: 100 + Math.max(t.flrMs, t.resetMs, t.pmMs) + latencyMs,
    };
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
    const view = new VfHostView(model, this.vfIds, () => this.vfIdsFromPf());
    const irq = new EventIrqSource({ next: () => this.device.clock.next() });
    this.vfIrq.set(memberId, irq);
    const fn = new PostedPciFunction(`simulator-pci/vf${memberId}`, view, {
      alive: () => gen === this.vfGeneration && this.pfModel.vfPresent(memberId),
      reset: () => resetWithRestore(view),
    });
    const m = model.member;
    const binding: VfBinding = {
      memberId,
      fn,
      dma: this.vfDma.get(memberId)!,
      irq,
      stimuli: { configChange: async () => m.signalConfigChange(), wake: async () => m.signalWake() },
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

/** Opens the in-process binding (see index.ts). Throws on an unknown mutant or pciMutant name. */
export async function openSimulatorPciBinding(options: SimulatorPciOptions = {}): Promise<SimulatorPciBinding> {
  return new SimulatorPciBinding(options);
}
