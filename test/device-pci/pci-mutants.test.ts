import { afterEach, describe, expect, it } from 'vitest';
import { walkCapabilities, walkExtendedCapabilities } from '../../protocol/pci-capabilities.ts';
import { CommonCfg, Feature, PciCapType } from '../../protocol/pci-common-cfg.ts';
import { PciCapId, PciCfg, VirtioPciCap } from '../../protocol/pci.ts';
import { ConfigError } from '../../protocol/errors.ts';
import { findMutant } from '../../device/mutants/index.ts';
import { openSimulatorPciBinding, PCI_MUTANTS, type SimulatorPciBinding } from '../../transports/simulator-pci/index.ts';
import { adminRig, closeOpened, open, LIST_QUERY } from './kit.ts';

afterEach(closeOpened);

const rd = (x: SimulatorPciBinding) => (o: number, w: 1 | 2 | 4) => x.pf.configRead(o, w);

/** Opens a rig with `pciMutant`, sends one LIST_QUERY with a 16-byte writable buffer, waits for `usedIdx`. */
async function oneCommand(pciMutant: string | undefined, waitFor = 1, timeoutMs = 2000) {
  const rig = await adminRig({ pciMutant, msix: true });
  rig.b.pfIrq.take();
  const p = rig.aq.place([{ data: LIST_QUERY }, { writable: 16 }]);
  await rig.pf.notify(rig.aq);
  const done = await rig.aq.waitUsed(waitFor, timeoutMs);
  await new Promise((r) => setTimeout(r, 20));
  return { rig, p, done };
}

describe('device/pci mutants', () => {
  it('have unique names, one-line descriptions, and none shares a name with a conformance mutant', () => {
    const names = PCI_MUTANTS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const m of PCI_MUTANTS) {
      expect(m.description).not.toMatch(/\n/);
      expect(findMutant(m.name)).toBeUndefined();
    }
  });

  it('an unknown name is a clear error', async () => {
    await expect(openSimulatorPciBinding({ pciMutant: 'no-such' })).rejects.toThrow(ConfigError);
    await expect(openSimulatorPciBinding({ pciMutant: 'no-such' })).rejects.toThrow(/pciMutant "no-such" is not known; known: cap-list-loop/);
    await expect(openSimulatorPciBinding({ mutant: 'no-such' })).rejects.toThrow(/mutant "no-such" is not a known seeded-bug device/);
  });

  it('cap-list-loop: the standard capability list loops', async () => {
    const b = await open({ pciMutant: 'cap-list-loop' });
    expect((await walkCapabilities(rd(b))).problems.join()).toMatch(/loops back/);
  });

  it('cap-past-config-space: the first capability is a COMMON_CFG whose bytes run past 0xff', async () => {
    const b = await open({ pciMutant: 'cap-past-config-space' });
    const { caps } = await walkCapabilities(rd(b));
    expect(caps[0]).toMatchObject({ at: 0xf8, id: PciCapId.VENDOR, cfgType: PciCapType.COMMON_CFG });
    expect(caps[0].at + (await b.pf.configRead(caps[0].at + VirtioPciCap.CAP_LEN, 1))).toBeGreaterThan(0x100);
  });

  it('cap-pointer-into-header: a next pointer below 0x40', async () => {
    const b = await open({ pciMutant: 'cap-pointer-into-header' });
    expect((await walkCapabilities(rd(b))).problems.join()).toMatch(/capability pointer 0x10 is/);
  });

  it('ext-cap-list-loop: the extended capability list loops', async () => {
    const b = await open({ pciMutant: 'ext-cap-list-loop' });
    expect((await walkExtendedCapabilities(rd(b))).problems.join()).toMatch(/loops back to 0x100/);
  });

  it('bar0-size-0: BAR0 is not implemented (sizes to 0, not listed, reads all ones) while the capabilities point into it', async () => {
    const b = await open({ pciMutant: 'bar0-size-0' });
    expect(b.pf.bars.map((x) => x.index)).toEqual([2]);
    await b.pf.configWrite(PciCfg.BAR0, 4, 0xffffffff);
    expect(await b.pf.configRead(PciCfg.BAR0, 4)).toBe(0);
    await b.pf.configWrite(PciCfg.COMMAND, 2, 0x6);
    expect(await b.pf.barRead(0, 0, 4)).toBe(0xffffffff);
    const common = (await walkCapabilities(rd(b))).caps.find((c) => c.cfgType === PciCapType.COMMON_CFG)!;
    expect(await b.pf.configRead(common.at + VirtioPciCap.BAR, 1)).toBe(0);
  });

  it.each([
    ['admin-queue-size-0', 'QUEUE_SIZE', 0, 1],
    ['admin-queue-num-0', 'ADMIN_QUEUE_NUM', 0, 0],
  ] as const)('%s: %s reads 0 while VIRTIO_F_ADMIN_VQ is offered', async (pciMutant, field, expected, adminNum) => {
    const b = await open({ pciMutant });
    await b.pf.configWrite(PciCfg.COMMAND, 2, 0x6);
    const at = (f: keyof typeof CommonCfg) => CommonCfg[f].offset;
    await b.pf.barWrite(0, at('DEVICE_FEATURE_SELECT'), 4, 1);
    expect((await b.pf.barRead(0, at('DEVICE_FEATURE'), 4)) & (1 << (Feature.ADMIN_VQ - 32))).not.toBe(0);
    expect(await b.pf.barRead(0, at('ADMIN_QUEUE_NUM'), 2)).toBe(adminNum);
    await b.pf.barWrite(0, at('QUEUE_SELECT'), 2, await b.pf.barRead(0, at('ADMIN_QUEUE_INDEX'), 2));
    expect(await b.pf.barRead(0, at(field), 2)).toBe(expected);
  });

  it('used-id-never-submitted: the completion names an in-range index that heads no outstanding chain', async () => {
    const { rig: r, p, done } = await oneCommand('used-id-never-submitted');
    expect(done).toBe(true);
    const u = r.aq.usedElem(0);
    expect(u.id).not.toBe(p.head);
    expect(u.id).toBeLessThan(r.aq.size);
  });

  it('used-id-out-of-range: the completion names an index past the descriptor table', async () => {
    const { rig: r, done } = await oneCommand('used-id-out-of-range');
    expect(done).toBe(true);
    expect(r.aq.usedElem(0).id).toBeGreaterThanOrEqual(r.aq.size);
  });

  it('used-len-beyond-buffer: the used length exceeds the writable buffers', async () => {
    const { rig: r, p, done } = await oneCommand('used-len-beyond-buffer');
    expect(done).toBe(true);
    expect(r.aq.usedElem(0)).toEqual({ id: p.head, len: 16 + 8 });
  });

  it('never-completes: the chain is taken (its buffers read) but no used element or interrupt ever comes', async () => {
    const { rig: r, p, done } = await oneCommand('never-completes', 1, 200);
    expect(done).toBe(false);
    expect(r.aq.usedIdx()).toBe(0);
    expect(r.b.pfIrq.take()).toEqual([]);
    const log = r.b.pfDma.takeAccessLog();
    expect(log.some((a) => a.kind === 'write' && a.addr === p.writable[0].addr)).toBe(true);
  });

  it('completes-twice: one chain, two used elements with its id, two interrupts', async () => {
    const { rig: r, p, done } = await oneCommand('completes-twice', 2);
    expect(done).toBe(true);
    expect(r.aq.usedIdx()).toBe(2);
    expect([r.aq.usedElem(0).id, r.aq.usedElem(1).id]).toEqual([p.head, p.head]);
    expect(r.b.pfIrq.take().map((e) => e.vector)).toEqual([1, 1]);
  });

  it('the reference PF itself shows none of these faults', async () => {
    const b = await open();
    expect((await walkCapabilities(rd(b))).problems).toEqual([]);
    expect((await walkExtendedCapabilities(rd(b))).problems).toEqual([]);
    expect(b.pf.bars.map((x) => x.index)).toEqual([0, 2]);
    const { rig: r, p, done } = await oneCommand(undefined);
    expect(done).toBe(true);
    expect(r.aq.usedIdx()).toBe(1);
    expect(r.aq.usedElem(0)).toEqual({ id: p.head, len: 16 });
    expect(r.b.pfIrq.take().map((e) => e.vector)).toEqual([1]);
  });
});
