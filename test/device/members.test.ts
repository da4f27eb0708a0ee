import { describe, expect, it } from 'vitest';
import { copyGuestMemory, GuestDriver } from '../../harness/guest/guest-driver.ts';
import { blkRead, blkReadSync, blkWriteSync } from '../../harness/guest/block-guest.ts';
import { decodeVqSplitDevDescs } from '../../protocol/dev-ctx-fields.ts';
import { DevCtxType } from '../../protocol/device-context.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { decodeCtx, DeviceMode, kickHeld, rig, type Rig } from './helpers.ts';

/** Stop and Freeze the source, copy its context and guest memory to the destination, resume there. */
async function migrate(r: Rig, drv: GuestDriver, from: number, to: number): Promise<Uint8Array> {
  await r.admin.modeSetOk(from, DeviceMode.STOP);
  await r.admin.modeSetOk(from, DeviceMode.FREEZE);
  const ctx = await r.admin.readContext(from, 128);
  await r.admin.modeSetOk(to, DeviceMode.FREEZE);
  await r.admin.writeContext(to, ctx, 128);
  copyGuestMemory(r.port(from).memory, r.port(to).memory, drv.arena.pages());
  await r.admin.modeSetOk(to, DeviceMode.ACTIVE);
  await drv.rebind(r.port(to));
  return ctx;
}

describe('entropy member (virtio type 4) end to end', () => {
  it('fills device-writable buffers and migrates with requests in flight', async () => {
    const r = await rig({ members: [{ type: 'entropy' }, { type: 'entropy' }] });
    expect(r.port(1).virtioType).toBe(4);
    const drv = await new GuestDriver(r.port(1)).init({ queues: 1 });
    drv.post(0, [{ in: 64 }], 1);
    drv.post(0, [{ in: 64 }], 2);
    await drv.kick(0);
    const done = await drv.poll(0, 2);
    expect(done.map((c) => c.len)).toEqual([64, 64]);
    expect(done[0].data[0].some((b) => b !== 0)).toBe(true);
    expect(done[0].data[0]).not.toEqual(done[1].data[0]);
    // Two requests taken, not completed; then migrate.
    drv.post(0, [{ in: 32 }], 3);
    drv.post(0, [{ in: 16 }], 4);
    await kickHeld(r.port(1), () => drv.kick(0));
    const ctx = decodeCtx(await migrate(r, drv, 1, 2));
    expect(ctx.fields.some((f) => f.type === DevCtxType.DEV_CFG)).toBe(false);
    expect(ctx.fields.filter((f) => f.type === DevCtxType.VQ_SPLIT_DEV_OWN_DESC).length).toBe(1);
    const after = await drv.poll(0, 2);
    expect(after.map((c) => [c.request.tag, c.len])).toEqual([
      [3, 32],
      [4, 16],
    ]);
    drv.post(0, [{ in: 8 }], 5);
    await drv.kick(0);
    expect((await drv.poll(0, 1)).map((c) => c.request.tag)).toEqual([5]);
  });
});

describe('block member with several request queues (VIRTIO_BLK_F_MQ)', () => {
  const FOUR = { members: [{ type: 'block' as const, numQueues: 4 }, { type: 'block' as const, numQueues: 4 }] };

  it('reports num_queues 4 and serves requests on every queue', async () => {
    const r = await rig(FOUR);
    expect(await r.port(1).commonCfgRead(CommonCfg.NUM_QUEUES.offset, 2)).toBe(4);
    const drv = await new GuestDriver(r.port(1)).init({ queues: 4, queueSize: 32 });
    for (let q = 0; q < 4; q++) {
      const data = new Uint8Array(512).fill(0x10 + q);
      expect(await blkWriteSync(drv, q, BigInt(100 + q), data)).toBe(0);
    }
    for (let q = 0; q < 4; q++) expect((await blkReadSync(drv, 3 - q, BigInt(100 + q), 1)).data[0]).toBe(0x10 + q);
    // Each queue interrupts on its own vector (q + 1).
    const vectors = new Set(r.port(1).takeEvents().flatMap((e) => (e.kind === 'msix' ? [e.vector] : [])));
    expect([...vectors].sort()).toEqual([1, 2, 3, 4]);
  });

  it('the context has one PCI_VQ_CFG and one runtime entry per queue, and owned descriptors per busy queue', async () => {
    const r = await rig(FOUR);
    const drv = await new GuestDriver(r.port(1)).init({ queues: 4, queueSize: 32 });
    drv.post(1, blkRead(0n, 1));
    drv.post(3, blkRead(0n, 1));
    drv.post(3, blkRead(1n, 1));
    await kickHeld(r.port(1), async () => {
      await drv.kick(1);
      await drv.kick(3);
    });
    await r.admin.modeSetOk(1, DeviceMode.FREEZE);
    const ctx = decodeCtx(await r.admin.readContext(1));
    expect(ctx.fields.filter((f) => f.type === DevCtxType.PCI_VQ_CFG).length).toBe(4);
    expect(ctx.fields.filter((f) => f.type === DevCtxType.VQ_SPLIT_RUNTIME_CFG).length).toBe(4);
    const owned = ctx.fields.filter((f) => f.type === DevCtxType.VQ_SPLIT_DEV_OWN_DESC).map((f) => decodeVqSplitDevDescs(f.value));
    expect(owned.map((o) => [o.vqIndex, o.descIdx.length])).toEqual([
      [1, 1],
      [3, 2],
    ]);
  });

  it('migrates with requests in flight on two of the four queues; all complete on the destination', async () => {
    const r = await rig(FOUR);
    const drv = await new GuestDriver(r.port(1)).init({ queues: 4, queueSize: 32 });
    const data = new Uint8Array(512).fill(0x5a);
    await blkWriteSync(drv, 0, 7n, data);
    drv.post(1, blkRead(7n, 1), 11);
    drv.post(3, blkRead(7n, 1), 31);
    drv.post(3, blkRead(7n, 1), 32);
    await drv.kick(1);
    await drv.kick(3);
    await migrate(r, drv, 1, 2);
    const q1 = await drv.poll(1, 1);
    const q3 = await drv.poll(3, 2);
    expect(q1.map((c) => c.request.tag)).toEqual([11]);
    expect(q3.map((c) => c.request.tag)).toEqual([31, 32]);
    for (const c of [...q1, ...q3]) expect(c.data[0]).toEqual(data);
    expect((await blkReadSync(drv, 2, 7n, 1)).data).toEqual(data);
  });

  it('a context from a 4-queue member is refused by a 1-queue member (num_queues differs)', async () => {
    const r = await rig({ members: [{ type: 'block', numQueues: 4 }, { type: 'block' }] });
    await r.admin.modeSetOk(1, DeviceMode.FREEZE);
    const ctx = await r.admin.readContext(1);
    await r.admin.modeSetOk(2, DeviceMode.FREEZE);
    const res = await r.admin.ctxWrite(2, ctx);
    expect(res.status).not.toBe(0);
  });
});
