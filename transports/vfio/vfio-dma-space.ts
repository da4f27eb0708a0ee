import type { DmaObservation, DmaSpace } from '../../protocol/dma-space.ts';
import type { DmaAccess } from '../../protocol/guest-memory.ts';
import type { IommuContext } from './iommu/iommu-context.ts';
import { MAP_ANONYMOUS, MAP_POPULATE, MAP_SHARED, type MappedMemory, PROT_READ, PROT_WRITE, type Syscalls } from './sys/syscalls.ts';

const PAGE = 4096;
const PAGE_BITS = 12n;
const CHUNK_BITS = 21n;
const CHUNK = 1 << Number(CHUNK_BITS);
/** Guest-physical addresses start above 4 GiB, as the simulator's do (64-bit addresses exercised, the x86 MSI window far away). */
const IOVA_BASE = 0x1_0000_0000n;
/** The byte canary memory holds while the device must not write it (pages the guest never used). */
export const CANARY = 0xa5;
const CANARY_PAGE = new Uint8Array(PAGE).fill(CANARY);

interface Chunk {
  iova: bigint;
  mem: MappedMemory;
  mapped: boolean;
}

/** A device access the transport found: the address, the length, and how it was seen. */
export interface ObservedAccess extends DmaAccess {
  /** canary: a change of memory; iommu-fault: a fault the kernel logged; aer: a non-fatal error in the function's AER status (address unknown). */
  observedBy: 'canary' | 'iommu-fault' | 'aer';
}

/**
 * One function's DMA memory on a VFIO host: a sparse address space in 2 MiB chunks of shared
 * anonymous memory, each mapped through the function's IOMMU context at its own IOVA (IOVA =
 * guest-physical address, as for a passthrough VF without a virtual IOMMU). As with the simulator's
 * guest memory, pages are made by alloc() or by a write, and pages never used read as zero.
 *
 * A card cannot log its DMA, so the space offers what the host can see instead:
 * - no-access windows: `revoke()` removes every mapping from the IOMMU (a device access then faults,
 *   and shows in the kernel log and AER status); `restore()` maps it all back;
 * - no-write windows: `armCanary()` fills pages the guest never used with a canary; `disarmCanary()`
 *   reports every byte run of it the device changed (a page the driver starts using is no longer
 *   watched: its writes go through write()).
 */
export class VfioDmaSpace implements DmaSpace {
  readonly pageSize = PAGE;
  readonly observation: DmaObservation = 'iommu-fault';
  private readonly chunks = new Map<bigint, Chunk>();
  private readonly used = new Set<bigint>();
  /** Pages that hold the canary while a no-write window is open (never used by the guest). */
  private canary?: Set<bigint>;
  private revoked = false;
  private next = IOVA_BASE;
  private iommu?: IommuContext;
  private readonly found: ObservedAccess[] = [];

  constructor(
    private readonly sys: Syscalls,
    readonly label: string,
    /** What the host saw of the device's accesses since the last call (faults, AER), pulled by takeAccessLog(). */
    private readonly observe: () => ObservedAccess[] = () => [],
  ) {}

  /** Maps the space into a function's IOMMU context (again, after its VF was made anew). */
  attach(iommu: IommuContext): void {
    this.iommu = iommu;
    for (const c of this.chunks.values()) c.mapped = false;
    if (!this.revoked) for (const c of this.chunks.values()) this.mapChunk(c);
  }

  /** The context is going away (its close drops every mapping). */
  detach(): void {
    this.iommu = undefined;
    for (const c of this.chunks.values()) c.mapped = false;
  }

  private mapChunk(c: Chunk): void {
    if (!this.iommu || c.mapped) return;
    this.iommu.map(c.mem, c.iova);
    c.mapped = true;
  }

  private chunk(index: bigint): Chunk {
    let c = this.chunks.get(index);
    if (c) return c;
    const mem = this.sys.mmap(CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    c = { iova: index << CHUNK_BITS, mem, mapped: false };
    this.chunks.set(index, c);
    if (this.canary) this.layCanary(c);
    try {
      if (!this.revoked) this.mapChunk(c);
    } catch (e) {
      this.chunks.delete(index);
      this.sys.munmap(mem);
      throw e;
    }
    return c;
  }

  /** Marks the pages of [addr, addr+len) used, zeroing each the first time (it may hold a canary). */
  private use(addr: bigint, len: number): void {
    for (let p = addr >> PAGE_BITS; p <= (addr + BigInt(Math.max(len, 1)) - 1n) >> PAGE_BITS; p++) {
      if (this.used.has(p)) continue;
      this.used.add(p);
      const c = this.chunk(p >> (CHUNK_BITS - PAGE_BITS));
      const off = Number((p << PAGE_BITS) - c.iova);
      c.mem.bytes.fill(0, off, off + PAGE);
      this.canary?.delete(p);
    }
  }

  alloc(size: number, align = 16): bigint {
    const a = BigInt(Math.max(align, 1));
    const addr = ((this.next + a - 1n) / a) * a;
    this.next = addr + BigInt(Math.max(size, 1));
    this.use(addr, size);
    return addr;
  }

  /** Runs over [addr, addr+len) chunk by chunk: (chunk or undefined, offset in it, offset in the data, length). */
  private each(addr: bigint, len: number, f: (c: Chunk | undefined, off: number, at: number, n: number) => void): void {
    let done = 0;
    while (done < len) {
      const a = addr + BigInt(done);
      const c = this.chunks.get(a >> CHUNK_BITS);
      const off = Number(a & BigInt(CHUNK - 1));
      const n = Math.min(CHUNK - off, len - done);
      f(c, off, done, n);
      done += n;
    }
  }

  read(addr: bigint, len: number): Uint8Array {
    const out = new Uint8Array(len);
    this.each(addr, len, (c, off, at, n) => {
      if (!c) return;
      // Pages the guest never used read as zero (they may hold a canary).
      for (let o = 0; o < n; ) {
        const page = (c.iova + BigInt(off + o)) >> PAGE_BITS;
        const k = Math.min(n - o, PAGE - ((off + o) % PAGE));
        if (this.used.has(page)) out.set(c.mem.bytes.subarray(off + o, off + o + k), at + o);
        o += k;
      }
    });
    return out;
  }

  write(addr: bigint, data: Uint8Array): void {
    this.use(addr, data.length);
    this.each(addr, data.length, (c, off, at, n) => {
      c!.mem.bytes.set(data.subarray(at, at + n), off);
    });
  }

  pages(): bigint[] {
    return [...this.used].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((p) => p << PAGE_BITS);
  }

  get isRevoked(): boolean {
    return this.revoked;
  }

  /** Removes every mapping of this space from the IOMMU: from now on a device access faults. */
  revoke(): void {
    if (this.revoked) return;
    this.revoked = true;
    for (const c of this.chunks.values()) {
      if (!c.mapped || !this.iommu) continue;
      this.iommu.unmap(c.iova, c.mem.length);
      c.mapped = false;
    }
  }

  /** Maps everything back (before the device may use the memory again). */
  restore(): void {
    if (!this.revoked) return;
    this.revoked = false;
    for (const c of this.chunks.values()) this.mapChunk(c);
  }

  /** The canary in every page of `c` the guest never used. */
  private layCanary(c: Chunk): void {
    for (let o = 0; o < CHUNK; o += PAGE) {
      const p = (c.iova + BigInt(o)) >> PAGE_BITS;
      if (this.used.has(p)) continue;
      c.mem.bytes.fill(CANARY, o, o + PAGE);
      this.canary!.add(p);
    }
  }

  /**
   * Starts a no-write window: pages the guest never used get the canary. (Pages in use are covered by
   * the IOMMU: their mappings are revoked for the window.)
   */
  armCanary(): void {
    this.canary = new Set();
    for (const c of this.chunks.values()) this.layCanary(c);
  }

  /** Ends the window: every run of canary bytes the device changed, as write accesses. */
  disarmCanary(seq: () => number): ObservedAccess[] {
    const out: ObservedAccess[] = [];
    const pages = this.canary;
    this.canary = undefined;
    if (!pages) return out;
    for (const p of [...pages].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const c = this.chunks.get(p >> (CHUNK_BITS - PAGE_BITS))!;
      const off = Number((p << PAGE_BITS) - c.iova);
      const page = c.mem.bytes.subarray(off, off + PAGE);
      if (Buffer.compare(page, CANARY_PAGE) === 0) continue;
      for (let b = 0; b < PAGE; b++) {
        if (page[b] === CANARY) continue;
        let e = b;
        while (e < PAGE && page[e] !== CANARY) e++;
        out.push({ seq: seq(), kind: 'write', addr: (p << PAGE_BITS) + BigInt(b), len: e - b, observedBy: 'canary' });
        b = e;
      }
    }
    return out;
  }

  get canaryArmed(): boolean {
    return this.canary !== undefined;
  }

  /** Records accesses found by the binding (canary changes) for takeAccessLog(). */
  note(accesses: readonly ObservedAccess[]): void {
    this.found.push(...accesses);
  }

  takeAccessLog(): DmaAccess[] {
    this.found.push(...this.observe());
    return this.found.splice(0);
  }

  close(): void {
    for (const c of this.chunks.values()) {
      if (c.mapped && this.iommu) this.iommu.unmap(c.iova, c.mem.length);
      this.sys.munmap(c.mem);
    }
    this.chunks.clear();
    this.iommu = undefined;
  }
}
