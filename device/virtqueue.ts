import { AvailOff, decodeDesc, USED_ELEM_SIZE, UsedOff, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_SIZE, VirtqDescFlags } from '../protocol/split-ring.ts';
import { VIRTIO_MSI_NO_VECTOR } from '../protocol/pci-common-cfg.ts';
import type { MemberDma } from './dma.ts';

/** One buffer of a descriptor chain. */
export interface ChainBuffer {
  addr: bigint;
  len: number;
}

/** A descriptor chain as the device walked it: device-readable buffers first, then device-writable ones. */
export interface DescChain {
  head: number;
  readable: ChainBuffer[];
  writable: ChainBuffer[];
}

/** A chain the device cannot use (loop, index out of range, readable after writable): virtio says the device may treat it as an error. */
export class BadChainError extends Error {
  override name = 'BadChainError';
}

/**
 * Device side of one split virtqueue: the registers a driver programs through common cfg, plus the
 * device's own position in the available ring (dev_avail_idx of the context, patch 3/8) and its used
 * index. Everything else lives in guest memory.
 */
export class SplitVirtqueue {
  size: number;
  msixVector = VIRTIO_MSI_NO_VECTOR;
  enabled = false;
  desc = 0n;
  driver = 0n;
  device = 0n;
  /** Next available-ring index the device will read (dev_avail_idx). */
  lastAvailIdx = 0;
  /** Next used-ring index the device will write. */
  usedIdx = 0;

  constructor(
    readonly index: number,
    readonly maxSize: number,
  ) {
    this.size = maxSize;
  }

  reset(): void {
    this.size = this.maxSize;
    this.msixVector = VIRTIO_MSI_NO_VECTOR;
    this.enabled = false;
    this.desc = this.driver = this.device = 0n;
    this.lastAvailIdx = 0;
    this.usedIdx = 0;
  }

  /** Reads avail->idx and returns the heads made available since lastAvailIdx, advancing it. */
  async fetchAvailable(dma: MemberDma, limit = Infinity): Promise<number[]> {
    const availIdx = await dma.readU16(this.driver + BigInt(AvailOff.IDX));
    const pending = (availIdx - this.lastAvailIdx) & 0xffff;
    const n = Math.min(pending, this.size, limit);
    if (n === 0) return [];
    const heads: number[] = [];
    for (let i = 0; i < n; i++) {
      const slot = (this.lastAvailIdx + i) % this.size;
      heads.push(await dma.readU16(this.driver + BigInt(AvailOff.RING + 2 * slot)));
    }
    this.lastAvailIdx = (this.lastAvailIdx + n) & 0xffff;
    return heads;
  }

  /** Walks the chain starting at `head`. */
  async readChain(dma: MemberDma, head: number): Promise<DescChain> {
    const chain: DescChain = { head, readable: [], writable: [] };
    let i = head;
    for (let hops = 0; ; hops++) {
      if (i >= this.size) throw new BadChainError(`descriptor index ${i} outside a queue of ${this.size}`);
      if (hops >= this.size) throw new BadChainError(`descriptor chain from ${head} loops`);
      const d = decodeDesc(await dma.read(this.desc + BigInt(i * VIRTQ_DESC_SIZE), VIRTQ_DESC_SIZE));
      if (d.flags & VirtqDescFlags.INDIRECT) throw new BadChainError('indirect descriptors were not negotiated');
      if (d.flags & VirtqDescFlags.WRITE) chain.writable.push({ addr: d.addr, len: d.len });
      else if (chain.writable.length) throw new BadChainError('device-readable descriptor after a device-writable one');
      else chain.readable.push({ addr: d.addr, len: d.len });
      if (!(d.flags & VirtqDescFlags.NEXT)) return chain;
      i = d.next;
    }
  }

  /** Puts one used element and publishes it by advancing used->idx. */
  async pushUsed(dma: MemberDma, head: number, len: number): Promise<void> {
    const slot = this.usedIdx % this.size;
    const elem = new Uint8Array(USED_ELEM_SIZE);
    const dv = new DataView(elem.buffer);
    dv.setUint32(0, head, true);
    dv.setUint32(4, len, true);
    await dma.write(this.device + BigInt(UsedOff.RING + USED_ELEM_SIZE * slot), elem);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    await dma.writeU16(this.device + BigInt(UsedOff.IDX), this.usedIdx);
  }

  /** Whether the driver asked for no interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT). */
  async interruptSuppressed(dma: MemberDma): Promise<boolean> {
    return ((await dma.readU16(this.driver + BigInt(AvailOff.FLAGS))) & VIRTQ_AVAIL_F_NO_INTERRUPT) !== 0;
  }

  /** After a context is applied the device learns its used index from the ring it alone writes (E14: the context has none). */
  async syncUsedIdx(dma: MemberDma): Promise<void> {
    this.usedIdx = await dma.readU16(this.device + BigInt(UsedOff.IDX));
  }
}
