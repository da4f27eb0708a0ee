/**
 * SD14a: in Freeze a write to the member's virtio configuration changes no field. Judged after the
 * member is Active again: reads in Freeze may return anything (member.freeze-config-reads-any-value).
 */
import { conformanceTest } from '../../harness/ctest.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import type { RegisterWidth } from '../../protocol/member-port.ts';
import { CommonCfg, VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import { BlkConfig, BlkFeature } from '../../protocol/virtio-blk.ts';

const hex = (v: number) => `0x${(v >>> 0).toString(16)}`;

interface Field {
  name: string;
  read(): Promise<number>;
  write(v: number): Promise<void>;
  /** The value written in Freeze, given the value before. */
  probe(before: number): number;
}

conformanceTest(
  {
    id: 'member.freeze-config-writes-ignored',
    title: 'Writes in Freeze to common configuration registers and to the block writeback byte change nothing once the member is Active again',
    requirements: ['member.freeze-config-writes-ignored'],
    commandSets: ['context'],
    needs: ['member-port'],
    breaks: ['driver.member-no-config-access-in-stop-freeze', 'driver.member-no-virtio-access-in-freeze'],
  },
  async (t) => {
    const req = 'member.freeze-config-writes-ignored';
    const port = t.port(t.src);
    const wce = 1n << BigInt(BlkFeature.CONFIG_WCE);
    const drv = await t.guest(t.src, { queues: 1, features: wce });
    const common = (name: string, offset: number, width: RegisterWidth, probe: (b: number) => number): Field => ({
      name,
      read: () => port.commonCfgRead(offset, width),
      write: (v) => port.commonCfgWrite(offset, width, v),
      probe,
    });
    const fields: Field[] = [
      // queue_msix_vector first: it belongs to the selected queue, and queue_select is written later.
      common('queue_msix_vector', CommonCfg.QUEUE_MSIX_VECTOR.offset, 2, (b) => (b === 0xffff ? 0 : 0xffff)),
      common('config_msix_vector', CommonCfg.CONFIG_MSIX_VECTOR.offset, 2, (b) => (b === 0xffff ? 0 : 0xffff)),
      common('driver_feature_select', CommonCfg.DRIVER_FEATURE_SELECT.offset, 4, (b) => b ^ 1),
      common('device_feature_select', CommonCfg.DEVICE_FEATURE_SELECT.offset, 4, (b) => b ^ 1),
      common('queue_select', CommonCfg.QUEUE_SELECT.offset, 2, (b) => b ^ 1),
    ];
    if (port.virtioType === VirtioDeviceType.BLOCK && drv.features & wce) {
      fields.push({
        name: 'virtio_blk_config.writeback (VIRTIO_BLK_F_CONFIG_WCE negotiated)',
        read: () => port.deviceCfgRead(BlkConfig.WRITEBACK, 1),
        write: (v) => port.deviceCfgWrite(BlkConfig.WRITEBACK, 1, v),
        probe: (b) => (b ? 0 : 1),
      });
    } else t.finding('no device-configuration field was probed: the member is not a block device offering VIRTIO_BLK_F_CONFIG_WCE');

    const before: number[] = [];
    for (const f of fields) before.push(await f.read());
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    await t.admin.modeSetOk(t.src, DeviceMode.FREEZE);
    // Probe (negative, device-side): configuration writes in Freeze break
    // driver.member-no-config-access-in-stop-freeze and driver.member-no-virtio-access-in-freeze on purpose.
    for (const [i, f] of fields.entries()) await f.write(f.probe(before[i]));
    await t.admin.modeSetOk(t.src, DeviceMode.ACTIVE);

    const qselIndex = fields.findIndex((f) => f.name === 'queue_select');
    const qsel = await fields[qselIndex].read();
    t.check(req, qsel === before[qselIndex], `queue_select written in Freeze: ${hex(before[qselIndex])} before, ${hex(qsel)} after`);
    // Per-queue registers are read for the queue selected before the probe.
    if (qsel !== before[qselIndex]) await port.commonCfgWrite(CommonCfg.QUEUE_SELECT.offset, 2, before[qselIndex]);
    for (const [i, f] of fields.entries()) {
      if (i === qselIndex) continue;
      const v = await f.read();
      t.check(req, v === before[i], `${f.name} written in Freeze: ${hex(before[i])} before, ${hex(v)} after`);
    }
  },
);
