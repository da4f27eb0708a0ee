/**
 * A member's DMA address space as its guest driver sees it: the suite, acting as the member's guest
 * driver, allocates rings and buffers here and the member device reads and writes them by bus
 * address (guest-physical for a passthrough VF without a virtual IOMMU, E36).
 * Driver-side accesses are synchronous and never logged as device accesses.
 */
export interface GuestMemory {
  /** Granule of allocation and of copying between members (4096). */
  readonly pageSize: number;
  /** Zeroed memory of `size` bytes aligned to `align` (a power of two, default 16); returns its bus address. */
  alloc(size: number, align?: number): bigint;
  read(addr: bigint, len: number): Uint8Array;
  write(addr: bigint, data: Uint8Array): void;
  /** Every page ever allocated, ascending: what a hypervisor copies when it migrates this memory. */
  pages(): bigint[];
}

/** One device access to guest memory, as a transport with DMA observation saw it. */
export interface DmaAccess {
  /** Position in the transport's single event order (shared with MemberEvent.seq). */
  seq: number;
  kind: 'read' | 'write';
  addr: bigint;
  len: number;
}
