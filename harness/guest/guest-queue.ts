import type { GuestMemory } from '../../protocol/guest-memory.ts';
import { AvailOff, availRingSize, descTableSize, encodeDesc, UsedOff, usedRingSize, USED_ELEM_SIZE, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_SIZE, VirtqDescFlags } from '../../protocol/split-ring.ts';
import type { GuestArena } from './guest-arena.ts';

/** One buffer the driver hands to the device: bytes the device reads, or a length the device may write. */
export type GuestBuffer = { out: Uint8Array } | { in: number };

/** A request made available and not yet returned by the device. */
export interface PostedRequest {
  head: number;
  /** Guest addresses and lengths of the chain's buffers, in chain order. */
  buffers: { addr: bigint; len: number; writable: boolean }[];
  /** Caller's tag, to match completions (e.g. a sequence number of the workload). */
  tag: number;
}

export interface Completion {
  request: PostedRequest;
  /** Used length the device reported. */
  len: number;
}

/**
 * The driver side of one split virtqueue (virtio 1.3 split-ring.tex), in the member's guest memory.
 * It keeps the driver's own indexes as plain data, so a driver can move from a source member to a
 * destination member after migration and carry on where it was.
 */
export class GuestQueue {
  readonly desc: bigint;
  readonly driver: bigint;
  readonly device: bigint;
  private freeHeads: number[] = [];
  availIdx = 0;
  lastUsedIdx = 0;
  readonly outstanding = new Map<number, PostedRequest>();

  constructor(
    readonly index: number,
    readonly size: number,
    arena: GuestArena,
  ) {
    this.desc = arena.alloc(descTableSize(size), 16);
    this.driver = arena.alloc(availRingSize(size), 2);
    this.device = arena.alloc(usedRingSize(size), 4);
    for (let i = 0; i < size; i++) this.freeHeads.push(i);
  }

  get freeCount(): number {
    return this.freeHeads.length;
  }

  /** Writes the chain's descriptors and buffers and publishes it in the available ring (no kick). */
  post(mem: GuestMemory, arena: GuestArena, buffers: GuestBuffer[], tag = 0): PostedRequest {
    if (buffers.length === 0) throw new RangeError('a request needs at least one buffer');
    if (buffers.length > this.freeHeads.length) throw new RangeError(`queue ${this.index} has ${this.freeHeads.length} free descriptors, ${buffers.length} needed`);
    const ids = this.freeHeads.splice(0, buffers.length);
    const req: PostedRequest = { head: ids[0], buffers: [], tag };
    buffers.forEach((b, i) => {
      const writable = 'in' in b;
      const len = writable ? b.in : b.out.length;
      const addr = arena.buffer(Math.max(len, 1));
      if (!writable) mem.write(addr, b.out);
      req.buffers.push({ addr, len, writable });
      const last = i === buffers.length - 1;
      mem.write(
        this.desc + BigInt(ids[i] * VIRTQ_DESC_SIZE),
        encodeDesc({ addr, len, flags: (writable ? VirtqDescFlags.WRITE : 0) | (last ? 0 : VirtqDescFlags.NEXT), next: last ? 0 : ids[i + 1] }),
      );
    });
    this.outstanding.set(req.head, req);
    this.chainIds.set(req.head, ids);
    const slot = this.availIdx % this.size;
    mem.write(this.driver + BigInt(AvailOff.RING + 2 * slot), u16(req.head));
    this.availIdx = (this.availIdx + 1) & 0xffff;
    mem.write(this.driver + BigInt(AvailOff.IDX), u16(this.availIdx));
    return req;
  }

  private readonly chainIds = new Map<number, number[]>();

  /** Returns what the device has put in the used ring since the last call, freeing their descriptors. */
  reap(mem: GuestMemory): Completion[] {
    const usedIdx = readU16(mem, this.device + BigInt(UsedOff.IDX));
    const out: Completion[] = [];
    while (this.lastUsedIdx !== usedIdx) {
      const slot = this.lastUsedIdx % this.size;
      const e = new DataView(mem.read(this.device + BigInt(UsedOff.RING + USED_ELEM_SIZE * slot), USED_ELEM_SIZE).buffer);
      const head = e.getUint32(0, true);
      const len = e.getUint32(4, true);
      const req = this.outstanding.get(head);
      if (!req) throw new UsedRingError(`queue ${this.index}: used ring returned descriptor ${head}, which the driver had not made available`);
      this.outstanding.delete(head);
      this.freeHeads.push(...(this.chainIds.get(head) ?? [head]));
      this.chainIds.delete(head);
      out.push({ request: req, len });
      this.lastUsedIdx = (this.lastUsedIdx + 1) & 0xffff;
    }
    return out;
  }

  /** Sets or clears VIRTQ_AVAIL_F_NO_INTERRUPT. */
  suppressInterrupts(mem: GuestMemory, on: boolean): void {
    mem.write(this.driver + BigInt(AvailOff.FLAGS), u16(on ? VIRTQ_AVAIL_F_NO_INTERRUPT : 0));
  }
}

/** The device broke the used-ring contract (returned an unknown or already-returned descriptor). */
export class UsedRingError extends Error {
  override name = 'UsedRingError';
}

function u16(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff);
}

function readU16(mem: GuestMemory, addr: bigint): number {
  const b = mem.read(addr, 2);
  return b[0] | (b[1] << 8);
}
