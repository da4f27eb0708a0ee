import type { DmaAccess } from '../../protocol/guest-memory.ts';
import type { MemberCapabilities, MemberEvent, MemberPort, MemberStimuli, RegisterWidth } from '../../protocol/member-port.ts';
import { PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PM_CTRL, PowerState, type PowerStateName } from '../../protocol/pci.ts';
import type { SparseGuestMemory } from '../../device/guest-memory.ts';
import { CapOffset } from '../../device/member/layout.ts';
import type { VirtioMember } from '../../device/member/virtio-member.ts';

const CAPABILITIES: MemberCapabilities = {
  dmaObservation: true,
  interruptObservation: true,
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
 * member; PCI operations go through its configuration space exactly as a guest would (FLR through
 * PCIe Device Control, power states through PMCSR).
 */
export class SimulatorMemberPort implements MemberPort {
  readonly capabilities = CAPABILITIES;
  readonly stimuli: MemberStimuli;

  constructor(
    private readonly m: VirtioMember,
    readonly memory: SparseGuestMemory,
    private readonly seen: MemberObservations,
  ) {
    this.stimuli = {
      configChange: async () => m.signalConfigChange(),
      wake: async () => m.signalWake(),
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

  async flr(): Promise<void> {
    const at = CapOffset.EXP + PCI_EXP_DEVCTL;
    const ctl = this.m.pciConfigRead(at, 2);
    this.m.pciConfigWrite(at, 2, ctl | PCI_EXP_DEVCTL_BCR_FLR);
    await this.m.idle();
  }

  async setPowerState(state: PowerStateName): Promise<void> {
    const at = CapOffset.PM + PM_CTRL;
    const cur = this.m.pciConfigRead(at, 2);
    this.m.pciConfigWrite(at, 2, (cur & ~0x3 & ~0x8000) | PowerState[state]);
    await this.m.idle();
  }

  async settle(): Promise<void> {
    await this.m.settle();
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
