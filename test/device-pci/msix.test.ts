import { afterEach, describe, expect, it } from 'vitest';
import { encodeAdminCmd } from '../../protocol/admin-frame.ts';
import { MSIX_ENTRY_SIZE, MsixCap, MsixEntry } from '../../protocol/pci.ts';
import { GroupType } from '../../protocol/status.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { MsixTable } from '../../device/pci/msix.ts';
import { adminRig, type AdminRig } from './kit.ts';

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
  let rig: AdminRig | undefined;
  afterEach(async () => {
    await rig?.b.close();
    rig = undefined;
  });

  it('a completion on a masked vector shows in the PBA and arrives when the driver unmasks it', async () => {
    rig = await adminRig({ msix: true });
    const { b, pf, aq } = rig;
    const cap = pf.layout.msixCap!;
    const t = await b.pf.configRead(cap + MsixCap.TABLE, 4);
    const pba = (await b.pf.configRead(cap + MsixCap.PBA, 4)) & ~7;
    const bar = t & 7;
    const ctrl1 = (t & ~7) + 1 * MSIX_ENTRY_SIZE + MsixEntry.VECTOR_CTRL;
    await b.pf.barWrite(bar, ctrl1, 4, 1);
    b.pfIrq.take();
    aq.place([{ data: encodeAdminCmd({ opcode: SEED_V2_WIRE.opcodes.LIST_QUERY, groupType: GroupType.SRIOV, memberId: 0n, data: new Uint8Array(0) }) }, { writable: 16 }]);
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
    rig = await adminRig({ msix: true });
    const { pf } = rig;
    await pf.cfgWrite('CONFIG_MSIX_VECTOR', 3);
    expect(await pf.cfgRead('CONFIG_MSIX_VECTOR')).toBe(3);
    await pf.cfgWrite('CONFIG_MSIX_VECTOR', 4);
    expect(await pf.cfgRead('CONFIG_MSIX_VECTOR')).toBe(0xffff);
  });
});
