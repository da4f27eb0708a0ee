import type { DmaObservation, DmaSpace } from '../../protocol/dma-space.ts';
import type { DmaAccess } from '../../protocol/guest-memory.ts';
import type { DmaBackend } from '../../device/dma.ts';
import type { EventClock } from '../../device/event-clock.ts';
import { SparseGuestMemory } from '../../device/guest-memory.ts';

/** Entries kept when nobody takes the log; past it the oldest half is dropped (only a driver that never looks loses entries). */
export const ACCESS_LOG_LIMIT = 1 << 16;

/**
 * Memory a driver allocates for one function, above 4 GiB so 64-bit addresses are exercised. The
 * driver's own accesses are plain; the function's accesses come through `device` and every one is
 * logged with its place in the binding's single event order (observation `exact`).
 */
export class LoggedDmaSpace implements DmaSpace {
  readonly observation: DmaObservation = 'exact';
  private readonly memory = new SparseGuestMemory();
  private log: DmaAccess[] = [];
  /** The function's side: what the device model reads and writes through. */
  readonly device: DmaBackend;

  constructor(clock: Pick<EventClock, 'next'>) {
    this.device = {
      read: (addr, len) => {
        this.record({ seq: clock.next(), kind: 'read', addr, len });
        return this.memory.read(addr, len);
      },
      write: (addr, data) => {
        this.record({ seq: clock.next(), kind: 'write', addr, len: data.length });
        this.memory.write(addr, data);
      },
    };
  }

  private record(a: DmaAccess): void {
    if (this.log.length >= ACCESS_LOG_LIMIT) this.log = this.log.slice(ACCESS_LOG_LIMIT / 2);
    this.log.push(a);
  }

  get pageSize(): number {
    return this.memory.pageSize;
  }

  alloc(size: number, align?: number): bigint {
    return this.memory.alloc(size, align);
  }

  read(addr: bigint, len: number): Uint8Array {
    return this.memory.read(addr, len);
  }

  write(addr: bigint, data: Uint8Array): void {
    this.memory.write(addr, data);
  }

  pages(): bigint[] {
    return this.memory.pages();
  }

  takeAccessLog(): DmaAccess[] {
    const l = this.log;
    this.log = [];
    return l;
  }
}
