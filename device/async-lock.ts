/**
 * A FIFO async mutex. A member's device work (fetching from and completing to its queues) and its
 * mode changes run under one, so a mode change waits for the unit of work in progress: SD11b,
 * "finish all outstanding PCI transactions before completing MODE_SET".
 */
export class AsyncLock {
  private tail: Promise<void> = Promise.resolve();
  private held = false;

  get locked(): boolean {
    return this.held;
  }

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    this.held = true;
    try {
      return await fn();
    } finally {
      this.held = false;
      release();
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
