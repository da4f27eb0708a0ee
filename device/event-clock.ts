/**
 * One sequence for everything the device does that a test may want to order: DMA accesses,
 * interrupts, PME, command completions, FLR completion. Shared by all members of one owner.
 */
export class EventClock {
  private n = 0;
  next(): number {
    return ++this.n;
  }
  get now(): number {
    return this.n;
  }
}
