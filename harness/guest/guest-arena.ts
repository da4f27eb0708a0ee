import type { GuestMemory } from '../../protocol/guest-memory.ts';

/**
 * The guest's own allocator over one region of a member's memory. Rings and buffers come from it,
 * so after migration the destination sees the same addresses once the region has been copied, and
 * the driver goes on allocating where it left off. Buffers are recycled per size class.
 */
export class GuestArena {
  readonly base: bigint;
  private next: bigint;
  readonly end: bigint;
  private readonly free = new Map<number, bigint[]>();

  constructor(
    private readonly memory: GuestMemory,
    readonly size = 4 << 20,
  ) {
    this.base = memory.alloc(size, 4096);
    this.next = this.base;
    this.end = this.base + BigInt(size);
  }

  /**
   * `len` bytes, zeroed as a driver's allocations are (rings start with index 0): the region may hold
   * what a hypervisor copied there for another guest, or what an earlier guest of the member left.
   */
  alloc(len: number, align = 16): bigint {
    const a = BigInt(align);
    const at = ((this.next + a - 1n) / a) * a;
    if (at + BigInt(len) > this.end) throw new RangeError(`guest arena of ${this.size} bytes is full`);
    this.next = at + BigInt(len);
    if (len > 0) this.memory.write(at, new Uint8Array(len));
    return at;
  }

  /** A buffer of a size class, reused after release: keeps long workloads inside the arena. */
  buffer(len: number): bigint {
    const cls = sizeClass(len);
    return this.free.get(cls)?.pop() ?? this.alloc(cls, 16);
  }

  release(addr: bigint, len: number): void {
    const cls = sizeClass(len);
    const list = this.free.get(cls) ?? [];
    list.push(addr);
    this.free.set(cls, list);
  }

  /** Page addresses of the region in use so far (what a hypervisor copies when it migrates the guest). */
  pages(pageSize = 4096): bigint[] {
    const out: bigint[] = [];
    const p = BigInt(pageSize);
    for (let a = this.base; a < this.next; a += p) out.push(a);
    return out;
  }
}

function sizeClass(len: number): number {
  let c = 16;
  while (c < len) c *= 2;
  return c;
}
