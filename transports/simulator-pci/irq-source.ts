import type { IrqEvent, IrqSource } from '../../protocol/irq-source.ts';
import { TransportAbortedError } from '../../protocol/transport-errors.ts';
import type { EventClock } from '../../device/event-clock.ts';

/** Events kept when nobody takes them; past it the oldest half is dropped. */
export const IRQ_EVENT_LIMIT = 1 << 16;

/**
 * The interrupts one function sent, as events: MSI-X messages by vector (after the function's own
 * masking: a masked vector arrives when it is unmasked) and INTx assertions, each with its place in
 * the binding's event order. A closed source (the function went away) takes no more events.
 */
export class EventIrqSource implements IrqSource {
  readonly delivery = 'events' as const;
  readonly pollMs = 0;
  private events: IrqEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(private readonly clock: Pick<EventClock, 'next'>) {}

  push(vector: number | 'intx'): void {
    if (this.closed) return;
    if (this.events.length >= IRQ_EVENT_LIMIT) this.events = this.events.slice(IRQ_EVENT_LIMIT / 2);
    this.events.push({ seq: this.clock.next(), vector });
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }

  take(): IrqEvent[] {
    const e = this.events;
    this.events = [];
    return e;
  }

  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.events.length) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    if (signal?.aborted) return Promise.reject(new TransportAbortedError('waiting for an interrupt was aborted'));
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
      };
      const done = () => {
        cleanup();
        resolve(this.events.length > 0);
      };
      const onAbort = () => {
        cleanup();
        reject(new TransportAbortedError('waiting for an interrupt was aborted'));
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
  }
}
