import { describe, expect, it } from 'vitest';
import { SparseGuestMemory } from '../../device/guest-memory.ts';
import { decodeDesc, UsedOff, USED_ELEM_SIZE, VirtqDescFlags } from '../../protocol/split-ring.ts';
import { UsedRingError } from '../../transports/virtio-pci/errors.ts';
import { SplitRing } from '../../transports/virtio-pci/split-ring.ts';

/** Plays the device: returns `id` with `len` in the next used slot and publishes the used index. */
function devicePushUsed(mem: SparseGuestMemory, ring: SplitRing<string>, slot: number, id: number, len: number): void {
  const e = new Uint8Array(USED_ELEM_SIZE);
  new DataView(e.buffer).setUint32(0, id, true);
  new DataView(e.buffer).setUint32(4, len, true);
  mem.write(ring.used + BigInt(UsedOff.RING + USED_ELEM_SIZE * (slot % ring.size)), e);
  mem.write(ring.used + BigInt(UsedOff.IDX), Uint8Array.of((slot + 1) & 0xff, ((slot + 1) >> 8) & 0xff));
}

function setup(size = 8) {
  const mem = new SparseGuestMemory();
  const ring = new SplitRing<string>(mem, size, 'test queue');
  const seg = (len: number, writable: boolean) => ({ addr: mem.alloc(Math.max(len, 1)), len, writable });
  return { mem, ring, seg };
}

describe('driver-side split ring', () => {
  it('writes a chain readable-first with NEXT links and publishes its head', () => {
    const { mem, ring, seg } = setup();
    const c = ring.add([seg(24, false), seg(8, false), seg(8, true), seg(64, true)], 'DEV_MODE_GET', 'a')!;
    ring.publish(c);
    const d = c.ids.map((i) => decodeDesc(mem.read(ring.desc + BigInt(16 * i), 16)));
    expect(d.map((x) => x.flags)).toEqual([VirtqDescFlags.NEXT, VirtqDescFlags.NEXT, VirtqDescFlags.NEXT | VirtqDescFlags.WRITE, VirtqDescFlags.WRITE]);
    expect(d.slice(0, 3).map((x) => x.next)).toEqual(c.ids.slice(1));
    expect(c.writableLen).toBe(72);
    const avail = mem.read(ring.avail, 6);
    expect(avail[2] | (avail[3] << 8)).toBe(1);
    expect(avail[4] | (avail[5] << 8)).toBe(c.head);
  });

  it('returns completed chains and frees their descriptors', () => {
    const { mem, ring, seg } = setup(4);
    const c = ring.add([seg(24, false), seg(8, true)], 'X', 'a')!;
    ring.publish(c);
    expect(ring.freeCount).toBe(2);
    devicePushUsed(mem, ring, 0, c.head, 8);
    expect(ring.reap().used.map((u) => [u.chain.owner, u.len])).toEqual([['a', 8]]);
    expect(ring.freeCount).toBe(4);
  });

  it('refuses an id the driver never made available', () => {
    const { mem, ring, seg } = setup();
    ring.publish(ring.add([seg(24, false), seg(8, true)], 'X', 'a')!);
    devicePushUsed(mem, ring, 0, 5, 8);
    const { error } = ring.reap();
    expect(error).toBeInstanceOf(UsedRingError);
    expect(error?.message).toMatch(/never made available/);
    expect(ring.reap().error?.message, 'the bad entry is not consumed').toMatch(/never made available/);
  });

  it('refuses an id past the queue size', () => {
    const { mem, ring } = setup();
    devicePushUsed(mem, ring, 0, 4096, 0);
    expect(ring.reap().error?.message).toMatch(/not a descriptor of this 8-entry queue/);
  });

  it('refuses a used length beyond the chain\'s writable part', () => {
    const { mem, ring, seg } = setup();
    const c = ring.add([seg(24, false), seg(8, true)], 'LIST_QUERY', 'a')!;
    ring.publish(c);
    devicePushUsed(mem, ring, 0, c.head, 9);
    expect(ring.reap().error?.message).toMatch(/used length 9 for chain \d+ \(LIST_QUERY\) exceeds its 8-byte device-writable part/);
  });

  it('returns the good entries before a bad one in the same batch', () => {
    const { mem, ring, seg } = setup();
    const c = ring.add([seg(24, false), seg(8, true)], 'LIST_QUERY', 'a')!;
    ring.publish(c);
    devicePushUsed(mem, ring, 0, c.head, 8);
    devicePushUsed(mem, ring, 1, c.head, 8);
    const r = ring.reap();
    expect(r.used.map((u) => u.chain.owner)).toEqual(['a']);
    expect(r.error?.message).toMatch(/a second time/);
  });

  it('refuses a chain returned twice', () => {
    const { mem, ring, seg } = setup();
    const c = ring.add([seg(24, false), seg(8, true)], 'LIST_USE', 'a')!;
    ring.publish(c);
    devicePushUsed(mem, ring, 0, c.head, 8);
    expect(ring.reap().used).toHaveLength(1);
    devicePushUsed(mem, ring, 1, c.head, 8);
    expect(ring.reap().error?.message).toMatch(/returned chain \d+ \(LIST_USE\) a second time/);
  });

  it('refuses a used index more than a ring ahead', () => {
    const { mem, ring } = setup(4);
    mem.write(ring.used + BigInt(UsedOff.IDX), Uint8Array.of(9, 0));
    expect(ring.reap().error?.message).toMatch(/9 entries, more than the 4 the ring holds/);
  });

  it('keeps a quarantined chain out of use after a late completion, until reset', () => {
    const { mem, ring, seg } = setup(2);
    const c = ring.add([seg(24, false), seg(8, true)], 'X', 'a')!;
    ring.publish(c);
    ring.quarantine(c);
    devicePushUsed(mem, ring, 0, c.head, 8);
    expect(ring.reap().used[0].chain.lateCompleted).toBe(true);
    expect(ring.freeCount).toBe(0);
    expect(ring.add([seg(8, true)], 'Y', 'b')).toBeUndefined();
    devicePushUsed(mem, ring, 1, c.head, 8);
    expect(ring.reap().error?.message).toMatch(/a second time/);
    expect(ring.reset().map((x) => x.owner)).toEqual(['a']);
    expect(ring.freeCount).toBe(2);
  });
});
