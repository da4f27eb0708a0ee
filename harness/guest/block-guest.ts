import { BlkReq, BlkStatus } from '../../protocol/virtio-blk.ts';
import type { GuestDriver } from './guest-driver.ts';
import type { GuestBuffer } from './guest-queue.ts';

export const SECTOR = 512;

/** virtio-blk request header: le32 type, le32 reserved, le64 sector. */
export function blkHeader(type: number, sector: bigint): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, type, true);
  dv.setBigUint64(8, sector, true);
  return b;
}

/** Buffers of a block write request. */
export function blkWrite(sector: bigint, data: Uint8Array): GuestBuffer[] {
  return [{ out: blkHeader(BlkReq.OUT, sector) }, { out: data }, { in: 1 }];
}

/** Buffers of a block read request. */
export function blkRead(sector: bigint, sectors: number): GuestBuffer[] {
  return [{ out: blkHeader(BlkReq.IN, sector) }, { in: sectors * SECTOR }, { in: 1 }];
}

export { BlkReq, BlkStatus };

/** Writes then waits (convenience for tests that need a device write to happen now). */
export async function blkWriteSync(d: GuestDriver, queue: number, sector: bigint, data: Uint8Array, timeoutMs = 2000): Promise<number> {
  d.post(queue, blkWrite(sector, data));
  await d.kick(queue);
  const [c] = await d.poll(queue, 1, timeoutMs);
  if (!c) throw new Error('block write did not complete');
  return c.data[c.data.length - 1][0];
}

export async function blkReadSync(d: GuestDriver, queue: number, sector: bigint, sectors: number, timeoutMs = 2000): Promise<{ status: number; data: Uint8Array }> {
  d.post(queue, blkRead(sector, sectors));
  await d.kick(queue);
  const [c] = await d.poll(queue, 1, timeoutMs);
  if (!c) throw new Error('block read did not complete');
  return { status: c.data[c.data.length - 1][0], data: c.data[0] };
}
