import { describe, expect, it } from 'vitest';
import { ContextWriteStream } from '../../device/migration/write-stream.ts';
import { buildContext } from '../../device/migration/context-codec.ts';
import type { VirtioMember } from '../../device/member/virtio-member.ts';
import { SimulatorTransport } from '../../transports/simulator/simulator-transport.ts';
import { GuestDriver } from '../../harness/guest/guest-driver.ts';
import { blkRead } from '../../harness/guest/block-guest.ts';
import { DevCtxType } from '../../protocol/device-context.ts';
import { decodeCtx, encodeCtx, WIRE, withValue } from './helpers.ts';

async function pair() {
  const sim = new SimulatorTransport();
  const drv = await new GuestDriver(sim.member(1)).init({ queues: 1, queueSize: 32 });
  drv.post(0, blkRead(1n, 1));
  drv.post(0, blkRead(2n, 1));
  await drv.kick(0);
  const m1 = sim.device.member(1)!;
  const m2 = sim.device.member(2)!;
  return { sim, drv, m1, m2, ctx: encodeCtx(buildContext(m1, WIRE)) };
}

function queues(m: VirtioMember) {
  return m.queues.map((q) => ({ size: q.size, enabled: q.enabled, desc: q.desc, driver: q.driver, device: q.device, availIdx: q.lastAvailIdx }));
}

/** Byte offset where the n-th field of `type` starts in a packed context. */
function fieldOffset(ctx: Uint8Array, type: number, nth = 0): number {
  return decodeCtx(ctx).fields.filter((f) => f.type === type)[nth].offset!;
}

describe('ContextWriteStream (patch 4/8 WRITE in Freeze, GD4, SD9, SD15)', () => {
  it('accepts a context split at arbitrary points; partial until the last byte, then pending', async () => {
    const { m2, ctx } = await pair();
    for (const cut of [1, 3, 4, 5, 17, 20, 100, ctx.length - 1]) {
      const s = new ContextWriteStream(WIRE);
      expect(s.partial).toBe(false);
      expect(s.write(m2, ctx.subarray(0, cut))).toBeUndefined();
      expect(s.partial).toBe(true);
      expect(s.pending).toBe(false);
      expect(s.write(m2, ctx.subarray(cut))).toBeUndefined();
      expect(s.partial).toBe(false);
      expect(s.pending).toBe(true);
    }
  });

  it('accepts a context fed one byte at a time', async () => {
    const { m1, m2, ctx } = await pair();
    const s = new ContextWriteStream(WIRE);
    for (let i = 0; i < ctx.length; i++) expect(s.write(m2, ctx.subarray(i, i + 1))).toBeUndefined();
    expect(s.pending).toBe(true);
    s.applyTo(m2);
    expect(queues(m2)).toEqual(queues(m1));
  });

  it('an empty chunk changes nothing', async () => {
    const { m2 } = await pair();
    const s = new ContextWriteStream(WIRE);
    expect(s.write(m2, new Uint8Array(0))).toBeUndefined();
    expect(s.partial).toBe(false);
    expect(s.pending).toBe(false);
  });

  it('a refused chunk (field of the wrong length) leaves the stream exactly as before; the correct bytes are then accepted (GD4)', async () => {
    const { m1, m2, ctx } = await pair();
    const at = fieldOffset(ctx, DevCtxType.PCI_VQ_CFG);
    const bad = withValue(ctx, DevCtxType.PCI_VQ_CFG, (v) => {
      const longer = new Uint8Array(v.length + 1);
      longer.set(v);
      return longer;
    });
    const s = new ContextWriteStream(WIRE);
    expect(s.write(m2, ctx.subarray(0, at + 3))).toBeUndefined(); // into the TLV header of PCI_VQ_CFG
    // The rest of a context whose PCI_VQ_CFG is one byte too long: refused.
    expect(s.write(m2, bad.subarray(at + 3))).toMatch(/length 31 differs from the device's 30/);
    expect(s.partial).toBe(true);
    expect(s.pending).toBe(false);
    // The same prefix is still there: the correct continuation completes the context.
    expect(s.write(m2, ctx.subarray(at + 3))).toBeUndefined();
    expect(s.pending).toBe(true);
    s.applyTo(m2);
    expect(queues(m2)).toEqual(queues(m1));
  });

  it('a refused first chunk leaves the stream empty', async () => {
    const { m2, ctx } = await pair();
    const bad = withValue(ctx, DevCtxType.DEV_FEATURES, (v) => v.subarray(0, 8));
    const s = new ContextWriteStream(WIRE);
    expect(s.write(m2, bad)).toMatch(/DEV_FEATURES length 8/);
    expect(s.partial).toBe(false);
    expect(s.pending).toBe(false);
    expect(s.write(m2, ctx)).toBeUndefined();
    expect(s.pending).toBe(true);
  });

  it('a context refused only at completion (checkPlan) is refused at the last chunk and the stream keeps the earlier bytes', async () => {
    const { m2, ctx } = await pair();
    const bad = withValue(ctx, DevCtxType.DEV_CFG, (v) => {
      const c = v.slice();
      c[0] ^= 1; // capacity is read-only
      return c;
    });
    const s = new ContextWriteStream(WIRE);
    expect(s.write(m2, bad.subarray(0, 40))).toBeUndefined();
    expect(s.write(m2, bad.subarray(40))).toMatch(/read-only/);
    expect(s.partial).toBe(true);
    expect(s.pending).toBe(false);
    expect(s.write(m2, ctx.subarray(40))).toBeUndefined();
    expect(s.pending).toBe(true);
  });

  it('malformed bytes (trailing garbage) are refused without losing the accepted prefix', async () => {
    const { m2, ctx } = await pair();
    const s = new ContextWriteStream(WIRE);
    expect(s.write(m2, ctx.subarray(0, 10))).toBeUndefined();
    const junk = new Uint8Array(ctx.length - 10 + 8).fill(0);
    junk.set(ctx.subarray(10));
    junk.fill(0xee, ctx.length - 10);
    expect(s.write(m2, junk)).toMatch(/malformed/);
    expect(s.write(m2, ctx.subarray(10))).toBeUndefined();
    expect(s.pending).toBe(true);
  });

  it('a second complete context replaces the pending one (SD9, "the most recently set")', async () => {
    const { sim, m1, m2, ctx } = await pair();
    // A second context: another queue address and one more request taken.
    const drv2 = await new GuestDriver(sim.member(2)).init({ queues: 1, queueSize: 16 });
    drv2.post(0, blkRead(5n, 1));
    await drv2.kick(0);
    const other = encodeCtx(buildContext(m2, WIRE));
    const before = queues(m2);
    const s = new ContextWriteStream(WIRE);
    expect(s.write(m2, ctx)).toBeUndefined();
    expect(s.write(m2, other.subarray(0, 50))).toBeUndefined();
    // The second context is partial; the first stays pending meanwhile.
    expect(s.pending).toBe(true);
    expect(s.partial).toBe(true);
    expect(s.write(m2, other.subarray(50))).toBeUndefined();
    s.applyTo(m2);
    expect(queues(m2)).toEqual(before);
    expect(queues(m2)).not.toEqual(queues(m1));
  });
});
