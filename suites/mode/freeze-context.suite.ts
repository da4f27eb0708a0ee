import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import { CommonCfg, VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import { BlkConfig, BlkFeature } from '../../protocol/virtio-blk.ts';
import { firstDifference, hex, sameBytes } from '../admin/helpers.ts';

conformanceTest(
  {
    id: 'mode.freeze-context-unchanged',
    title: 'In Freeze the device context does not change: complete reads separated by DEV_CTX_DISCARD (and, with a member port, doorbells and register writes) are identical',
    requirements: ['mode.freeze-context-unchanged'],
    commandSets: ['context'],
    // With a member port, rings a doorbell and writes registers of the frozen member on purpose.
    breaks: ['driver.member-no-virtio-access-in-freeze', 'driver.member-no-config-access-in-stop-freeze'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const req = 'mode.freeze-context-unchanged';
    const port = t.session.transport.capabilities.memberPort ? t.port(t.src) : undefined;
    // With a member port, a live member (queues set up, DRIVER_OK), so the context has something to lose;
    // a block member also gets its one writable configuration field (writeback, with CONFIG_WCE).
    const block = port?.virtioType === VirtioDeviceType.BLOCK;
    if (port) await t.guest(t.src, block ? { features: 1n << BigInt(BlkFeature.CONFIG_WCE) } : undefined);
    const wce = block && port ? await port.deviceCfgRead(BlkConfig.WRITEBACK, 1) : undefined;
    await a.modeSetOk(t.src, DeviceMode.STOP);
    await a.modeSetOk(t.src, DeviceMode.FREEZE);
    const first = await a.readContext(t.src);
    t.require(undefined, first.length > 0, 'the first context read in Freeze returned no bytes');
    const reads: { what: string; bytes: Uint8Array }[] = [];
    await a.discardOk(t.src);
    reads.push({ what: 'after DEV_CTX_DISCARD', bytes: await a.readContext(t.src) });
    await a.discardOk(t.src);
    await a.sizeGet(t.src, 0);
    if (port) {
      await port.notify(0);
      await port.commonCfgWrite(CommonCfg.QUEUE_SELECT.offset, 2, 0);
      await port.commonCfgWrite(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2, 0x7);
      if (wce !== undefined) await port.deviceCfgWrite(BlkConfig.WRITEBACK, 1, wce ^ 1);
      await port.settle(port.timing.quietMs);
    }
    reads.push({ what: port ? 'after DEV_CTX_DISCARD, DEV_CTX_SIZE_GET, a doorbell and configuration writes' : 'after DEV_CTX_DISCARD and DEV_CTX_SIZE_GET', bytes: await a.readContext(t.src) });
    for (const r of reads) {
      if (r.bytes.length === 0) {
        // DISCARD should restart the stream (SD8); that is another rule's business.
        t.finding(`the context read in Freeze ${r.what} returned nothing (after DEV_CTX_DISCARD a READ should start a new stream, SD8); not compared`);
        continue;
      }
      const at = firstDifference(first, r.bytes);
      t.check(req, sameBytes(first, r.bytes), `the context read in Freeze ${r.what} differs from the first one (${r.bytes.length} vs ${first.length} bytes; first difference at byte ${at}: ${hex(r.bytes.subarray(at, at + 16))} vs ${hex(first.subarray(at, at + 16))})`);
    }
  },
);
