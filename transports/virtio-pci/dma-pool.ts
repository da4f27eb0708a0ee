import type { DmaSpace } from '../../protocol/dma-space.ts';

export interface DmaBuffer {
  addr: bigint;
  /** Bytes reserved (a power of two, at least MIN_CLASS); the chain uses only what it asks for. */
  size: number;
}

const MIN_CLASS = 64;

/**
 * Command buffers in a function's DMA space. A DmaSpace only allocates, so buffers are kept in
 * power-of-two size classes and reused: memory grows to the largest set of buffers in use at once.
 */
export class DmaPool {
  private readonly free = new Map<number, bigint[]>();

  constructor(private readonly dma: DmaSpace) {}

  alloc(len: number): DmaBuffer {
    let size = MIN_CLASS;
    while (size < len) size *= 2;
    const addr = this.free.get(size)?.pop() ?? this.dma.alloc(size, MIN_CLASS);
    return { addr, size };
  }

  release(b: DmaBuffer): void {
    let list = this.free.get(b.size);
    if (!list) this.free.set(b.size, (list = []));
    list.push(b.addr);
  }
}
