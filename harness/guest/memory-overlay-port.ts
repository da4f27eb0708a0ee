import type { DmaAccess, GuestMemory } from '../../protocol/guest-memory.ts';
import type { DeviceTiming } from '../../protocol/host-binding.ts';
import type { MemberCapabilities, MemberEvent, MemberPort, MemberStimuli, RegisterWidth } from '../../protocol/member-port.ts';
import type { PowerStateName } from '../../protocol/pci.ts';

/**
 * A member port whose guest memory is seen through another GuestMemory (a CPU dirty log, a
 * recycling arena); every device-facing call goes to the real port unchanged.
 */
export class MemoryOverlayPort implements MemberPort {
  constructor(
    readonly inner: MemberPort,
    readonly memory: GuestMemory,
  ) {}

  get id(): number {
    return this.inner.id;
  }
  get virtioType(): number {
    return this.inner.virtioType;
  }
  get capabilities(): MemberCapabilities {
    return this.inner.capabilities;
  }  get timing(): DeviceTiming {
    return this.inner.timing;
  }
  get stimuli(): MemberStimuli | undefined {
    return this.inner.stimuli;
  }
  commonCfgRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.inner.commonCfgRead(offset, width);
  }
  commonCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    return this.inner.commonCfgWrite(offset, width, value);
  }
  deviceCfgRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.inner.deviceCfgRead(offset, width);
  }
  deviceCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    return this.inner.deviceCfgWrite(offset, width, value);
  }
  notify(queueIndex: number): Promise<void> {
    return this.inner.notify(queueIndex);
  }
  isrRead(): Promise<number> {
    return this.inner.isrRead();
  }
  pciConfigRead(offset: number, width: RegisterWidth): Promise<number> {
    return this.inner.pciConfigRead(offset, width);
  }
  pciConfigWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    return this.inner.pciConfigWrite(offset, width, value);
  }
  flr(): Promise<void> {
    return this.inner.flr();
  }
  setPowerState(state: PowerStateName): Promise<void> {
    return this.inner.setPowerState(state);
  }
  settle(ms?: number): Promise<void> {
    return this.inner.settle(ms);
  }
  takeEvents(): MemberEvent[] {
    return this.inner.takeEvents();
  }
  takeDmaLog(): DmaAccess[] {
    return this.inner.takeDmaLog();
  }
}
