import type { GuestMemory } from '../../protocol/guest-memory.ts';
import { AvailOff, availRingSize, descTableSize, encodeDesc, UsedOff, usedRingSize, USED_ELEM_SIZE, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_SIZE, VirtqDescFlags } from '../../protocol/split-ring.ts';
import { UsedRingError } from './errors.ts';

/** One buffer of a chain: device-readable or device-writable. */
export interface ChainSegment {
  addr: bigint;
  len: number;
  writable: boolean;
}

/** A chain the driver made available, until the device returns it (or the queue is reset). */
export interface PostedChain<T> {
  head: number;
  ids: number[];
  /** Sum of the device-writable lengths: the largest used length the device may report. */
  writableLen: number;
  /** What the chain is, for messages ("DEV_MODE_GET"). */
  label: string;
  owner: T;
  /** Given up on by the driver (its command timed out): kept out of use until the queue is reset. */
  quarantined: boolean;
  /** A quarantined chain the device did return after all. */
  lateCompleted: boolean;
}

export interface UsedChain<T> {
  chain: PostedChain<T>;
  len: number;
}

function u16(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff);
}

/**
 * The driver side of one split virtqueue (virtio 1.3 2.7) in DMA memory: descriptor table, available
 * ring and used ring, a free list of descriptors, and a used-ring reader that holds the device to the
 * contract (every id returned was made available and is returned once, its length fits the chain's
 * writable buffers, the used index never runs more than a ring ahead).
 */
export class SplitRing<T> {
  readonly desc: bigint;
  readonly avail: bigint;
  readonly used: bigint;
  private freeIds: number[] = [];
  private availIdx = 0;
  private lastUsed = 0;
  private readonly chains = new Map<number, PostedChain<T>>();
  /** Heads returned and not made available again since: a second return of one is "completed twice". */
  private readonly returned = new Map<number, string>();

  constructor(
    private readonly mem: GuestMemory,
    readonly size: number,
    /** "admin queue 1 of 0000:3b:00.0", for messages. */
    readonly name: string,
  ) {
    this.desc = mem.alloc(descTableSize(size), 16);
    this.avail = mem.alloc(availRingSize(size), 4);
    this.used = mem.alloc(usedRingSize(size), 4);
    this.reset();
  }

  /**
   * Forgets every chain and zeroes the rings (after a queue or device reset; never while the device
   * may use them). Returns the chains it forgot, so their buffers can be taken back.
   */
  reset(): PostedChain<T>[] {
    const forgotten = [...this.chains.values()];
    this.mem.write(this.desc, new Uint8Array(descTableSize(this.size)));
    this.mem.write(this.avail, new Uint8Array(availRingSize(this.size)));
    this.mem.write(this.used, new Uint8Array(usedRingSize(this.size)));
    this.freeIds = Array.from({ length: this.size }, (_, i) => i);
    this.availIdx = 0;
    this.lastUsed = 0;
    this.chains.clear();
    this.returned.clear();
    return forgotten;
  }

  get freeCount(): number {
    return this.freeIds.length;
  }

  get quarantinedCount(): number {
    let n = 0;
    for (const c of this.chains.values()) if (c.quarantined) n++;
    return n;
  }

  /** VIRTQ_AVAIL_F_NO_INTERRUPT: asks the device not to interrupt (a polling driver). */
  setNoInterrupt(on: boolean): void {
    this.mem.write(this.avail + BigInt(AvailOff.FLAGS), u16(on ? VIRTQ_AVAIL_F_NO_INTERRUPT : 0));
  }

  /** Writes the chain's descriptors (readable segments first, as the caller orders them) and returns its head; undefined when too few descriptors are free. */
  add(segments: readonly ChainSegment[], label: string, owner: T): PostedChain<T> | undefined {
    if (segments.length === 0 || segments.length > this.freeIds.length) return undefined;
    const ids = this.freeIds.splice(0, segments.length);
    let writableLen = 0;
    segments.forEach((s, i) => {
      const last = i === segments.length - 1;
      if (s.writable) writableLen += s.len;
      const flags = (s.writable ? VirtqDescFlags.WRITE : 0) | (last ? 0 : VirtqDescFlags.NEXT);
      this.mem.write(this.desc + BigInt(ids[i] * VIRTQ_DESC_SIZE), encodeDesc({ addr: s.addr, len: s.len, flags, next: last ? 0 : ids[i + 1] }));
    });
    const chain: PostedChain<T> = { head: ids[0], ids, writableLen, label, owner, quarantined: false, lateCompleted: false };
    this.chains.set(chain.head, chain);
    this.returned.delete(chain.head);
    return chain;
  }

  /** Puts the head in the available ring, then publishes the new available index. */
  publish(chain: PostedChain<T>): void {
    const slot = this.availIdx % this.size;
    this.mem.write(this.avail + BigInt(AvailOff.RING + 2 * slot), u16(chain.head));
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.mem.write(this.avail + BigInt(AvailOff.IDX), u16(this.availIdx));
  }

  quarantine(chain: PostedChain<T>): void {
    chain.quarantined = true;
  }

  /** Whether the device has returned anything not yet reaped. */
  pending(): boolean {
    return this.readUsedIdx() !== this.lastUsed;
  }

  private readUsedIdx(): number {
    const b = this.mem.read(this.used + BigInt(UsedOff.IDX), 2);
    return b[0] | (b[1] << 8);
  }

  /**
   * Everything the device has returned since the last call, in order, up to the first entry that
   * breaks the contract: that one is given as `error` (a UsedRingError) and is not consumed.
   */
  reap(): { used: UsedChain<T>[]; error?: UsedRingError } {
    const used: UsedChain<T>[] = [];
    const usedIdx = this.readUsedIdx();
    const ahead = (usedIdx - this.lastUsed) & 0xffff;
    if (ahead > this.size) {
      return { used, error: new UsedRingError(this.name, UsedOff.IDX, `used idx moved from ${this.lastUsed} to ${usedIdx}: ${ahead} entries, more than the ${this.size} the ring holds`) };
    }
    while (this.lastUsed !== usedIdx) {
      const at = UsedOff.RING + USED_ELEM_SIZE * (this.lastUsed % this.size);
      const e = this.mem.read(this.used + BigInt(at), USED_ELEM_SIZE);
      const id = (e[0] | (e[1] << 8) | (e[2] << 16) | (e[3] << 24)) >>> 0;
      const len = (e[4] | (e[5] << 8) | (e[6] << 16) | (e[7] << 24)) >>> 0;
      const checked = this.check(at, id, len);
      if (checked instanceof UsedRingError) return { used, error: checked };
      const chain = checked;
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
      if (chain.quarantined) {
        chain.lateCompleted = true; // descriptors stay out of use until the queue is reset
      } else {
        this.chains.delete(id);
        this.freeIds.push(...chain.ids);
      }
      this.returned.set(id, chain.label);
      used.push({ chain, len });
    }
    return { used };
  }

  private check(at: number, id: number, len: number): PostedChain<T> | UsedRingError {
    if (id >= this.size) return new UsedRingError(this.name, at, `used id ${id} is not a descriptor of this ${this.size}-entry queue (the driver never made it available)`);
    const chain = this.chains.get(id);
    const again = this.returned.get(id);
    if (!chain || chain.lateCompleted) {
      if (again !== undefined) return new UsedRingError(this.name, at, `the device returned chain ${id} (${again}) a second time`);
      return new UsedRingError(this.name, at, `used id ${id} names a chain the driver never made available`);
    }
    if (len > chain.writableLen) {
      return new UsedRingError(this.name, at + 4, `used length ${len} for chain ${id} (${chain.label}) exceeds its ${chain.writableLen}-byte device-writable part`);
    }
    return chain;
  }
}
