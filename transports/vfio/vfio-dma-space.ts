import type { DmaObservation, DmaSpace } from '../../protocol/dma-space.ts';
import type { DmaAccess } from '../../protocol/guest-memory.ts';
import type { IommuContext } from './iommu/iommu-context.ts';
import { MAP_ANONYMOUS, MAP_POPULATE, MAP_SHARED, type MappedMemory, PROT_READ, PROT_WRITE, type Syscalls } from './sys/syscalls.ts';

const CHUNK = 2 * 1024 * 1024;
/** IOVAs start above 4 GiB (64-bit addresses exercised, the x86 MSI window far away). */
const IOVA_BASE = 0x1_0000_0000n;
/** The byte canary memory holds while the device must not write it (unallocated tails of chunks). */
export const CANARY = 0xa5;

interface Chunk {
  iova: bigint;
  mem: MappedMemory;
  /** Bytes handed out from the start of the chunk. */
  used: number;
  mapped: boolean;
}

/** A device access the transport found: the address, the length, and how it was seen. */
export interface ObservedAccess extends DmaAccess {
  /** canary: a change of memory; iommu-fault: a fault the kernel logged; aer: a non-fatal error in the function's AER status (address unknown). */
  observedBy: 'canary' | 'iommu-fault' | 'aer';
}

/**
 * DMA memory of one function on a VFIO host: shared anonymous memory mapped through the IOMMU at
 * IOVAs of its own, 2 MiB at a time. A card cannot log its DMA, so the space offers what the host can
 * see instead:
 * - no-access windows: `revoke()` removes every mapping from the IOMMU (a device access then faults,
 *   and shows in the kernel log and AER status); `restore()` maps it all back, before the device may
 *   use it again;
 * - no-write windows: `armCanary()` fills the unallocated memory with a canary and snapshots the rest;
 *   `canaryWrites()` reports every byte run the device changed (the driver's own writes are not
 *   counted: they go through write()).
 */
export class VfioDmaSpace implements DmaSpace {
  readonly pageSize = 4096;
  readonly observation: DmaObservation;
  private readonly chunks: Chunk[] = [];
  private shadow?: Map<Chunk, Uint8Array>;
  private revoked = false;
  private nextIova: bigint;
  private readonly found: ObservedAccess[] = [];

  constructor(
    private readonly sys: Syscalls,
    private readonly iommu: IommuContext,
    readonly label: string,
    /** Where this space's IOVAs begin (spaces of one IOMMU context must not overlap). */
    iovaBase = IOVA_BASE,
    /** What the host saw of the device's accesses since the last call (faults, AER), pulled by takeAccessLog(). */
    private readonly observe: () => ObservedAccess[] = () => [],
  ) {
    this.nextIova = iovaBase;
    this.observation = 'iommu-fault';
  }

  private addChunk(min: number): Chunk {
    const len = Math.ceil(Math.max(min, CHUNK) / CHUNK) * CHUNK;
    const iova = this.placeIova(len);
    const mem = this.sys.mmap(len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    try {
      if (!this.revoked) this.iommu.map(mem, iova);
    } catch (e) {
      this.sys.munmap(mem);
      throw e;
    }
    const c: Chunk = { iova, mem, used: 0, mapped: !this.revoked };
    if (this.shadow) {
      mem.bytes.fill(CANARY);
      this.shadow.set(c, mem.bytes.slice());
    }
    this.chunks.push(c);
    return c;
  }

  /** The next IOVA inside the IOMMU's valid ranges with room for `len`. */
  private placeIova(len: number): bigint {
    const n = BigInt(len);
    for (const r of this.iommu.ranges) {
      const start = this.nextIova > r.start ? this.nextIova : (r.start + 0xfffn) & ~0xfffn;
      if (start + n - 1n <= r.end) {
        this.nextIova = start + n;
        return start;
      }
    }
    throw new Error(`${this.label}: no IOVA range has room for ${len} bytes above 0x${this.nextIova.toString(16)}`);
  }

  alloc(size: number, align = 16): bigint {
    const a = Math.max(align, 1);
    const n = Math.max(size, 1);
    let c = this.chunks.find((x) => Math.ceil(x.used / a) * a + n <= x.mem.length);
    if (!c) c = this.addChunk(n + a);
    const off = Math.ceil(c.used / a) * a;
    c.used = off + n;
    // Zeroed, as the contract says (also over a canary laid while a window is open).
    c.mem.bytes.fill(0, off, off + n);
    this.shadow?.get(c)?.fill(0, off, off + n);
    return c.iova + BigInt(off);
  }

  private locate(addr: bigint, len: number): { c: Chunk; off: number } {
    const c = this.chunks.find((x) => addr >= x.iova && addr + BigInt(len) <= x.iova + BigInt(x.mem.length));
    if (!c) throw new RangeError(`${this.label}: 0x${addr.toString(16)}+${len} is not DMA memory of this function`);
    return { c, off: Number(addr - c.iova) };
  }

  read(addr: bigint, len: number): Uint8Array {
    const { c, off } = this.locate(addr, len);
    return c.mem.bytes.slice(off, off + len);
  }

  write(addr: bigint, data: Uint8Array): void {
    const { c, off } = this.locate(addr, data.length);
    c.mem.bytes.set(data, off);
    this.shadow?.get(c)?.set(data, off);
  }

  pages(): bigint[] {
    const out: bigint[] = [];
    for (const c of this.chunks) for (let o = 0; o < c.used; o += this.pageSize) out.push(c.iova + BigInt(o));
    return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The IOVA extents of this space (for a member's verdict: which addresses are its memory). */
  extents(): { addr: bigint; len: number }[] {
    return this.chunks.map((c) => ({ addr: c.iova, len: c.mem.length }));
  }

  get isRevoked(): boolean {
    return this.revoked;
  }

  /** Removes every mapping of this space from the IOMMU: from now on a device access faults. */
  revoke(): void {
    if (this.revoked) return;
    this.revoked = true;
    for (const c of this.chunks) {
      if (!c.mapped) continue;
      this.iommu.unmap(c.iova, c.mem.length);
      c.mapped = false;
    }
  }

  /** Maps everything back (before the device may use the memory again). */
  restore(): void {
    if (!this.revoked) return;
    for (const c of this.chunks) {
      if (c.mapped) continue;
      this.iommu.map(c.mem, c.iova);
      c.mapped = true;
    }
    this.revoked = false;
  }

  /** Starts a no-write window: the unallocated memory gets the canary, everything is snapshotted. */
  armCanary(): void {
    this.shadow = new Map();
    for (const c of this.chunks) {
      c.mem.bytes.fill(CANARY, c.used);
      this.shadow.set(c, c.mem.bytes.slice());
    }
  }

  /** Ends the window: every run of bytes the device changed since armCanary(), as write accesses. */
  disarmCanary(seq: () => number): ObservedAccess[] {
    const out: ObservedAccess[] = [];
    if (!this.shadow) return out;
    for (const [c, snap] of this.shadow) {
      const now = c.mem.bytes;
      for (let i = 0; i < snap.length; i++) {
        if (now[i] === snap[i]) continue;
        let j = i;
        while (j < snap.length && now[j] !== snap[j]) j++;
        out.push({ seq: seq(), kind: 'write', addr: c.iova + BigInt(i), len: j - i, observedBy: 'canary' });
        i = j;
      }
    }
    this.shadow = undefined;
    return out;
  }

  get canaryArmed(): boolean {
    return this.shadow !== undefined;
  }

  /** Records accesses found by the binding (faults, canary) for takeAccessLog(). */
  note(accesses: readonly ObservedAccess[]): void {
    this.found.push(...accesses);
  }

  takeAccessLog(): DmaAccess[] {
    this.found.push(...this.observe());
    return this.found.splice(0);
  }

  close(): void {
    for (const c of this.chunks.splice(0)) {
      if (c.mapped) this.iommu.unmap(c.iova, c.mem.length);
      this.sys.munmap(c.mem);
    }
  }
}
