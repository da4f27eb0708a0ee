import { afterEach, describe, expect, it } from 'vitest';
import { MSIX_ENTRY_SIZE, MsixCap, MsixEntry } from '../../protocol/pci.ts';
import { MsixTable } from '../../device/pci/msix.ts';
import { adminRig, closeOpened, layoutOf, open, LIST_QUERY } from './kit.ts';

afterEach(closeOpened);

describe('MsixTable', () => {
  function table(size = 4) {
    const ctl = { enabled: true, functionMask: false };
    const sent: number[] = [];
    const t = new MsixTable(size, () => ctl, (v) => sent.push(v));
    const unmask = (v: number) => t.tableWrite(v * MSIX_ENTRY_SIZE + MsixEntry.VECTOR_CTRL, 4, 0);
    const mask = (v: number) => t.tableWrite(v * MSIX_ENTRY_SIZE + MsixEntry.VECTOR_CTRL, 4, 1);
    return { t, ctl, sent, unmask, mask };
  }

  it('comes out of reset with every entry masked', () => {
    const { t, sent } = table();
    expect([0, 1, 2, 3].map((v) => t.masked(v))).toEqual([true, true, true, true]);
    expect(t.signal(2)).toBe('pending');
    expect(sent).toEqual([]);
    expect(t.pbaRead(0, 4)).toBe(0b100);
  });

  it('a masked vector sets its pending bit and is sent when unmasked, once', () => {
    const { t, sent, unmask, mask } = table();
    unmask(1);
    expect(t.signal(1)).toBe('sent');
    mask(1);
    expect(t.signal(1)).toBe('pending');
    expect(t.signal(1)).toBe('pending');
    expect(t.isPending(1)).toBe(true);
    unmask(1);
    expect(sent).toEqual([1, 1]);
    expect(t.isPending(1)).toBe(false);
    expect(t.pbaRead(0, 4)).toBe(0);
  });

  it('Function Mask holds every vector pending until it is cleared', () => {
    const { t, ctl, sent, unmask } = table();
    unmask(0);
    unmask(3);
    ctl.functionMask = true;
    expect(t.signal(0)).toBe('pending');
    expect(t.signal(3)).toBe('pending');
    expect(sent).toEqual([]);
    ctl.functionMask = false;
    t.deliverUnmasked();
    expect(sent).toEqual([0, 3]);
  });

  it('sends nothing with MSI-X disabled, and drops vectors the table does not have', () => {
    const { t, ctl, sent, unmask } = table(2);
    unmask(0);
    ctl.enabled = false;
    expect(t.signal(0)).toBe('disabled');
    ctl.enabled = true;
    expect(t.signal(2)).toBe('no-such-vector');
    expect(t.signal(-1)).toBe('no-such-vector');
    expect(sent).toEqual([]);
  });

  it('keeps message address and data, writes only the Mask bit of Vector Control, and ignores other widths', () => {
    const { t } = table();
    t.tableWrite(16 + MsixEntry.ADDR_LO, 4, 0xfee00000);
    t.tableWrite(16 + MsixEntry.DATA, 4, 0x4041);
    t.tableWrite(16 + MsixEntry.VECTOR_CTRL, 4, 0xfffffffe);
    expect(t.tableRead(16 + MsixEntry.ADDR_LO, 4)).toBe(0xfee00000);
    expect(t.tableRead(16 + MsixEntry.DATA, 4)).toBe(0x4041);
    expect(t.tableRead(16 + MsixEntry.VECTOR_CTRL, 4)).toBe(0);
    t.tableWrite(16 + MsixEntry.DATA, 2, 0x1111);
    expect(t.tableRead(16 + MsixEntry.DATA, 4)).toBe(0x4041);
    expect(t.tableRead(16 + MsixEntry.DATA, 2)).toBe(0);
    expect(t.tableRead(4 * MSIX_ENTRY_SIZE, 4)).toBe(0);
  });
});

describe('PF MSI-X through the binding', () => {

  it('a completion on a masked vector shows in the PBA and arrives when the driver unmasks it', async () => {
    const rig = await adminRig({ msix: true });
    const { b, pf, aq } = rig;
    const cap = pf.layout.msixCap!;
    const t = await b.pf.configRead(cap + MsixCap.TABLE, 4);
    const pba = (await b.pf.configRead(cap + MsixCap.PBA, 4)) & ~7;
    const bar = t & 7;
    const ctrl1 = (t & ~7) + 1 * MSIX_ENTRY_SIZE + MsixEntry.VECTOR_CTRL;
    await b.pf.barWrite(bar, ctrl1, 4, 1);
    b.pfIrq.take();
    aq.place([{ data: LIST_QUERY }, { writable: 16 }]);
    await pf.notify(aq);
    expect(await aq.waitUsed(1)).toBe(true);
    expect(b.pfIrq.take()).toEqual([]);
    expect(await b.pf.barRead(bar, pba, 4)).toBe(0b10);
    await b.pf.barWrite(bar, ctrl1, 4, 0);
    expect(await b.pfIrq.wait(1000)).toBe(true);
    expect(b.pfIrq.take().map((e) => e.vector)).toEqual([1]);
    expect(await b.pf.barRead(bar, pba, 4)).toBe(0);
  });

  it('a vector the table lacks reads back as NO_VECTOR (the mapping failed)', async () => {
    const rig = await adminRig({ msix: true });
    const { pf } = rig;
    await pf.cfgWrite('CONFIG_MSIX_VECTOR', 3);
    expect(await pf.cfgRead('CONFIG_MSIX_VECTOR')).toBe(3);
    await pf.cfgWrite('CONFIG_MSIX_VECTOR', 4);
    expect(await pf.cfgRead('CONFIG_MSIX_VECTOR')).toBe(0xffff);
  });
});

describe('who owns the MSI-X table', () => {

  async function enableAndRead(msixTable: 'host' | 'driver') {
    const b = await open({ msixTable });
    const vf = await b.vf(1);
    const cap = (await layoutOf(vf.fn)).msixCap!;
    const ctrlOf = (v: number) => 0x4000 + v * MSIX_ENTRY_SIZE + MsixEntry.VECTOR_CTRL;
    const before = await vf.fn.barRead(0, ctrlOf(1), 4);
    await vf.fn.configWrite(cap + MsixCap.CTRL, 2, 0x8000);
    return { before, after: await vf.fn.barRead(0, ctrlOf(1), 4), data: await vf.fn.barRead(0, 0x4000 + MSIX_ENTRY_SIZE + MsixEntry.DATA, 4) };
  }

  it('host (default, as VFIO): setting MSI-X Enable gets every entry programmed and unmasked', async () => {
    expect(await enableAndRead('host')).toEqual({ before: 1, after: 0, data: 1 });
  });

  it('driver (bare metal): entries stay masked until the driver unmasks them', async () => {
    expect(await enableAndRead('driver')).toEqual({ before: 1, after: 1, data: 0 });
  });

  it('a VF vector the table lacks reads back as NO_VECTOR', async () => {
    const b = await open();
    const vf = await b.vf(1);
    await vf.fn.configWrite(4, 2, 0x4); // Bus Master (no Memory bit on a VF)
    await vf.fn.barWrite(0, 16, 2, 1);
    expect(await vf.fn.barRead(0, 16, 2)).toBe(1);
    await vf.fn.barWrite(0, 16, 2, 2); // one request queue: vectors 0 and 1
    expect(await vf.fn.barRead(0, 16, 2)).toBe(0xffff);
  });
});
