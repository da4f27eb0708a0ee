/**
 * When a PCI model does the work a register write asked for: after `latencyMs` on its own timer
 * (0: on the next turn of the event loop, never inside the write), so that a driver sees posted-write
 * behaviour and has to wait for completions the way it would on a card. close() cancels what is still
 * scheduled, so a closed binding leaves no timers behind. Errors of scheduled work go to `onError`
 * (the model turns them into a device error); they never become unhandled rejections.
 */
export class DeviceScheduler {
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly immediates = new Set<ReturnType<typeof setImmediate>>();
  private readonly sleepers = new Set<() => void>();
  private closed = false;

  constructor(
    readonly latencyMs: number,
    private readonly onError: (e: unknown) => void,
  ) {
    if (!(latencyMs >= 0) || !Number.isFinite(latencyMs)) throw new RangeError(`latencyMs must be a finite number >= 0, got ${latencyMs}`);
  }

  /** Runs `fn` after `ms` (default: the device latency). */
  after(fn: () => unknown, ms = this.latencyMs): void {
    if (this.closed) return;
    const run = () => {
      try {
        const r = fn();
        if (r instanceof Promise) r.catch(this.onError);
      } catch (e) {
        this.onError(e);
      }
    };
    if (ms <= 0) {
      const h = setImmediate(() => {
        this.immediates.delete(h);
        run();
      });
      this.immediates.add(h);
    } else {
      const h = setTimeout(() => {
        this.timers.delete(h);
        run();
      }, ms);
      this.timers.add(h);
    }
  }

  /** Resolves after `ms` (a model's own long operations such as an FLR), or at once when the scheduler closes. */
  sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.sleepers.delete(done);
        resolve();
      };
      this.sleepers.add(done);
      this.after(done, ms);
    });
  }

  close(): void {
    this.closed = true;
    for (const h of this.timers) clearTimeout(h);
    for (const h of this.immediates) clearImmediate(h);
    this.timers.clear();
    this.immediates.clear();
    for (const wake of [...this.sleepers]) wake();
  }
}
