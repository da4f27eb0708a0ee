import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { walkCapabilities, walkExtendedCapabilities } from '../../protocol/pci-capabilities.ts';
import { PciCapType } from '../../protocol/pci-common-cfg.ts';
import type { PciFunction } from '../../protocol/pci-function.ts';
import { PCI_EXT_CAP_ID_SRIOV, PCI_VENDOR_ID_REDHAT_QUMRANET, PciCapId, PciCfg, SriovReg, VirtioPciCap, modernDeviceId } from '../../protocol/pci.ts';
import { PCI_EXT_CAP_ID_DSN } from '../../device/pci/pf-config-space.ts';
import { closeOpened, open } from './kit.ts';

afterEach(closeOpened);

const rd = (fn: PciFunction) => (o: number, w: 1 | 2 | 4) => fn.configRead(o, w);

async function virtioCaps(fn: PciFunction) {
  const { caps, problems } = await walkCapabilities(rd(fn));
  expect(problems).toEqual([]);
  return { caps, types: caps.filter((c) => c.id === PciCapId.VENDOR).map((c) => c.cfgType) };
}

/** Writes all ones to a BAR dword and reads back the size mask, restoring the value after. */
async function sizeMask(fn: PciFunction, at: number): Promise<number> {
  const old = await fn.configRead(at, 4);
  await fn.configWrite(at, 4, 0xffffffff);
  const mask = await fn.configRead(at, 4);
  await fn.configWrite(at, 4, old);
  return mask >>> 0;
}

describe('PF configuration space', () => {
  it('walks cleanly: PM, PCIe, MSI-X and the five virtio capabilities; SR-IOV then DSN in the extended space', async () => {
    const b = await open();
    const { caps, types } = await virtioCaps(b.pf);
    expect(caps.map((c) => c.id)).toEqual([PciCapId.PM, PciCapId.EXP, PciCapId.MSIX, 9, 9, 9, 9, 9]);
    expect(types).toEqual([PciCapType.COMMON_CFG, PciCapType.NOTIFY_CFG, PciCapType.ISR_CFG, PciCapType.DEVICE_CFG, PciCapType.PCI_CFG]);
    const ext = await walkExtendedCapabilities(rd(b.pf), b.pf.configSize);
    expect(ext.problems).toEqual([]);
    expect(ext.caps.map((c) => c.id)).toEqual([PCI_EXT_CAP_ID_SRIOV, PCI_EXT_CAP_ID_DSN]);
    expect(await b.pf.configRead(PciCfg.VENDOR_ID, 2)).toBe(PCI_VENDOR_ID_REDHAT_QUMRANET);
    expect(await b.pf.configRead(PciCfg.DEVICE_ID, 2)).toBe(modernDeviceId(2));
    const sriov = ext.caps[0].at;
    expect(await b.pf.configRead(sriov + SriovReg.TOTAL_VF, 2)).toBe(2);
    expect(await b.pf.configRead(sriov + SriovReg.VF_OFFSET, 2)).toBe(1);
    expect(await b.pf.configRead(sriov + SriovReg.VF_STRIDE, 2)).toBe(1);
    expect(await b.pf.configRead(sriov + SriovReg.VF_DID, 2)).toBe(modernDeviceId(2));
  });

  it('device changes given by the caller shape the device before it is built and patch it after', async () => {
    let patched: unknown;
    const b = await open({ changes: [{ options: (o) => ({ ...o, members: [{ type: 'entropy' }] }), apply: (d) => (patched = d) }] });
    expect(patched).toBe(b.device);
    expect(await b.pf.configRead(PciCfg.DEVICE_ID, 2)).toBe(modernDeviceId(4));
  });

  it('an entropy owner has no device-config capability', async () => {
    const b = await open({ members: [{ type: 'entropy' }] });
    const { types } = await virtioCaps(b.pf);
    expect(types).toEqual([PciCapType.COMMON_CFG, PciCapType.NOTIFY_CFG, PciCapType.ISR_CFG, PciCapType.PCI_CFG]);
    expect(await b.pf.configRead(PciCfg.DEVICE_ID, 2)).toBe(modernDeviceId(4));
  });

  it('sizes its BARs: BAR0 64-bit 512 KiB (two dwords), BAR2 32-bit 8 KiB, the others read 0', async () => {
    const b = await open();
    expect(b.pf.bars.map((x) => [x.index, x.size, x.is64])).toEqual([
      [0, 0x80000n, true],
      [2, 0x2000n, false],
    ]);
    expect(await sizeMask(b.pf, PciCfg.BAR0)).toBe(0xfff80004); // size mask | 64-bit type
    expect(await sizeMask(b.pf, PciCfg.BAR0 + 4)).toBe(0xffffffff);
    expect(await sizeMask(b.pf, PciCfg.BAR0 + 8)).toBe(0xffffe000);
    for (const i of [3, 4, 5]) expect(await sizeMask(b.pf, PciCfg.BAR0 + 4 * i)).toBe(0);
    await b.pf.configWrite(PciCfg.BAR0, 4, 0xfebc1234);
    await b.pf.configWrite(PciCfg.BAR0 + 4, 4, 0x12);
    expect(await b.pf.configRead(PciCfg.BAR0, 4)).toBe(0xfeb80004);
    expect(await b.pf.configRead(PciCfg.BAR0 + 4, 4)).toBe(0x12);
    expect(await b.pf.configRead(PciCfg.BAR0 + 1, 1)).toBe(0x00);
  });

  it('sizes VF BAR0 through the SR-IOV capability', async () => {
    const b = await open();
    const { caps } = await walkExtendedCapabilities(rd(b.pf), b.pf.configSize);
    const vfBar0 = caps[0].at + SriovReg.BAR0;
    expect(await sizeMask(b.pf, vfBar0)).toBe(0xfff80004);
    expect(await sizeMask(b.pf, vfBar0 + 4)).toBe(0xffffffff);
    expect(await sizeMask(b.pf, vfBar0 + 8)).toBe(0);
  });

  it('points the virtio capabilities into an implemented BAR, the notify multiplier after the notify capability', async () => {
    const b = await open();
    const { caps } = await virtioCaps(b.pf);
    for (const c of caps.filter((x) => x.id === PciCapId.VENDOR && x.cfgType !== PciCapType.PCI_CFG)) {
      const bar = await b.pf.configRead(c.at + VirtioPciCap.BAR, 1);
      const off = await b.pf.configRead(c.at + VirtioPciCap.OFFSET, 4);
      const len = await b.pf.configRead(c.at + VirtioPciCap.LENGTH, 4);
      const info = b.pf.bars.find((x) => x.index === bar)!;
      expect(BigInt(off + len)).toBeLessThanOrEqual(info.size);
    }
    const notify = caps.find((c) => c.cfgType === PciCapType.NOTIFY_CFG)!;
    expect(await b.pf.configRead(notify.at + VirtioPciCap.EXTRA, 4)).toBe(4);
  });
});

describe('VF configuration space', () => {
  it('walks cleanly, with its MSI-X table and PBA in BAR0', async () => {
    const b = await open();
    const vf = await b.vf(1);
    const { caps, types } = await virtioCaps(vf.fn);
    expect(types).toEqual([PciCapType.COMMON_CFG, PciCapType.NOTIFY_CFG, PciCapType.ISR_CFG, PciCapType.DEVICE_CFG, PciCapType.PCI_CFG]);
    const msix = caps.find((c) => c.id === PciCapId.MSIX)!;
    expect(await vf.fn.configRead(msix.at + 4, 4)).toBe(0x4000); // BIR 0
    expect(await vf.fn.configRead(msix.at + 8, 4)).toBe(0x5000);
    expect(vf.fn.bars.map((x) => [x.index, x.size, x.is64])).toEqual([[0, 0x80000n, true]]);
    expect(await sizeMask(vf.fn, PciCfg.BAR0)).toBe(0xfff80004);
  });

  it('shows Vendor and Device ID from the PF by default (as VFIO does), 0xFFFF with vfIds "raw" (as the VF has them)', async () => {
    const b = await open();
    const vf = await b.vf(2);
    expect(await vf.fn.configRead(PciCfg.VENDOR_ID, 4)).toBe((modernDeviceId(2) << 16) | PCI_VENDOR_ID_REDHAT_QUMRANET);
    expect(await vf.fn.configRead(PciCfg.DEVICE_ID, 2)).toBe(modernDeviceId(2));
    const raw = await (await open({ vfIds: 'raw' })).vf(2);
    expect(await raw.fn.configRead(PciCfg.VENDOR_ID, 2)).toBe(0xffff);
    expect(await raw.fn.configRead(PciCfg.DEVICE_ID, 2)).toBe(0xffff);
    expect(await raw.fn.configRead(PciCfg.SUBSYSTEM_ID, 2)).toBe(0x42);
  });
});

describe('garbage accesses never throw', () => {
  const widths = fc.oneof(fc.constantFrom(1, 2, 4), fc.integer({ min: -2, max: 9 }));
  const offsets = fc.oneof(fc.integer({ min: -16, max: 0x1010 }), fc.constantFrom(NaN, 1.5, 2 ** 40, -1));

  it('config and BAR reads and writes at any offset and width, on the PF and a VF', async () => {
    const b = await open({ latencyMs: 0 });
    const fns = [b.pf, (await b.vf(1)).fn];
    // Memory Space on, so BAR accesses reach the register decoders.
    await b.pf.configWrite(PciCfg.COMMAND, 2, 0x6);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1), fc.integer({ min: -1, max: 6 }), offsets, widths, fc.integer(), async (f, bar, off, w, v) => {
        const fn = fns[f];
        const width = w as 1 | 2 | 4;
        const okWidth = width === 1 || width === 2 || width === 4;
        const c = await fn.configRead(off, width);
        expect(Number.isInteger(c)).toBe(true);
        if (okWidth && (!Number.isInteger(off) || off < 0 || off % width !== 0 || off + width > 4096)) expect(c).toBe(width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff);
        // Stay clear of the registers that would end the session (Command, FLR, PM, SR-IOV Control).
        if (off > 0x40) await fn.barWrite(bar, off * 8, width, v);
        const r = await fn.barRead(bar, off * 8, width);
        expect(Number.isInteger(r)).toBe(true);
        if (bar !== 0 && bar !== 2) expect(r).toBe(okWidth ? (width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff) : 0xffffffff);
      }),
      { numRuns: 400, seed: 11 },
    );
  });

  it('reads all ones from BARs with Memory Space disabled, and drops the writes', async () => {
    const b = await open({ latencyMs: 0 });
    expect(await b.pf.barRead(0, 0, 4)).toBe(0xffffffff);
    await b.pf.barWrite(0, 20, 1, 1);
    await b.pf.configWrite(PciCfg.COMMAND, 2, 0x2);
    expect(await b.pf.barRead(0, 20, 1)).toBe(0);
  });
});
