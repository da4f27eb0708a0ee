import { Reader, view } from './bytes.ts';

/** Split virtqueue layouts (virtio 1.3 split-ring.tex). All fields little-endian. */
export const VIRTQ_DESC_SIZE = 16;
export const VirtqDescFlags = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
export const VIRTQ_USED_F_NO_NOTIFY = 1;
export const MAX_SPLIT_QUEUE_SIZE = 32768;

/** struct virtq_desc. */
export interface VirtqDesc {
  addr: bigint;
  len: number;
  flags: number;
  next: number;
}

export function descTableSize(q: number): number {
  return VIRTQ_DESC_SIZE * q;
}

/** Available ring: flags, idx, ring[q], used_event. */
export function availRingSize(q: number): number {
  return 6 + 2 * q;
}

/** Used ring: flags, idx, ring[q] of {le32 id, le32 len}, avail_event. */
export function usedRingSize(q: number): number {
  return 6 + 8 * q;
}

export const AvailOff = { FLAGS: 0, IDX: 2, RING: 4 } as const;
export const UsedOff = { FLAGS: 0, IDX: 2, RING: 4 } as const;
export const USED_ELEM_SIZE = 8;

/** Reads the first 16 bytes of `b`; a shorter buffer is a DecodeError (it used to escape as a RangeError). */
export function decodeDesc(b: Uint8Array): VirtqDesc {
  const r = new Reader(b, 'virtq_desc');
  return { addr: r.u64('addr'), len: r.u32('len'), flags: r.u16('flags'), next: r.u16('next') };
}

export function encodeDesc(d: VirtqDesc, out = new Uint8Array(VIRTQ_DESC_SIZE)): Uint8Array {
  const dv = view(out);
  dv.setBigUint64(0, d.addr, true);
  dv.setUint32(8, d.len, true);
  dv.setUint16(12, d.flags, true);
  dv.setUint16(14, d.next, true);
  return out;
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}
