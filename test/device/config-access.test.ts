import { describe, expect, it } from 'vitest';
import { GuestDriver } from '../../harness/guest/guest-driver.ts';
import { configReaderOf, findCapability } from '../../protocol/pci-capabilities.ts';
import { CommonCfg, PciCapType } from '../../protocol/pci-common-cfg.ts';
import { PciCapId, PciCfg, PM_CTRL, PM_CTRL_PME_ENABLE, VirtioPciCap } from '../../protocol/pci.ts';
import { BlkConfig, BlkFeature } from '../../protocol/virtio-blk.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { Bar0 } from '../../device/member/layout.ts';
import { DeviceMode, rig, type Rig } from './helpers.ts';

const MODES = [DeviceMode.ACTIVE, DeviceMode.STOP, DeviceMode.FREEZE] as const;
const NAME = ['Active', 'Stop', 'Freeze'];
const WCE = 1n << BigInt(BlkFeature.CONFIG_WCE);

async function initialized(features = WCE): Promise<Rig & { drv: GuestDriver }> {
  const r = await rig();
  const drv = await new GuestDriver(r.port(1)).init({ queues: 1, queueSize: 32, features });
  r.port(1).takeEvents();
  return { ...r, drv };
}

/** The VIRTIO_PCI_CAP_PCI_CFG capability (vendor cap 0x09, cfg_type 5). */
async function findPciCfgCap(p: MemberPort): Promise<number> {
  const at = await findCapability(configReaderOf(p), PciCapId.VENDOR, PciCapType.PCI_CFG);
  if (at === undefined) throw new Error('no VIRTIO_PCI_CAP_PCI_CFG capability');
  return at;
}

/** Access through the PCI_CFG window: program bar/offset/length, then read or write pci_cfg_data. */
class Window {
  constructor(
    readonly p: MemberPort,
    readonly cap: number,
  ) {}
  async program(offset: number, length: 1 | 2 | 4): Promise<void> {
    await this.p.pciConfigWrite(this.cap + VirtioPciCap.BAR, 1, 0);
    await this.p.pciConfigWrite(this.cap + VirtioPciCap.OFFSET, 4, offset);
    await this.p.pciConfigWrite(this.cap + VirtioPciCap.LENGTH, 4, length);
  }
  async registers(): Promise<[number, number, number]> {
    return [await this.p.pciConfigRead(this.cap + VirtioPciCap.BAR, 1), await this.p.pciConfigRead(this.cap + VirtioPciCap.OFFSET, 4), await this.p.pciConfigRead(this.cap + VirtioPciCap.LENGTH, 4)];
  }
  async read(): Promise<number> {
    return this.p.pciConfigRead(this.cap + VirtioPciCap.EXTRA, 4);
  }
  async write(v: number, width: 1 | 2 | 4 = 4): Promise<void> {
    await this.p.pciConfigWrite(this.cap + VirtioPciCap.EXTRA, width, v);
  }
  async readAt(offset: number, length: 1 | 2 | 4): Promise<number> {
    await this.program(offset, length);
    return this.read();
  }
}

async function window(p: MemberPort): Promise<Window> {
  return new Window(p, await findPciCfgCap(p));
}

describe('configuration writes by mode (SD14a)', () => {
  it('common cfg writes are ignored in Freeze and applied in Stop and Active', async () => {
    const { admin, port } = await initialized();
    const p = port(1);
    const expected = { [DeviceMode.ACTIVE]: 0x11, [DeviceMode.STOP]: 0x22, [DeviceMode.FREEZE]: 0x22 };
    for (const m of [DeviceMode.ACTIVE, DeviceMode.STOP, DeviceMode.FREEZE]) {
      await admin.modeSetOk(1, m);
      await p.commonCfgWrite(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2, m === DeviceMode.ACTIVE ? 0x11 : m === DeviceMode.STOP ? 0x22 : 0x33);
      expect(await p.commonCfgRead(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2)).toBe(expected[m]);
    }
  });

  it('a device_status write of 0 (reset) is ignored in Freeze', async () => {
    const { admin, port, member } = await initialized();
    const status = member(1).deviceStatus;
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    await port(1).commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, 0);
    expect(member(1).isBusy).toBe(false);
    expect(await port(1).commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1)).toBe(status);
  });

  it('the block `writeback` byte (VIRTIO_BLK_F_CONFIG_WCE) is ignored in Freeze and applied in Stop and Active', async () => {
    const { admin, port } = await initialized();
    const p = port(1);
    expect(await p.deviceCfgRead(BlkConfig.WRITEBACK, 1)).toBe(1);
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    await p.deviceCfgWrite(BlkConfig.WRITEBACK, 1, 0);
    expect(await p.deviceCfgRead(BlkConfig.WRITEBACK, 1)).toBe(1);
    await admin.modeSetOk(1, DeviceMode.STOP);
    await p.deviceCfgWrite(BlkConfig.WRITEBACK, 1, 0);
    expect(await p.deviceCfgRead(BlkConfig.WRITEBACK, 1)).toBe(0);
    await admin.modeSetOk(1, DeviceMode.ACTIVE);
    await p.deviceCfgWrite(BlkConfig.WRITEBACK, 1, 1);
    expect(await p.deviceCfgRead(BlkConfig.WRITEBACK, 1)).toBe(1);
  });

  it('without VIRTIO_BLK_F_CONFIG_WCE negotiated, `writeback` is read-only in every mode', async () => {
    const { port } = await initialized(0n);
    await port(1).deviceCfgWrite(BlkConfig.WRITEBACK, 1, 0);
    expect(await port(1).deviceCfgRead(BlkConfig.WRITEBACK, 1)).toBe(1);
  });

  it('configuration reads return the same valid values in Active, Stop and Freeze (SD11d)', async () => {
    const { admin, port } = await initialized();
    const p = port(1);
    const snapshot = async () => [
      await p.commonCfgRead(CommonCfg.NUM_QUEUES.offset, 2),
      await p.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1),
      await p.commonCfgRead(CommonCfg.QUEUE_SIZE.offset, 2),
      await p.commonCfgRead(CommonCfg.QUEUE_DESC.offset, 4),
      await p.deviceCfgRead(BlkConfig.CAPACITY, 4),
      await p.deviceCfgRead(BlkConfig.NUM_QUEUES, 2),
    ];
    const active = await snapshot();
    for (const m of [DeviceMode.STOP, DeviceMode.FREEZE]) {
      await admin.modeSetOk(1, m);
      expect(await snapshot()).toEqual(active);
    }
  });
});

describe('the VIRTIO_PCI_CAP_PCI_CFG window (SD14b)', () => {
  it('reads through the window are the same in every mode', async () => {
    const { admin, port } = await initialized();
    const w = await window(port(1));
    const readAll = async () => [
      await w.readAt(Bar0.COMMON + CommonCfg.NUM_QUEUES.offset, 2),
      await w.readAt(Bar0.COMMON + CommonCfg.DEVICE_STATUS.offset, 1),
      await w.readAt(Bar0.COMMON + CommonCfg.QUEUE_SIZE.offset, 2),
      await w.readAt(Bar0.DEVICE + BlkConfig.WRITEBACK, 1),
      await w.readAt(Bar0.DEVICE + BlkConfig.CAPACITY, 4),
    ];
    const active = await readAll();
    expect(active[0]).toBe(1);
    for (const m of [DeviceMode.STOP, DeviceMode.FREEZE, DeviceMode.ACTIVE]) {
      await admin.modeSetOk(1, m);
      // In Freeze the window cannot be reprogrammed (writes are ignored); read what it points at now.
      if (m === DeviceMode.FREEZE) expect(await w.read()).toBe(active[4]);
      else expect(await readAll()).toEqual(active);
    }
  });

  it('a write of pci_cfg_data is ignored in Freeze and performed in Stop and Active', async () => {
    const { admin, port } = await initialized();
    const p = port(1);
    const w = await window(p);
    await w.program(Bar0.COMMON + CommonCfg.CONFIG_MSIX_VECTOR.offset, 2);
    for (const m of MODES) {
      await admin.modeSetOk(1, m);
      const before = await p.commonCfgRead(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2);
      await w.write(0x40 + m);
      const after = await p.commonCfgRead(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2);
      expect([NAME[m], after]).toEqual([NAME[m], m === DeviceMode.FREEZE ? before : 0x40 + m]);
    }
  });

  it('writes to the window registers (bar, offset, length) are ignored in Freeze', async () => {
    const { admin, port } = await initialized();
    const w = await window(port(1));
    await w.program(Bar0.DEVICE + BlkConfig.WRITEBACK, 1);
    const regs = await w.registers();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    await w.program(Bar0.COMMON + CommonCfg.NUM_QUEUES.offset, 2);
    expect(await w.registers()).toEqual(regs);
    expect(await w.read()).toBe(1); // still the writeback byte
    await admin.modeSetOk(1, DeviceMode.STOP);
    await w.program(Bar0.COMMON + CommonCfg.NUM_QUEUES.offset, 2);
    expect(await w.registers()).toEqual([0, Bar0.COMMON + CommonCfg.NUM_QUEUES.offset, 2]);
  });

  it('the block `writeback` byte written through the window: ignored in Freeze, applied in Stop', async () => {
    const { admin, port } = await initialized();
    const w = await window(port(1));
    await w.program(Bar0.DEVICE + BlkConfig.WRITEBACK, 1);
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    await w.write(0, 1);
    expect(await port(1).deviceCfgRead(BlkConfig.WRITEBACK, 1)).toBe(1);
    await admin.modeSetOk(1, DeviceMode.STOP);
    await w.write(0, 1);
    expect(await port(1).deviceCfgRead(BlkConfig.WRITEBACK, 1)).toBe(0);
  });
});

describe('notifications held back outside Active', () => {
  for (const m of [DeviceMode.STOP, DeviceMode.FREEZE]) {
    it(`a configuration change in ${NAME[m]} is not notified until Active (SD12b)`, async () => {
      const { admin, port } = await initialized();
      const p = port(1);
      await admin.modeSetOk(1, m);
      const gen = await p.commonCfgRead(CommonCfg.CONFIG_GENERATION.offset, 1);
      await p.stimuli!.configChange();
      expect(p.takeEvents()).toEqual([]);
      await admin.modeSetOk(1, DeviceMode.ACTIVE);
      expect(p.takeEvents().map((e) => (e.kind === 'msix' ? `msix ${e.vector}` : e.kind))).toEqual(['msix 0']);
      expect(await p.commonCfgRead(CommonCfg.CONFIG_GENERATION.offset, 1)).toBe((gen + 1) & 0xff);
    });
  }

  it('a configuration change in Freeze leaves the device context unchanged until Freeze ends (SD11g)', async () => {
    const { admin, port } = await initialized();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const before = await admin.readContext(1);
    await port(1).stimuli!.configChange();
    await admin.discardOk(1);
    expect(await admin.readContext(1)).toEqual(before);
    await admin.modeSetOk(1, DeviceMode.STOP);
    expect(await admin.readContext(1)).not.toEqual(before); // config_generation moved on leaving Freeze
  });

  it('a configuration change in Active is notified at once', async () => {
    const { port } = await initialized();
    await port(1).stimuli!.configChange();
    expect(port(1).takeEvents().map((e) => e.kind)).toEqual(['msix']);
  });

  async function d3hotWithPme(r: Rig): Promise<void> {
    const p = r.port(1);
    const pm = (await findCapability(configReaderOf(p), PciCapId.PM))!;
    const cur = await p.pciConfigRead(pm + PM_CTRL, 2);
    await p.pciConfigWrite(pm + PM_CTRL, 2, cur | PM_CTRL_PME_ENABLE);
    await p.setPowerState('D3hot');
  }

  for (const m of [DeviceMode.STOP, DeviceMode.FREEZE]) {
    it(`a wake event in D3hot while in ${NAME[m]} raises no PME until Active (SD11f)`, async () => {
      const r = await initialized();
      await d3hotWithPme(r);
      await r.admin.modeSetOk(1, m);
      await r.port(1).stimuli!.wake();
      expect(r.port(1).takeEvents()).toEqual([]);
      await r.admin.modeSetOk(1, DeviceMode.ACTIVE);
      expect(r.port(1).takeEvents().map((e) => e.kind)).toEqual(['pme']);
    });
  }

  it('a wake event in D3hot while Active raises PME at once', async () => {
    const r = await initialized();
    await d3hotWithPme(r);
    await r.port(1).stimuli!.wake();
    expect(r.port(1).takeEvents().map((e) => e.kind)).toEqual(['pme']);
  });
});
