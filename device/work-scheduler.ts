/**
 * The work a device does on its own, after something set it off (a doorbell, the end of an FLR, a
 * released backend): each job runs `ms` milliseconds later, or at the next turn of the event loop
 * when `ms` is 0 (setImmediate, first in first out). With every delay 0 nothing depends on the wall
 * clock, so a run replays in the same order; a delay models a slower device.
 *
 * The scheduler knows when nothing is pending, which is what lets a transport's settle() return early.
 * A job that throws does not stop the others; its error is kept for the transport to report.
 */
export class WorkScheduler {
  private pending = 0;
  /** Jobs due at the next turn (delay 0): they take no time, so a wait never ends before them. */
  private immediate = 0;
  private waiters: (() => void)[] = [];
  private immediateWaiters: (() => void)[] = [];
  /** The first error a job threw, until taken. */
  private fault: unknown;

  /** Runs `job` after `ms` (0: at the next turn); resolves once it has run. */
  after(ms: number, job: () => unknown): Promise<void> {
    const now = ms <= 0;
    this.pending++;
    if (now) this.immediate++;
    return new Promise<void>((resolve) => {
      const run = () => {
        void (async () => {
          try {
            await job();
          } catch (e) {
            this.fault ??= e;
          } finally {
            this.pending--;
            if (now) this.immediate--;
            resolve();
            if (this.pending === 0) this.waiters = release(this.waiters);
            if (this.immediate === 0) this.immediateWaiters = release(this.immediateWaiters);
          }
        })();
      };
      if (now) setImmediate(run);
      else setTimeout(run, ms);
    });
  }

  get idle(): boolean {
    return this.pending === 0;
  }

  /** Resolves when no job is pending (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /**
   * Resolves when nothing is pending, or once `ms` have passed and no job is due at the next turn:
   * work without a modelled delay is always waited for, so how long the wait may be (and how busy the
   * machine is) never changes what the device has done when it ends. Work with a delay (a slow
   * device) is waited for up to `ms`.
   */
  async settle(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.whenIdle(), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    if (this.immediate === 0) return;
    // A device whose work never stops rescheduling itself still lets the wait end.
    let cap: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([new Promise<void>((r) => this.immediateWaiters.push(r)), new Promise<void>((r) => (cap = setTimeout(r, Math.max(1000, ms))))]);
    clearTimeout(cap);
  }

  /** The first error a job threw since the last call, if any. */
  takeFault(): unknown {
    const f = this.fault;
    this.fault = undefined;
    return f;
  }

}

/** Resolves every waiter; returns the empty list that replaces them. */
function release(waiters: (() => void)[]): (() => void)[] {
  for (const r of waiters) r();
  return [];
}
