import { READABLE_HEADER_SIZE, WRITABLE_HEADER_SIZE } from '../../protocol/admin-frame.ts';
import type { AdminFrame, AdminFrameCompletion } from '../../protocol/admin-transport.ts';
import type { DmaSpace } from '../../protocol/dma-space.ts';
import type { IrqSource } from '../../protocol/irq-source.ts';
import { CommonCfg, VIRTIO_MSI_NO_VECTOR } from '../../protocol/pci-common-cfg.ts';
import type { PciFunction } from '../../protocol/pci-function.ts';
import { isPowerOfTwo } from '../../protocol/split-ring.ts';
import { TransportAbortedError, TransportClosedError, TransportTimeoutError } from '../../protocol/transport-errors.ts';
import type { VirtioPciLayout } from './capabilities.ts';
import type { CommonConfig } from './common-cfg.ts';
import { DmaPool, type DmaBuffer } from './dma-pool.ts';
import { VirtioPciError } from './errors.ts';
import { enableMsix, unmaskVector } from './msix.ts';
import { pause, pollUntil } from '../shared/poll.ts';
import { type ChainSegment, type PostedChain, SplitRing } from './split-ring.ts';

/** Largest ring the driver asks for: commands are sent one or a few at a time, 4 descriptors each. */
const MAX_RING = 256;
/** The MSI-X vector the admin queue uses when the host delivers interrupts as events. */
const ADMIN_VECTOR = 0;
/** With interrupts, the used ring is still read at least this often (a lost or suppressed message costs no more). */
const IRQ_BACKSTOP_MS = 20;

/** A command waiting for its chain to come back. */
interface Waiter {
  readable: DmaBuffer;
  writable: DmaBuffer;
  writableLength: number;
  resolve(c: AdminFrameCompletion): void;
  reject(e: unknown): void;
}

export interface AdminQueueContext {
  fn: PciFunction;
  common: CommonConfig;
  layout: VirtioPciLayout;
  dma: DmaSpace;
  irq: IrqSource;
  /** admin_queue_index: the queue this driver uses (the first admin queue). */
  index: number;
}

/**
 * The owner's administration virtqueue (virtio 1.3 2.12, transport-pci admin_queue_index): a split
 * ring in the PF's DMA space, one descriptor chain per command (device-readable header and data,
 * then device-writable status and result), the available-buffer notification at the queue's notify
 * address, completion found on the used ring (woken by MSI-X where the host delivers it, else
 * polled), a deadline per command. A command that times out leaves its chain with the device: its
 * descriptors and buffers stay out of use until the queue is reset. A used ring that breaks the
 * contract makes the queue unusable (every later command fails with that error) until it is reset.
 */
export class AdminQueue {
  private ring: SplitRing<Waiter> | undefined;
  private readonly pool: DmaPool;
  private notifyAt = 0;
  private vector: number | undefined;
  private readonly waiters = new Set<Waiter>();
  private reaping = false;
  private brokenBy: unknown;
  private closed = false;

  constructor(private readonly ctx: AdminQueueContext) {
    this.pool = new DmaPool(ctx.dma);
  }

  get name(): string {
    return `admin queue ${this.ctx.index} of ${this.ctx.fn.address}`;
  }

  /** Whether completions are signalled by MSI-X (false: the used ring is polled). */
  get interruptDriven(): boolean {
    return this.vector !== undefined;
  }

  get size(): number {
    return this.ring?.size ?? 0;
  }

  /**
   * Programs the queue registers (queue_select = admin_queue_index, size, ring addresses, MSI-X vector
   * read back, notify offset) and enables it. Called during initialization, before DRIVER_OK, and again
   * after every queue or device reset.
   */
  async program(): Promise<void> {
    const { common, fn, layout, index } = this.ctx;
    await common.write(CommonCfg.QUEUE_SELECT, index);
    const max = await common.read(CommonCfg.QUEUE_SIZE);
    if (max === 0) throw new VirtioPciError(fn.address, `admin queue ${index} is not available: queue_size reads 0`);
    if (!this.ring) {
      let size = Math.min(max, MAX_RING);
      while (!isPowerOfTwo(size)) size &= size - 1; // a split ring's size is a power of 2
      this.ring = new SplitRing<Waiter>(this.ctx.dma, size, this.name);
    } else if (this.ring.size > max) {
      throw new VirtioPciError(fn.address, `admin queue ${index}: queue_size now reads ${max}, below the ${this.ring.size} entries set up before the reset`);
    }
    const ring = this.ring;
    await common.write(CommonCfg.QUEUE_SIZE, ring.size);
    const size = await common.read(CommonCfg.QUEUE_SIZE);
    if (size !== ring.size) throw new VirtioPciError(fn.address, `admin queue ${index}: queue_size reads ${size} after ${ring.size} was written (the device offered ${max})`);
    await common.write64(CommonCfg.QUEUE_DESC, ring.desc);
    await common.write64(CommonCfg.QUEUE_DRIVER, ring.avail);
    await common.write64(CommonCfg.QUEUE_DEVICE, ring.used);
    this.vector = await this.assignVector();
    ring.setNoInterrupt(this.vector === undefined);
    const off = await common.read(CommonCfg.QUEUE_NOTIFY_OFF);
    const rel = off * layout.notify.multiplier;
    if (rel + 2 > layout.notify.length) {
      throw new VirtioPciError(fn.address, `admin queue ${index}: queue_notify_off ${off} x notify_off_multiplier ${layout.notify.multiplier} lies outside the ${layout.notify.length}-byte notify structure`);
    }
    this.notifyAt = layout.notify.offset + rel;
    await common.write(CommonCfg.QUEUE_ENABLE, 1);
    if ((await common.read(CommonCfg.QUEUE_ENABLE)) !== 1) throw new VirtioPciError(fn.address, `admin queue ${index}: queue_enable does not read 1 after 1 was written`);
    this.brokenBy = undefined;
  }

  /** MSI-X vector for the queue when the host delivers interrupts as events; read back (0xFFFF: the mapping failed, poll instead). */
  private async assignVector(): Promise<number | undefined> {
    const { common, fn, layout, irq } = this.ctx;
    if (irq.delivery !== 'events' || !layout.msix) {
      await common.write(CommonCfg.QUEUE_MSIX_VECTOR, VIRTIO_MSI_NO_VECTOR);
      return undefined;
    }
    await enableMsix(fn, layout.msix);
    await unmaskVector(fn, layout.msix, ADMIN_VECTOR);
    await common.write(CommonCfg.QUEUE_MSIX_VECTOR, ADMIN_VECTOR);
    return (await common.read(CommonCfg.QUEUE_MSIX_VECTOR)) === ADMIN_VECTOR ? ADMIN_VECTOR : undefined;
  }

  /** Sends one frame as one descriptor chain and resolves with what the device wrote and the used length. */
  async submit(frame: AdminFrame, label: string, timeoutMs: number, signal?: AbortSignal): Promise<AdminFrameCompletion> {
    if (this.closed) throw new TransportClosedError(`${this.name} is closed`);
    if (this.brokenBy !== undefined) throw this.brokenBy;
    const ring = this.ring;
    if (!ring) throw new VirtioPciError(this.ctx.fn.address, `${this.name} is not set up`);
    if (signal?.aborted) throw new TransportAbortedError(`${label} aborted`);
    const rl = frame.readable.length;
    const wl = frame.writableLength;
    if (rl + wl === 0) throw new RangeError('an admin command needs a device-readable or a device-writable part');
    const mem = this.ctx.dma;
    const readable = this.pool.alloc(rl);
    const writable = this.pool.alloc(wl);
    if (rl) mem.write(readable.addr, frame.readable);
    if (wl) mem.write(writable.addr, zeros(wl)); // bytes the device does not write read as 0
    const segments: ChainSegment[] = [];
    split(segments, readable.addr, rl, READABLE_HEADER_SIZE, false);
    split(segments, writable.addr, wl, WRITABLE_HEADER_SIZE, true);

    let settle!: { resolve: (c: AdminFrameCompletion) => void; reject: (e: unknown) => void };
    const done = new Promise<AdminFrameCompletion>((resolve, reject) => (settle = { resolve, reject }));
    const w: Waiter = { readable, writable, writableLength: wl, ...settle };
    const chain = ring.add(segments, label, w);
    if (!chain) {
      this.pool.release(readable);
      this.pool.release(writable);
      const held = ring.quarantinedCount;
      if (held) throw new TransportTimeoutError(`${label} (not sent: ${held} chain(s) of commands that timed out hold the ${this.name}'s descriptors until it is reset)`, timeoutMs);
      throw new VirtioPciError(this.ctx.fn.address, `${this.name} has no free descriptors for ${label}`);
    }
    this.waiters.add(w);
    ring.publish(chain);
    try {
      await this.ctx.fn.barWrite(this.ctx.layout.notify.bar, this.notifyAt, 2, this.ctx.index);
    } catch (e) {
      // The notify never reached the device (the function is gone): the chain stays with it, unused.
      this.waiters.delete(w);
      ring.quarantine(chain);
      throw e;
    }
    this.startReaping();
    return withDeadline(done, chain, this.waiters, ring, timeoutMs, signal);
  }

  private startReaping(): void {
    if (this.reaping) return;
    this.reaping = true;
    this.reapLoop()
      .catch((e: unknown) => {
        // The host failed under us (a closed binding): every waiting command gets that error.
        for (const w of this.waiters) w.reject(e);
        this.waiters.clear();
      })
      .finally(() => {
        this.reaping = false;
      });
  }

  private async reapLoop(): Promise<void> {
    for (let i = 0; this.waiters.size > 0 && !this.closed; i++) {
      this.drain();
      if (!this.waiters.size) return;
      if (this.vector !== undefined) {
        await this.ctx.irq.wait(IRQ_BACKSTOP_MS);
        this.ctx.irq.take();
      } else await pause(i < 64 ? 0 : 1);
    }
  }

  /** Hands every returned chain to its command; a used-ring breach then fails every waiting command and the queue. */
  private drain(): void {
    const { used, error } = this.ring!.reap();
    for (const u of used) {
      if (u.chain.quarantined) continue; // a late completion: its buffers stay out of use until the reset
      const w = u.chain.owner;
      const writable = w.writableLength ? this.ctx.dma.read(w.writable.addr, w.writableLength) : new Uint8Array(0);
      this.pool.release(w.readable);
      this.pool.release(w.writable);
      this.waiters.delete(w);
      w.resolve({ writable, usedLength: u.len });
    }
    if (error) {
      this.brokenBy = error;
      for (const w of this.waiters) w.reject(error);
      this.waiters.clear();
    }
  }

  /**
   * Per-queue reset (VIRTIO_F_RING_RESET: write 1 to queue_reset, wait until it reads 0), then the
   * queue is programmed again. False when the device did not finish the reset within `timeoutMs`
   * (the caller resets the whole device instead).
   */
  async resetQueue(timeoutMs: number): Promise<boolean> {
    const { common, index } = this.ctx;
    await common.write(CommonCfg.QUEUE_SELECT, index);
    await common.write(CommonCfg.QUEUE_RESET, 1);
    const ok = await pollUntil(async () => (await common.read(CommonCfg.QUEUE_RESET)) === 0, timeoutMs);
    if (!ok) return false;
    this.forget(new TransportAbortedError(`${this.name} was reset`));
    await this.program();
    return true;
  }

  /** After the device was reset (the queue is no longer live): every chain is forgotten and its buffers taken back. */
  forget(reason: unknown): void {
    for (const w of this.waiters) w.reject(reason);
    this.waiters.clear();
    for (const c of this.ring?.reset() ?? []) {
      this.pool.release(c.owner.readable);
      this.pool.release(c.owner.writable);
    }
    this.brokenBy = undefined;
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters) w.reject(new TransportClosedError(`${this.name} was closed`));
    this.waiters.clear();
  }
}

let zeroBuf = new Uint8Array(4096);

/** `n` zero bytes, from one buffer kept for the purpose (DMA writes copy what they are given). */
function zeros(n: number): Uint8Array {
  if (n > zeroBuf.length) zeroBuf = new Uint8Array(n);
  return zeroBuf.subarray(0, n);
}

/** One part of the frame as up to two descriptors: the fixed header, then the rest (as Linux lays out an admin command). */
function split(out: ChainSegment[], addr: bigint, len: number, header: number, writable: boolean): void {
  if (len === 0) return;
  const first = Math.min(len, header);
  out.push({ addr, len: first, writable });
  if (len > first) out.push({ addr: addr + BigInt(first), len: len - first, writable });
}

/**
 * The command's answer, or TransportTimeoutError / TransportAbortedError. A command given up on keeps
 * its chain with the device (quarantined), so a late completion never lands in a reused buffer.
 */
function withDeadline(
  done: Promise<AdminFrameCompletion>,
  chain: PostedChain<Waiter>,
  waiters: Set<Waiter>,
  ring: SplitRing<Waiter>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<AdminFrameCompletion> {
  return new Promise((resolve, reject) => {
    const w = chain.owner;
    const giveUp = (e: Error) => {
      if (!waiters.delete(w)) return;
      ring.quarantine(chain);
      w.reject(e);
    };
    const timer = setTimeout(() => giveUp(new TransportTimeoutError(chain.label, timeoutMs)), timeoutMs);
    const onAbort = () => giveUp(new TransportAbortedError(`${chain.label} aborted`));
    signal?.addEventListener('abort', onAbort, { once: true });
    done.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  });
}
