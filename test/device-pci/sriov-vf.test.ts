import { afterEach, describe, expect, it } from 'vitest';
import { decodeAdminCmdResult } from '../../protocol/admin-frame.ts';
import { DeviceStatus, Feature } from '../../protocol/pci-common-cfg.ts';
import { PCI_COMMAND_MASTER, PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PciCapId, PciCfg, SRIOV_CTRL_MSE, SriovReg } from '../../protocol/pci.ts';
import { findCapability } from '../../protocol/pci-capabilities.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import { BLK_ID_BYTES, BlkReq } from '../../protocol/virtio-blk.ts';
import { DEFAULT_DEVICE_OPTIONS } from '../../device/options.ts';
import { PF_SRIOV_CAP } from '../../device/owner/pf-function.ts';
import type { VfBinding } from '../../protocol/host-binding.ts';
import { type AdminRig, adminRig, closeOpened, layoutOf, TinyDevice, type TinyQueue, LIST_QUERY } from './kit.ts';

afterEach(closeOpened);

async function listQuery(r: AdminRig) {
  const n = r.aq.usedIdx();
  const p = r.aq.place([{ data: LIST_QUERY }, { writable: 16 }]);
  await r.pf.notify(r.aq);
  expect(await r.aq.waitUsed(n + 1)).toBe(true);
  const u = r.aq.usedElem(n);
  return decodeAdminCmdResult(r.aq.dma.read(p.writable[0].addr, 16), u.len);
}

/** Brings a VF's block device up with queue 0 on MSI-X vector 1 (vectors 0 and 1 unmasked). */
async function blockVf(vf: VfBinding): Promise<{ dev: TinyDevice; q: TinyQueue }> {
  const dev = new TinyDevice(vf.fn, vf.dma, vf.irq, await layoutOf(vf.fn));
  await dev.begin(1n << BigInt(Feature.VERSION_1), { memorySpace: false });
  await dev.enableMsix([0, 1]);
  const q = await dev.queue(0, 8, 1);
  await dev.driverOk();
  return { dev, q };
}

function getIdRequest(q: TinyQueue) {
  const hdr = new Uint8Array(16);
  new DataView(hdr.buffer).setUint32(0, BlkReq.GET_ID, true);
  return q.place([{ data: hdr }, { writable: BLK_ID_BYTES }, { writable: 1 }]);
}

describe('VF model', () => {
  it('serves a block request through BAR0 on its own, with the completion as an MSI-X event', async () => {
    const rig = await adminRig();
    const vf = await rig.b.vf(1);
    const { dev, q } = await blockVf(vf);
    vf.irq.take();
    const p = getIdRequest(q);
    await dev.notify(q);
    expect(await vf.irq.wait(2000)).toBe(true);
    expect(vf.irq.take().map((e) => e.vector)).toEqual([1]);
    expect(q.usedElem(0)).toEqual({ id: p.head, len: BLK_ID_BYTES + 1 });
    const id = new TextDecoder().decode(vf.dma.read(p.writable[0].addr, BLK_ID_BYTES)).replace(/\0+$/, '');
    expect(id).toBe(`${rig.b.device.options.serial}-VF1`);
    expect(vf.dma.takeAccessLog().some((a) => a.kind === 'write' && a.addr === p.writable[0].addr)).toBe(true);
  });

  it('holdRequests stimulus: the request is taken but not completed until the backend is released', async () => {
    const rig = await adminRig();
    const vf = await rig.b.vf(2);
    const { dev, q } = await blockVf(vf);
    await vf.stimuli!.holdRequests!(true);
    vf.dma.takeAccessLog();
    const p = getIdRequest(q);
    await dev.notify(q);
    const end = Date.now() + 2000;
    while (!vf.dma.takeAccessLog().some((a) => a.kind === 'read' && a.addr === q.desc + BigInt(16 * p.head)) && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    expect(await q.waitUsed(1, 50)).toBe(false);
    await vf.stimuli!.holdRequests!(false);
    expect(await q.waitUsed(1)).toBe(true);
    expect(q.usedElem(0).id).toBe(p.head);
  });

  it('BAR0 reads all ones and drops writes while VF Memory Space Enable is clear', async () => {
    const rig = await adminRig();
    const vf = await rig.b.vf(1);
    const ctrl = PF_SRIOV_CAP + SriovReg.CTRL;
    expect(await vf.fn.barRead(0, 20, 1)).toBe(0);
    const v = await rig.b.pf.configRead(ctrl, 2);
    await rig.b.pf.configWrite(ctrl, 2, v & ~SRIOV_CTRL_MSE);
    expect(await vf.fn.barRead(0, 20, 1)).toBe(0xff);
    await rig.b.pf.configWrite(ctrl, 2, v);
    expect(await vf.fn.barRead(0, 20, 1)).toBe(0);
  });

  it('fn.reset() is the host reset: virtio state back to reset, Bus Master and MSI-X restored', async () => {
    const rig = await adminRig();
    const vf = await rig.b.vf(2);
    const { dev } = await blockVf(vf);
    expect(await dev.cfgRead('DEVICE_STATUS')).toBeGreaterThan(0);
    await vf.fn.reset();
    expect(await dev.cfgRead('DEVICE_STATUS')).toBe(0);
    expect((await vf.fn.configRead(PciCfg.COMMAND, 2)) & PCI_COMMAND_MASTER).toBe(PCI_COMMAND_MASTER);
    expect((await vf.fn.configRead(dev.layout.msixCap! + 2, 2)) & 0x8000).toBe(0x8000);
  });
});

describe('SR-IOV control and VF lifetimes', () => {
  it('reports the state, and setNumVfs(0) ends the group: the VFs read all ones and vf() refuses them', async () => {
    const rig = await adminRig();
    const { b } = rig;
    expect(await b.sriov.state()).toEqual({ totalVfs: 2, numVfs: 2, vfEnable: true });
    const old = await b.vf(1);
    await b.sriov.setNumVfs(0);
    expect(await b.sriov.state()).toEqual({ totalVfs: 2, numVfs: 0, vfEnable: false });
    expect(await old.fn.configRead(PciCfg.VENDOR_ID, 4)).toBe(0xffffffff);
    await expect(b.vf(1)).rejects.toThrow(/VF Enable is clear/);
    const r = await listQuery(rig);
    expect([r.status, r.qualifier]).toEqual([Status.EINVAL, Qualifier.INVALID_GROUP]);
  });

  it('setNumVfs(n) brings new VF instances, as many as asked; a change between two non-zero counts and one past TotalVFs are refused', async () => {
    const rig = await adminRig();
    const { b } = rig;
    const old = await b.vf(1);
    await b.sriov.setNumVfs(0);
    await b.sriov.setNumVfs(1);
    const fresh = await b.vf(1);
    expect(fresh).not.toBe(old);
    expect(fresh.fn).not.toBe(old.fn);
    expect(await b.vf(1)).toBe(fresh);
    expect(await old.fn.configRead(PciCfg.VENDOR_ID, 2)).toBe(0xffff);
    expect(await fresh.fn.configRead(PciCfg.VENDOR_ID, 2)).toBe(0x1af4);
    await expect(b.vf(2)).rejects.toThrow(/NumVFs is 1/);
    await expect(b.sriov.setNumVfs(2)).rejects.toThrow(/only through 0/);
    await expect(b.sriov.setNumVfs(3)).rejects.toThrow(/0\.\.2/);
    await b.sriov.setNumVfs(1); // the same value: nothing to do
    expect((await listQuery(rig)).status).toBe(Status.OK);
  });

  it('PF fn.reset() restores VF Enable (new VFs) and the bus setup; the virtio state is at reset', async () => {
    const rig = await adminRig();
    const { b, pf } = rig;
    const old = await b.vf(2);
    await b.pf.reset();
    expect(await b.sriov.state()).toEqual({ totalVfs: 2, numVfs: 2, vfEnable: true });
    expect(await b.vf(2)).not.toBe(old);
    expect(await pf.cfgRead('DEVICE_STATUS')).toBe(0);
    expect((await b.pf.configRead(PciCfg.COMMAND, 2)) & 0x6).toBe(0x6);
  });

  it('an FLR written through PCIe Device Control: config reads all ones while it runs, then VF Enable is clear', async () => {
    const rig = await adminRig({ device: { timings: { ...DEFAULT_DEVICE_OPTIONS.timings, flrMs: 20 } } });
    const { b } = rig;
    const exp = (await findCapability((o, w) => b.pf.configRead(o, w), PciCapId.EXP))!;
    await b.pf.configWrite(exp + PCI_EXP_DEVCTL, 2, PCI_EXP_DEVCTL_BCR_FLR);
    expect(await b.pf.configRead(PciCfg.VENDOR_ID, 2)).toBe(0xffff);
    const end = Date.now() + 2000;
    while ((await b.pf.configRead(PciCfg.VENDOR_ID, 2)) === 0xffff && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    expect(await b.pf.configRead(PciCfg.VENDOR_ID, 2)).toBe(0x1af4);
    expect((await b.sriov.state()).vfEnable).toBe(false);
    expect(await b.pf.configRead(PciCfg.COMMAND, 2)).toBe(0);
    expect(b.pfModel.common.deviceStatus & DeviceStatus.DRIVER_OK).toBe(0);
  });
});
