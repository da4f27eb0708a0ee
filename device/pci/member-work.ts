import type { VirtioMember } from '../member/virtio-member.ts';
import type { DeviceScheduler } from './scheduler.ts';

/**
 * The reference member still finishes queued requests only when told to (VirtioMember.settle). Until it
 * does its work on its own, the PCI models tell it from the device's own scheduler, after the device
 * latency, whenever something may have given it work: a notification, a register or configuration
 * write, an admin command (a mode change back to Active), the end of an FLR. Nothing a driver calls
 * runs it.
 */
export class MemberWork {
  private readonly scheduled = new Set<VirtioMember>();

  constructor(private readonly scheduler: DeviceScheduler) {}

  poke(m: VirtioMember): void {
    if (this.scheduled.has(m)) return;
    this.scheduled.add(m);
    this.scheduler.after(async () => {
      this.scheduled.delete(m);
      await m.idle();
      await m.settle();
    });
  }
}
