import { describe, expect, it } from 'vitest';
import { PciCapType } from '../../protocol/pci-common-cfg.ts';
import { discoverLayout } from '../../transports/virtio-pci/capabilities.ts';
import { VirtioPciError } from '../../transports/virtio-pci/errors.ts';
import { ConfigOnlyFunction } from './config-only-function.ts';

/** The three structures a driver needs, at 0x40, 0x50 and 0x64. */
function sound(): ConfigOnlyFunction {
  return new ConfigOnlyFunction()
    .virtio(0x40, { cfgType: PciCapType.COMMON_CFG, offset: 0, length: 64 })
    .virtio(0x50, { cfgType: PciCapType.NOTIFY_CFG, offset: 0x1000, length: 0x100, extra: 4 })
    .virtio(0x64, { cfgType: PciCapType.ISR_CFG, offset: 0x2000, length: 1 });
}

describe('virtio-pci capability discovery', () => {
  it('finds common, notify (with its multiplier) and ISR, and no device config when there is none', async () => {
    const l = await discoverLayout(sound());
    expect(l.common).toEqual({ bar: 0, offset: 0, length: 64 });
    expect(l.notify).toEqual({ bar: 0, offset: 0x1000, length: 0x100, multiplier: 4 });
    expect(l.isr).toEqual({ bar: 0, offset: 0x2000, length: 1 });
    expect(l.device).toBeUndefined();
    expect(l.skipped).toEqual([]);
  });

  it('ignores a reserved cfg_type and a reserved BAR, and takes the next usable instance', async () => {
    const f = sound()
      .virtio(0x74, { cfgType: 6, offset: 0x3000 })
      .virtio(0x84, { cfgType: PciCapType.DEVICE_CFG, bar: 7, offset: 0x4000 })
      .virtio(0x94, { cfgType: PciCapType.DEVICE_CFG, bar: 0, offset: 0x5000, length: 8 });
    const l = await discoverLayout(f);
    expect(l.device).toEqual({ bar: 0, offset: 0x5000, length: 8 });
    expect(l.skipped.join('\n')).toMatch(/reserved cfg_type/);
    expect(l.skipped.join('\n')).toMatch(/reserved bar 7/);
  });

  it('uses the first instance of a type (the device lists them in order of preference)', async () => {
    const f = sound().virtio(0x74, { cfgType: PciCapType.ISR_CFG, offset: 0x2800, length: 1 });
    expect((await discoverLayout(f)).isr.offset).toBe(0x2000);
  });

  it('accepts a cap_len longer than the structure', async () => {
    const f = new ConfigOnlyFunction()
      .virtio(0x40, { cfgType: PciCapType.COMMON_CFG, offset: 0, length: 64, capLen: 32 })
      .virtio(0x60, { cfgType: PciCapType.NOTIFY_CFG, offset: 0x1000, length: 0x100, extra: 2, capLen: 24 })
      .virtio(0x78, { cfgType: PciCapType.ISR_CFG, offset: 0x2000, length: 1, capLen: 20 });
    const l = await discoverLayout(f);
    expect(l.notify.multiplier).toBe(2);
  });

  it('skips a structure on a BAR the function does not implement, or one that runs past its BAR', async () => {
    const f = new ConfigOnlyFunction([{ index: 0, size: 0x1000n, kind: 'memory', is64: false, prefetchable: false }])
      .virtio(0x40, { cfgType: PciCapType.COMMON_CFG, bar: 2, offset: 0, length: 64 })
      .virtio(0x50, { cfgType: PciCapType.NOTIFY_CFG, offset: 0x800, length: 0x100, extra: 4 })
      .virtio(0x64, { cfgType: PciCapType.ISR_CFG, offset: 0xfff, length: 2 });
    const e = await discoverLayout(f).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(VirtioPciError);
    expect(String(e)).toMatch(/no usable VIRTIO_PCI_CAP_COMMON_CFG/);
    expect(String(e)).toMatch(/BAR 2 is not implemented/);
  });

  it('refuses a common configuration too short for struct virtio_pci_common_cfg', async () => {
    const f = new ConfigOnlyFunction()
      .virtio(0x40, { cfgType: PciCapType.COMMON_CFG, offset: 0, length: 32 })
      .virtio(0x50, { cfgType: PciCapType.NOTIFY_CFG, offset: 0x1000, length: 0x100, extra: 4 })
      .virtio(0x64, { cfgType: PciCapType.ISR_CFG, offset: 0x2000, length: 1 });
    await expect(discoverLayout(f)).rejects.toThrow(/cannot hold struct virtio_pci_common_cfg/);
  });

  it('refuses a notify capability without room for notify_off_multiplier', async () => {
    const f = new ConfigOnlyFunction()
      .virtio(0x40, { cfgType: PciCapType.COMMON_CFG, offset: 0, length: 64 })
      .virtio(0x50, { cfgType: PciCapType.NOTIFY_CFG, offset: 0x1000, length: 0x100 })
      .virtio(0x64, { cfgType: PciCapType.ISR_CFG, offset: 0x2000, length: 1 });
    await expect(discoverLayout(f)).rejects.toThrow(/VIRTIO_PCI_CAP_NOTIFY_CFG.*cap_len 16 is shorter than the 20 bytes/);
  });

  it('refuses a capability list that loops, with one message', async () => {
    const f = sound();
    f.bytes[0x64 + 1] = 0x40;
    await expect(discoverLayout(f)).rejects.toThrow(/capability list is broken: .*loops/);
  });

  it('refuses a virtio capability that runs past the standard configuration space', async () => {
    const f = sound().virtio(0xf4, { cfgType: PciCapType.NOTIFY_CFG, offset: 0x1000, length: 0x100, extra: 4 });
    await expect(discoverLayout(f)).rejects.toThrow(/at 0xf4 needs 20 bytes and runs past the end of the standard configuration space/);
  });
});
