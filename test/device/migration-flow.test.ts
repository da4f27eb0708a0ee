import { describe, expect, it } from 'vitest';
import { SimulatorTransport } from '../../transports/simulator/simulator-transport.ts';
import { AdminClient } from '../../harness/admin-client.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import { GuestDriver, copyGuestMemory } from '../../harness/guest/guest-driver.ts';
import { blkRead, blkWrite, blkReadSync } from '../../harness/guest/block-guest.ts';
import { decodeDevCtx } from '../../protocol/device-context.ts';
import { kickHeld } from './helpers.ts';

describe('stop-and-copy migration between two block members', () => {
  it('carries in-flight requests to the destination and loses none', async () => {
    const sim = new SimulatorTransport();
    const admin = new AdminClient(sim, SEED_V2_WIRE, { timeoutMs: 1000 });
    await admin.enableAll();
    const src = sim.member(1);
    const dst = sim.member(2);
    const drv = await new GuestDriver(src).init({ queues: 1 });
    // Some completed traffic, then 4 requests taken by the device but not completed.
    const pattern = new Uint8Array(512).fill(0xab);
    drv.post(0, blkWrite(10n, pattern));
    await drv.kick(0);
    expect((await drv.poll(0, 1)).length).toBe(1);
    for (let i = 0; i < 4; i++) drv.post(0, blkRead(10n, 1), i);
    await kickHeld(src, () => drv.kick(0));
    src.takeDmaLog();
    await admin.modeSetOk(1, DeviceMode.STOP);
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const ctx = await admin.readContext(1, 256);
    const fields = decodeDevCtx(ctx, 'packed').fields;
    expect(fields.some((f) => f.type === 4)).toBe(true);
    expect(src.takeDmaLog()).toEqual([]);
    // Destination: Active -> Freeze, write, then Active.
    await admin.modeSetOk(2, DeviceMode.FREEZE);
    await admin.writeContext(2, ctx, 64);
    copyGuestMemory(src.memory, dst.memory, drv.arena.pages());
    await admin.modeSetOk(2, DeviceMode.ACTIVE);
    await drv.rebind(dst);
    const done = await drv.poll(0, 4);
    expect(done.map((c) => c.request.tag).sort()).toEqual([0, 1, 2, 3]);
    for (const c of done) expect(c.data[0]).toEqual(pattern);
    const after = await blkReadSync(drv, 0, 10n, 1);
    expect(after.status).toBe(0);
    expect(after.data).toEqual(pattern);
  });
});
