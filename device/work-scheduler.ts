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
  private waiters: (() => void)[] = [];
  /** The first error a job threw, until taken. */
  private fault: unknown;

  /** Runs `job` after `ms` (0: at the next turn); resolves once it has run. */
  after(ms: number, job: () => unknown): Promise<void> {
    this.pending++;
    return new Promise<void>((resolve) => {
      const run = () => {
        void (async () => {
          try {
            await job();
          } catch (e) {
            this.fault ??= e;
          } finally {
            this.pending--;
            resolve();
            if (this.pending === 0) this.wake();
          }
        })();
      };
      if (ms > 0) setTimeout(run, ms);
      else setImmediate(run);
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

  /** The first error a job threw since the last call, if any. */
  takeFault(): unknown {
    const f = this.fault;
    this.fault = undefined;
    return f;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}
