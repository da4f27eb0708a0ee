import type { DmaAccess } from '../../protocol/guest-memory.ts';
import type { DeviceTiming } from '../../protocol/host-binding.ts';
import type { MemberCapabilities, MemberEvent, MemberPort, MemberStimuli, RegisterWidth } from '../../protocol/member-port.ts';
import type { PowerStateName } from '../../protocol/pci.ts';
import type { SparseGuestMemory } from '../../device/guest-memory.ts';
import type { VirtioMember } from '../../device/member/virtio-member.ts';
import { type CapabilityCache, type ConfigAccess, functionLevelReset, setPowerState } from '../shared/function-reset.ts';

const CAPABILITIES: MemberCapabilities = {
  dmaObservation: true,
  interruptObservation: true,
  pmeObservation: true,
  flr: true,
  powerManagement: true,
  pciConfig: true,
  separateMemory: true,
};

/** Observations of one member, filled by the simulator's DMA backend and device hooks. */
export class MemberObservations {
  dma: DmaAccess[] = [];
  events: MemberEvent[] = [];
}

/**
 * The guest side of a simulated member: register accesses go straight to the reference device's
 * member (a doorbell returns before the device acts, as a posted write does); PCI operations go
 * through its configuration space exactly as a guest's would (FLR through PCIe Device Control, power
 * states through PMCSR), waited for until the function answers configuration reads again.
 */
export class SimulatorMemberPort implements MemberPort {
  readonly capabilities = CAPABILITIES;
  readonly stimuli: MemberStimuli;
  private readonly cfg: ConfigAccess;
  private readonly caps: CapabilityCache = new Map();

  constructor(
    private readonly m: VirtioMember,
    readonly memory: SparseGuestMemory,
    private readonly seen: MemberObservations,
    readonly timing: DeviceTiming,
  ) {
    this.stimuli = {
      configChange: async () => m.signalConfigChange(),
      wake: async () => m.signalWake(),
      holdRequests: async (on) => m.holdRequests(on),
    };
    this.cfg = {
      read: async (o, w) => m.pciConfigRead(o, w),
      write: async (o, w, v) => {
        m.pciConfigWrite(o, w, v);
      },
    };
  }

  get id(): number {
    return this.m.id;
  }

  get virtioType(): number {
    return this.m.virtioType;
  }

  async commonCfgRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.m.commonCfgRead(offset, width);
  }

  async commonCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    this.m.commonCfgWrite(offset, width, value);
  }

  async deviceCfgRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.m.deviceCfgRead(offset, width);
  }

  async deviceCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    this.m.deviceCfgWrite(offset, width, value);
  }

  async notify(queueIndex: number): Promise<void> {
    await this.m.notify(queueIndex);
  }

  async isrRead(): Promise<number> {
    return this.m.isrRead();
  }

  async pciConfigRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.m.pciConfigRead(offset, width);
  }

  async pciConfigWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    this.m.pciConfigWrite(offset, width, value);
  }

  flr(): Promise<void> {
    return functionLevelReset(this.cfg, this.timing.resetMs, `member ${this.id} FLR`, this.caps);
  }

  setPowerState(state: PowerStateName): Promise<void> {
    return setPowerState(this.cfg, state, this.timing.resetMs, `member ${this.id} transition to ${state}`, this.caps);
  }

  /** Returns as soon as the member has nothing pending (this simulator knows), or after `ms` (work due at once is always waited for). */
  async settle(ms = this.timing.completionMs): Promise<void> {
    await this.m.work.settle(ms);
    const fault = this.m.work.takeFault();
    if (fault) throw fault;
  }

  takeEvents(): MemberEvent[] {
    const e = this.seen.events;
    this.seen.events = [];
    return e;
  }

  takeDmaLog(): DmaAccess[] {
    const d = this.seen.dma;
    this.seen.dma = [];
    return d;
  }
}
