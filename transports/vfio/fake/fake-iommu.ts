import { sysError } from '../sys/syscalls.ts';

/** Process memory the fake host handed out by mmap: its address and the bytes behind it. */
export interface FakeMemory {
  addr: bigint;
  bytes: Uint8Array;
}

interface Mapping {
  iova: bigint;
  length: bigint;
  mem: FakeMemory;
  /** Offset of the mapping in `mem`. */
  offset: number;
  read: boolean;
  write: boolean;
}

/** One DMA the IOMMU refused: what the kernel logs (DMAR / AMD-Vi) and the device sees as a UR completion. */
export interface IommuFault {
  bdf: string;
  kind: 'read' | 'write';
  iova: bigint;
  len: number;
}

export const IOMMU_PAGE = 4096n;
/** The x86 MSI window, a hole in every domain's valid IOVA ranges. */
export const MSI_HOLE = { start: 0xfee00000n, end: 0xfeefffffn };

/**
 * One IOMMU domain (a type1 container or an iommufd IOAS): IOVA -> process memory. A device access
 * outside the mappings, or against their permissions, faults: the access does not reach memory and
 * `onFault` is told, as the hardware reports it.
 */
export class FakeIommuDomain {
  private maps: Mapping[] = [];
  readonly ranges = [
    { start: 0n, end: MSI_HOLE.start - 1n },
    { start: MSI_HOLE.end + 1n, end: (1n << 48n) - 1n },
  ];

  constructor(
    private readonly memoryAt: (vaddr: bigint, length: bigint) => { mem: FakeMemory; offset: number } | undefined,
    private readonly onFault: (f: IommuFault) => void,
    /** type1v2 refuses an unmap that cuts through a mapping. */
    private readonly strictUnmap = true,
  ) {}

  map(vaddr: bigint, iova: bigint, length: bigint, read: boolean, write: boolean): void {
    if (length === 0n || vaddr % IOMMU_PAGE || iova % IOMMU_PAGE || length % IOMMU_PAGE) throw sysError('map', 'EINVAL', 'vaddr, iova and size must be page aligned and non-zero');
    if (!this.ranges.some((r) => iova >= r.start && iova + length - 1n <= r.end)) throw sysError('map', 'EINVAL', 'IOVA outside the valid ranges');
    if (this.maps.some((m) => iova < m.iova + m.length && m.iova < iova + length)) throw sysError('map', 'EEXIST');
    const at = this.memoryAt(vaddr, length);
    if (!at) throw sysError('map', 'EFAULT', 'no process memory at vaddr');
    this.maps.push({ iova, length, mem: at.mem, offset: at.offset, read, write });
  }

  /** Removes every mapping inside [iova, iova+length); returns the bytes unmapped. */
  unmap(iova: bigint, length: bigint): bigint {
    const end = iova + length;
    let done = 0n;
    this.last = undefined;
    if (this.strictUnmap && this.maps.some((m) => (m.iova < iova && m.iova + m.length > iova) || (m.iova < end && m.iova + m.length > end))) {
      throw sysError('unmap', 'EINVAL', 'the range cuts through a mapping');
    }
    this.maps = this.maps.filter((m) => {
      const inside = m.iova >= iova && m.iova + m.length <= end;
      if (inside) done += m.length;
      return !inside;
    });
    return done;
  }

  unmapAll(): bigint {
    const n = this.maps.reduce((a, m) => a + m.length, 0n);
    this.maps = [];
    this.last = undefined;
    return n;
  }

  mappedBytes(): bigint {
    return this.maps.reduce((a, m) => a + m.length, 0n);
  }

  /** The mapping of the last device access: accesses are local, so it usually serves the next. */
  private last?: Mapping;

  private find(iova: bigint, len: number, write: boolean): Mapping | undefined {
    const hit = (x: Mapping) => iova >= x.iova && iova + BigInt(len) <= x.iova + x.length;
    const m = this.last && hit(this.last) ? this.last : this.maps.find(hit);
    this.last = m;
    return m && (write ? m.write : m.read) ? m : undefined;
  }

  /** A device read: the bytes, or all ones after a fault (an Unsupported Request completion). */
  read(bdf: string, iova: bigint, len: number): Uint8Array {
    const m = this.find(iova, len, false);
    if (!m) {
      this.onFault({ bdf, kind: 'read', iova, len });
      return new Uint8Array(len).fill(0xff);
    }
    const off = m.offset + Number(iova - m.iova);
    return m.mem.bytes.slice(off, off + len);
  }

  /** A device write: lands in memory, or is dropped after a fault. */
  write(bdf: string, iova: bigint, data: Uint8Array): void {
    const m = this.find(iova, data.length, true);
    if (!m) {
      this.onFault({ bdf, kind: 'write', iova, len: data.length });
      return;
    }
    m.mem.bytes.set(data, m.offset + Number(iova - m.iova));
  }
}
