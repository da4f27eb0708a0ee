import { describe, expect, it } from 'vitest';
import { GuestDriver } from '../../harness/guest/guest-driver.ts';
import { blkRead, blkWrite } from '../../harness/guest/block-guest.ts';
import { DeviceMode, kickHeld, rig, type Rig } from './helpers.ts';

/** Member 1 with a driver and `inFlight` requests the device has taken but not completed (its backend stalled). */
async function withInFlight(inFlight = 3, device: Parameters<typeof rig>[0] = {}): Promise<Rig & { drv: GuestDriver }> {
  const r = await rig(device);
  const drv = await new GuestDriver(r.port(1)).init({ queues: 1, queueSize: 64 });
  for (let i = 0; i < inFlight; i++) drv.post(0, blkRead(BigInt(i), 1), i);
  if (inFlight) await kickHeld(r.port(1), () => drv.kick(0));
  expect(r.member(1).inFlight.length).toBe(inFlight);
  r.port(1).takeDmaLog();
  r.port(1).takeEvents();
  return { ...r, drv };
}

describe('no device access to memory and no interrupts outside Active (SD11a, SD12a, E35)', () => {
  for (const mode of [DeviceMode.STOP, DeviceMode.FREEZE]) {
    const name = mode === DeviceMode.STOP ? 'Stop' : 'Freeze';
    it(`${name}: requests in flight, new requests and kicks cause no DMA and no interrupt`, async () => {
      const { admin, port, drv } = await withInFlight();
      await admin.modeSetOk(1, DeviceMode.STOP);
      if (mode === DeviceMode.FREEZE) await admin.modeSetOk(1, DeviceMode.FREEZE);
      expect(port(1).takeDmaLog()).toEqual([]);
      await port(1).stimuli.holdRequests!(false);
      drv.post(0, blkWrite(8n, new Uint8Array(512).fill(1)));
      await drv.kick(0);
      await drv.kick(0);
      await port(1).settle();
      expect(await drv.poll(0, 1, 20)).toEqual([]);
      expect(port(1).takeDmaLog()).toEqual([]);
      expect(port(1).takeEvents()).toEqual([]);
    });
  }

  for (const requestMs of [0, 5]) {
    it(`after MODE_SET Stop completes nothing more is accessed, though the backend went on just before it (SD11b; request latency ${requestMs} ms)`, async () => {
      const { admin, port, drv, member } = await withInFlight(8, { timings: { flrMs: 0, resetMs: 0, pmMs: 0, requestMs } });
      await port(1).stimuli.holdRequests!(false); // the device may complete the 8 requests from now on
      await admin.modeSetOk(1, DeviceMode.STOP);
      const before = drv.reap(0).length;
      port(1).takeDmaLog();
      await port(1).settle();
      await drv.kick(0);
      await port(1).settle();
      expect(port(1).takeDmaLog()).toEqual([]);
      expect(drv.reap(0).length).toBe(0);
      expect(before + member(1).inFlight.length).toBe(8);
    });
  }

  it('in-flight requests complete after returning to Active', async () => {
    const { admin, port, drv } = await withInFlight(3);
    await admin.modeSetOk(1, DeviceMode.STOP);
    await port(1).stimuli.holdRequests!(false);
    await admin.modeSetOk(1, DeviceMode.ACTIVE);
    const done = await drv.poll(0, 3);
    expect(done.map((c) => c.request.tag).sort()).toEqual([0, 1, 2]);
    expect(port(1).takeDmaLog().length).toBeGreaterThan(0);
    expect(port(1).takeEvents().length).toBeGreaterThan(0);
  });

  it('a kick received in Stop is accepted and processed on return to Active without a new kick (SD11c)', async () => {
    const { admin, port, drv } = await withInFlight(0);
    await admin.modeSetOk(1, DeviceMode.STOP);
    drv.post(0, blkRead(1n, 1), 7);
    await drv.kick(0);
    expect(port(1).takeDmaLog()).toEqual([]);
    await admin.modeSetOk(1, DeviceMode.ACTIVE);
    const done = await drv.poll(0, 1, 500);
    expect(done.map((c) => c.request.tag)).toEqual([7]);
  });

  it('a kick received in Stop survives a detour through Freeze', async () => {
    const { admin, drv } = await withInFlight(0);
    await admin.modeSetOk(1, DeviceMode.STOP);
    drv.post(0, blkRead(1n, 1), 7);
    await drv.kick(0);
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    await admin.modeSetOk(1, DeviceMode.ACTIVE);
    expect((await drv.poll(0, 1, 500)).map((c) => c.request.tag)).toEqual([7]);
  });

  it('a kick received in Freeze is dropped: nothing happens on return to Active until the next kick', async () => {
    const { admin, port, drv } = await withInFlight(0);
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    drv.post(0, blkRead(1n, 1), 7);
    await drv.kick(0);
    await admin.modeSetOk(1, DeviceMode.ACTIVE);
    expect(await drv.poll(0, 1, 30)).toEqual([]);
    expect(port(1).takeDmaLog()).toEqual([]);
    await drv.kick(0);
    expect((await drv.poll(0, 1, 500)).map((c) => c.request.tag)).toEqual([7]);
  });

  it('another member keeps working while one is stopped', async () => {
    const r = await rig();
    const d2 = await new GuestDriver(r.port(2)).init({ queues: 1 });
    await r.admin.modeSetOk(1, DeviceMode.FREEZE);
    d2.post(0, blkRead(0n, 1));
    await d2.kick(0);
    expect((await d2.poll(0, 1)).length).toBe(1);
  });
});
