import type { MemberDma } from '../dma.ts';
import { BadChainError, type ChainBuffer, type SplitVirtqueue } from '../virtqueue.ts';
import type { DeviceScheduler } from './scheduler.ts';

/**
 * The device's buffer limit: a device-readable part longer than this is a device error (it is far past
 * any command's structure, e.g. a garbage length); a device-writable part is used up to this size (the
 * device writes no more, and says so in the used length).
 */
export const MAX_CHAIN_BYTES = 1024 * 1024;

/** What the engine needs of the function it runs in. */
export interface AdminQueueHost {
  /** The function's bus-master port into driver memory (rings and buffers). */
  readonly dma: MemberDma;
  readonly scheduler: DeviceScheduler;
  /** Whether the function may master the bus now (Bus Master Enable, D0, DRIVER_OK, no reset running). */
  canDma(): boolean;
  /** Resolves at the function's next state change (a config or status write, a reset). */
  changed(): Promise<void>;
  /** One command: ReferenceDevice.submit. */
  submit(readable: Uint8Array, writableLength: number): Promise<{ writable: Uint8Array; usedLength: number }>;
  /** A used-buffer notification for queue `q` (MSI-X vector or ISR bit 0 and INTx). */
  usedBufferNotification(q: SplitVirtqueue): void;
  /** The device cannot go on (a malformed chain): DEVICE_NEEDS_RESET and a configuration change notification. */
  needsReset(reason: string): void;
}

/**
 * The device side of the owner's admin virtqueues. A notification schedules a walk of the queue after
 * the device latency; the walk reads the available ring, and for each new head walks the descriptor
 * chain (device-readable descriptors first, then device-writable), gathers the readable bytes, hands
 * them to the reference device, scatters the writable result, writes the used element (id, len) and
 * used idx, and notifies unless the driver set VIRTQ_AVAIL_F_NO_INTERRUPT. Commands of one queue run one
 * at a time in queue order (VD7); queues are walked independently (VD8).
 *
 * A chain the device cannot use (a loop or more descriptors than the queue size, an index outside the
 * queue, a device-readable descriptor after a device-writable one, an indirect descriptor, a readable
 * part over MAX_CHAIN_BYTES) is handled as QEMU and most hardware do: the device sets
 * DEVICE_NEEDS_RESET, sends a configuration change notification, and processes nothing more on any
 * admin queue until it is reset. Nothing is written to the used ring for that chain.
 *
 * A reset (device status 0, FLR) starts a new generation: work of the old one, including a command the
 * reference device is still executing, stops without touching driver memory again.
 */
export class AdminQueueEngine {
  private generation = 0;
  private broken = false;
  /** Queue index -> generation of the walk in progress. */
  private readonly walking = new Map<number, number>();
  private readonly again = new Set<number>();
  /** Heads taken from the available ring and not yet completed, by queue (what the driver has outstanding). */
  readonly outstanding = new Map<number, Set<number>>();

  constructor(private readonly host: AdminQueueHost) {}

  /** An available-buffer notification for admin queue `q`. */
  notify(q: SplitVirtqueue): void {
    if (this.broken) return;
    const gen = this.generation;
    if (this.walking.get(q.index) === gen) {
      this.again.add(q.index);
      return;
    }
    this.walking.set(q.index, gen);
    this.host.scheduler.after(() =>
      this.walk(q, gen)
        .catch((e) => this.fail(gen, `admin queue ${q.index}: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => {
          if (this.walking.get(q.index) === gen) this.walking.delete(q.index);
        }),
    );
  }

  /** Device reset or FLR: everything in progress is dropped. */
  reset(): void {
    this.generation++;
    this.broken = false;
    this.walking.clear();
    this.again.clear();
    this.outstanding.clear();
  }

  private fail(gen: number, reason: string): void {
    if (gen !== this.generation || this.broken) return;
    this.broken = true;
    this.host.needsReset(reason);
  }

  /** Waits until the function may master the bus; false when the walk is stale (reset, broken, queue gone). */
  private async live(gen: number, q: SplitVirtqueue): Promise<boolean> {
    const stale = () => gen !== this.generation || this.broken || !q.enabled;
    while (!stale() && !this.host.canDma()) await this.host.changed();
    return !stale();
  }

  private async walk(q: SplitVirtqueue, gen: number): Promise<void> {
    do {
      this.again.delete(q.index);
      for (;;) {
        if (!(await this.live(gen, q))) return;
        const heads = await q.fetchAvailable(this.host.dma);
        if (!heads.length) break;
        const taken = this.outstanding.get(q.index) ?? new Set<number>();
        this.outstanding.set(q.index, taken);
        for (const h of heads) taken.add(h);
        for (const head of heads) {
          if (!(await this.live(gen, q))) return;
          if (!(await this.serve(q, head, gen))) return;
          taken.delete(head);
        }
      }
    } while (this.again.has(q.index) && gen === this.generation);
  }

  /** One chain, start to finish; false when the walk must stop. */
  private async serve(q: SplitVirtqueue, head: number, gen: number): Promise<boolean> {
    let chain;
    try {
      chain = await q.readChain(this.host.dma, head);
    } catch (e) {
      if (!(e instanceof BadChainError)) throw e;
      this.fail(gen, `admin queue ${q.index}, chain at descriptor ${head}: ${e.message}`);
      return false;
    }
    const readableBytes = total(chain.readable);
    if (readableBytes > MAX_CHAIN_BYTES) {
      this.fail(gen, `admin queue ${q.index}, chain at descriptor ${head}: ${readableBytes} device-readable bytes exceed the device's limit of ${MAX_CHAIN_BYTES}`);
      return false;
    }
    const readable = await this.gather(chain.readable, readableBytes);
    const writableLength = Math.min(total(chain.writable), MAX_CHAIN_BYTES);
    const done = await this.host.submit(readable, writableLength);
    if (!(await this.live(gen, q))) return false;
    await this.scatter(chain.writable, done.writable, done.usedLength);
    await this.complete(q, head, done.usedLength, writableLength);
    return true;
  }

  private async gather(bufs: ChainBuffer[], length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let at = 0;
    for (const b of bufs) {
      if (b.len) out.set(await this.host.dma.read(b.addr, b.len), at);
      at += b.len;
    }
    return out;
  }

  /** Writes the first `usedLength` bytes of the result across the writable buffers, never past their end. */
  private async scatter(bufs: ChainBuffer[], data: Uint8Array, usedLength: number): Promise<void> {
    let at = 0;
    const end = Math.min(usedLength, data.length);
    for (const b of bufs) {
      if (at >= end) break;
      const n = Math.min(b.len, end - at);
      if (n > 0) await this.host.dma.write(b.addr, data.subarray(at, at + n));
      at += n;
    }
  }

  /**
   * Publishes a completion: the used element, then used idx, then the notification unless suppressed.
   * PCI mutants (device/pci/mutants.ts) replace this to report wrong ids or lengths, twice, or never.
   */
  async complete(q: SplitVirtqueue, head: number, usedLength: number, writableLength: number): Promise<void> {
    void writableLength; // what the chain offered; mutants report more
    await q.pushUsed(this.host.dma, head, usedLength);
    if (!(await q.interruptSuppressed(this.host.dma))) this.host.usedBufferNotification(q);
  }
}

function total(bufs: ChainBuffer[]): number {
  let n = 0;
  for (const b of bufs) n += b.len;
  return n;
}
