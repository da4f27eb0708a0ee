import { afterEach, describe, expect, it } from 'vitest';
import { walkCapabilities } from '../../protocol/pci-capabilities.ts';
import { CommonCfg, PciCapType } from '../../protocol/pci-common-cfg.ts';
import { PciCapId, PciCfg, PM_CTRL, VirtioPciCap } from '../../protocol/pci.ts';
import { adminRig, closeOpened, open, LIST_QUERY } from './kit.ts';

afterEach(closeOpened);

describe('PF function', () => {
  it('the PCI_CFG window reads and writes BAR0 registers, with Memory Space disabled too', async () => {
    const b = await open();
    const { caps } = await walkCapabilities((o, w) => b.pf.configRead(o, w));
    const win = caps.find((c) => c.id === PciCapId.VENDOR && c.cfgType === PciCapType.PCI_CFG)!.at;
    const program = async (offset: number, length: number) => {
      await b.pf.configWrite(win + VirtioPciCap.BAR, 1, 0);
      await b.pf.configWrite(win + VirtioPciCap.OFFSET, 4, offset);
      await b.pf.configWrite(win + VirtioPciCap.LENGTH, 4, length);
    };
    expect(await b.pf.barRead(0, CommonCfg.NUM_QUEUES.offset, 2)).toBe(0xffff); // Memory Space is off
    await program(CommonCfg.ADMIN_QUEUE_INDEX.offset, 2);
    expect((await b.pf.configRead(win + VirtioPciCap.EXTRA, 4)) & 0xffff).toBe(1);
    await program(CommonCfg.QUEUE_SELECT.offset, 2);
    await b.pf.configWrite(win + VirtioPciCap.EXTRA, 4, 5);
    await b.pf.configWrite(PciCfg.COMMAND, 2, 0x2);
    expect(await b.pf.barRead(0, CommonCfg.QUEUE_SELECT.offset, 2)).toBe(5);
    await program(CommonCfg.QUEUE_SELECT.offset + 1, 2); // misaligned: not decoded
    expect((await b.pf.configRead(win + VirtioPciCap.EXTRA, 4)) & 0xffff).toBe(0xffff);
  });

  it('in D3hot the BARs read all ones and no admin command runs; back in D0 the state is kept and the work resumes', async () => {
    const rig = await adminRig();
    const { b: bb, pf, aq } = rig;
    const pm = (await walkCapabilities((o, w) => bb.pf.configRead(o, w))).caps.find((c) => c.id === PciCapId.PM)!.at;
    const status = await pf.cfgRead('DEVICE_STATUS');
    aq.place([{ data: LIST_QUERY }, { writable: 16 }]);
    await pf.notify(aq);
    await bb.pf.configWrite(pm + PM_CTRL, 2, 3);
    expect(await pf.cfgRead('DEVICE_STATUS')).toBe(0xff);
    expect(await aq.waitUsed(1, 50)).toBe(false);
    await bb.pf.configWrite(pm + PM_CTRL, 2, 0);
    expect(await pf.cfgRead('DEVICE_STATUS')).toBe(status);
    expect(await aq.waitUsed(1)).toBe(true);
  });
});
