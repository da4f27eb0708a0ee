import type { DmaAccess, GuestMemory } from '../../protocol/guest-memory.ts';
import type { DeviceTiming } from '../../protocol/host-binding.ts';
import type { MemberCapabilities, MemberEvent, MemberPort, MemberStimuli, RegisterWidth } from '../../protocol/member-port.ts';
import type { PowerStateName } from '../../protocol/pci.ts';

/** One access the harness makes to a member, as the monitor classifies it. */
export type MemberAccess =
  | { kind: 'common' | 'device'; write: boolean; offset: number; width: RegisterWidth; value?: number }
  | { kind: 'pci'; write: boolean; offset: number; width: RegisterWidth }
  | { kind: 'notify'; queue: number }
  | { kind: 'isr' }
  | { kind: 'flr' }
  | { kind: 'pm'; state: PowerStateName }
  | { kind: 'settle' };

/** What the member port wrapper reports to (the monitor). */
export interface MemberAccessSink {
  /** Before the access reaches the member: checks it against the member's mode. */
  beforeAccess(inner: MemberPort, a: MemberAccess): Promise<void>;
  /** Once the access completed (or failed). */
  afterAccess(inner: MemberPort, a: MemberAccess): void;
}

/**
 * A MemberPort that shows every access to the driver-rule monitor before passing it on. Everything
 * else (memory, observations, capabilities, stimuli) is the inner port's.
 */
export class MonitoredMemberPort implements MemberPort {
  constructor(
    readonly inner: MemberPort,
    private readonly sink: MemberAccessSink,
  ) {}

  get id(): number {
    return this.inner.id;
  }

  get virtioType(): number {
    return this.inner.virtioType;
  }

  get capabilities(): MemberCapabilities {
    return this.inner.capabilities;
  }
  get timing(): DeviceTiming {
    return this.inner.timing;
  }

  get memory(): GuestMemory {
    return this.inner.memory;
  }

  get stimuli(): MemberStimuli | undefined {
    return this.inner.stimuli;
  }

  private async access<T>(a: MemberAccess, op: () => Promise<T>): Promise<T> {
    await this.sink.beforeAccess(this.inner, a);
    try {
      return await op();
    } finally {
      this.sink.afterAccess(this.inner, a);
    }
  }

  commonCfgRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.access({ kind: 'common', write: false, offset, width }, () => this.inner.commonCfgRead(offset, width));
  }

  commonCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    return this.access({ kind: 'common', write: true, offset, width, value }, () => this.inner.commonCfgWrite(offset, width, value));
  }

  deviceCfgRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.access({ kind: 'device', write: false, offset, width }, () => this.inner.deviceCfgRead(offset, width));
  }

  deviceCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    return this.access({ kind: 'device', write: true, offset, width, value }, () => this.inner.deviceCfgWrite(offset, width, value));
  }

  notify(queueIndex: number): Promise<void> {
    return this.access({ kind: 'notify', queue: queueIndex }, () => this.inner.notify(queueIndex));
  }

  isrRead(): Promise<number> {
    return this.access({ kind: 'isr' }, () => this.inner.isrRead());
  }

  pciConfigRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.access({ kind: 'pci', write: false, offset, width }, () => this.inner.pciConfigRead(offset, width));
  }

  pciConfigWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    return this.access({ kind: 'pci', write: true, offset, width }, () => this.inner.pciConfigWrite(offset, width, value));
  }

  flr(): Promise<void> {
    return this.access({ kind: 'flr' }, () => this.inner.flr());
  }

  setPowerState(state: PowerStateName): Promise<void> {
    return this.access({ kind: 'pm', state }, () => this.inner.setPowerState(state));
  }

  settle(ms?: number): Promise<void> {
    return this.access({ kind: 'settle' }, () => this.inner.settle(ms));
  }

  takeEvents(): MemberEvent[] {
    return this.inner.takeEvents();
  }

  takeDmaLog(): DmaAccess[] {
    return this.inner.takeDmaLog();
  }
}
