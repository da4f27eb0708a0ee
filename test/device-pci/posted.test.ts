import { afterEach, describe, expect, it } from 'vitest';
import { CommonCfg, DeviceStatus } from '../../protocol/pci-common-cfg.ts';
import { adminRig, closeOpened, LIST_QUERY } from './kit.ts';

afterEach(closeOpened);

describe('posted writes and autonomous device work', () => {
  it('a doorbell write resolves before the device acts; a later read does not make it act; it completes with nobody calling', async () => {
    const rig = await adminRig({ latencyMs: 25, msix: true });
    const { b, pf, aq } = rig;
    aq.place([{ data: LIST_QUERY }, { writable: 16 }]);
    await pf.cfgWrite('QUEUE_SELECT', aq.index);
    const off = await pf.cfgRead('QUEUE_NOTIFY_OFF');
    b.pfDma.takeAccessLog();
    b.pfIrq.take();
    await b.pf.barWrite(pf.layout.notify.bar, pf.layout.notify.offset + off * pf.layout.notify.multiplier, 2, aq.index);
    expect(b.pfDma.takeAccessLog()).toEqual([]); // resolved before the write even reached the function
    expect(await pf.cfgRead('DEVICE_STATUS')).toBeGreaterThan(0); // this read orders after the doorbell...
    expect(b.pfDma.takeAccessLog()).toEqual([]); // ...but the ring walk is the device's own business
    expect(aq.usedIdx()).toBe(0);
    // From here on nothing touches the binding: the interrupt arrives on the device's own time.
    expect(await b.pfIrq.wait(2000)).toBe(true);
    expect(aq.usedIdx()).toBe(1);
    expect(b.pfDma.takeAccessLog().length).toBeGreaterThan(0);
  });

  it('with latency 0 the work still happens after the write has resolved, never inside it', async () => {
    const rig = await adminRig({ latencyMs: 0 });
    const { b, pf, aq } = rig;
    aq.place([{ data: LIST_QUERY }, { writable: 16 }]);
    b.pfDma.takeAccessLog();
    await pf.notify(aq);
    expect(b.pfDma.takeAccessLog()).toEqual([]);
    expect(aq.usedIdx()).toBe(0);
    expect(await aq.waitUsed(1)).toBe(true);
  });

  it('a read returns what earlier posted writes wrote (PCIe ordering), and they apply in issue order', async () => {
    const rig = await adminRig();
    const { b, pf } = rig;
    const at = pf.layout.common.offset + CommonCfg.QUEUE_SELECT.offset;
    await b.pf.barWrite(0, at, 2, 7);
    expect(b.pfModel.common.queueSelect).not.toBe(7); // posted: not there yet
    await b.pf.barWrite(0, at, 2, 0);
    await b.pf.barWrite(0, at, 2, 9);
    expect(await b.pf.barRead(0, at, 2)).toBe(9);
    await b.pf.barWrite(0, at, 2, 3);
    await new Promise((r) => setImmediate(r));
    expect(b.pfModel.common.queueSelect).toBe(3); // and it gets there on its own
  });

  it('a device reset is work too: device_status reads its old value until the reset is done, then 0', async () => {
    const rig = await adminRig({ latencyMs: 25 });
    const { pf } = rig;
    const before = await pf.cfgRead('DEVICE_STATUS');
    expect(before & DeviceStatus.DRIVER_OK).toBe(DeviceStatus.DRIVER_OK);
    await pf.cfgWrite('DEVICE_STATUS', 0);
    expect(await pf.cfgRead('DEVICE_STATUS')).toBe(before);
    expect(await pf.waitStatus((s) => s === 0, 2000)).toBe(0);
    expect(await pf.cfgRead('QUEUE_ENABLE')).toBe(0);
  });
});
