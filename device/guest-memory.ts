import type { GuestMemory } from '../protocol/guest-memory.ts';

const PAGE = 4096;
const PAGE_BITS = 12n;

/**
 * A sparse guest-physical address space backed by 4 KiB pages, allocated upward from `base`
 * (above 4 GiB by default, so 64-bit addresses are exercised). Unallocated pages read as zero.
 */
export class SparseGuestMemory implements GuestMemory {
  readonly pageSize = PAGE;
  private readonly pageMap = new Map<bigint, Uint8Array>();
  private next: bigint;

  constructor(readonly base = 0x1_0000_0000n) {
    this.next = base;
  }

  alloc(size: number, align = 16): bigint {
    const a = BigInt(Math.max(align, 1));
    const addr = ((this.next + a - 1n) / a) * a;
    this.next = addr + BigInt(Math.max(size, 1));
    for (let p = addr >> PAGE_BITS; p <= (this.next - 1n) >> PAGE_BITS; p++) this.page(p);
    return addr;
  }

  pages(): bigint[] {
    return [...this.pageMap.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((p) => p << PAGE_BITS);
  }

  private page(p: bigint): Uint8Array {
    let pg = this.pageMap.get(p);
    if (!pg) {
      pg = new Uint8Array(PAGE);
      this.pageMap.set(p, pg);
    }
    return pg;
  }

  read(addr: bigint, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = addr + BigInt(done);
      const off = Number(a & 0xfffn);
      const n = Math.min(PAGE - off, len - done);
      const pg = this.pageMap.get(a >> PAGE_BITS);
      if (pg) out.set(pg.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  write(addr: bigint, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const a = addr + BigInt(done);
      const off = Number(a & 0xfffn);
      const n = Math.min(PAGE - off, data.length - done);
      this.page(a >> PAGE_BITS).set(data.subarray(done, done + n), off);
      done += n;
    }
  }

  /** Small reads on the hot path (ring indexes) without allocating. */
  readU16(addr: bigint): number {
    const pg = this.pageMap.get(addr >> PAGE_BITS);
    if (!pg) return 0;
    const off = Number(addr & 0xfffn);
    if (off + 2 <= PAGE) return pg[off] | (pg[off + 1] << 8);
    const b = this.read(addr, 2);
    return b[0] | (b[1] << 8);
  }
}
