import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import { BlkConfig } from '../../protocol/virtio-blk.ts';
import {
  copyPages,
  decodeContext,
  deviceStatus,
  driverFeatures,
  GuestVm,
  judgeResume,
  readContext,
  Req,
  reportLost,
  reportProblems,
  resumePoint,
  setMode,
  warmUp,
  workloadRound,
  writeContext,
} from './flow-kit.ts';

/**
 * The stop-and-copy flow of patch 1/8, end to end. The harness is both hypervisors: a block guest
 * runs on the source member with requests in every state at the moment of Stop (completed, taken by
 * the device, made available and notified during Stop); the source goes Stop then Freeze and its
 * context is read in small chunks; the destination goes Active -> Freeze, takes the context in small
 * chunks, gets the guest's memory and PCI state, and goes Active. The guest then runs on the
 * destination: each request completes exactly once with the right data, new requests work, and the
 * disk holds what the guest wrote.
 */
conformanceTest(
  {
    id: 'flows.stop-and-copy',
    title: 'Stop-and-copy migration of a block guest with requests in flight: every request completes exactly once on the destination',
    requirements: [Req.SUFFICIENT, Req.RESUME_INDEX, Req.EFFECTIVE, Req.WRITE_MULTI, Req.READ_MULTI, Req.TRANSITIONS],
    commandSets: ['context'],
    needs: ['member-port', 'separate-memory'],
    members: 2,
  },
  async (t: ConformanceContext) => {
    const { src, dst } = t;
    const vm = await GuestVm.boot(t, src, 0);
    // A device configuration the context has to carry: writeback off (virtio_blk_config, CONFIG_WCE).
    const writeback = vm.writeback.supported && (await vm.setWriteback(0)) === 0 ? 0 : undefined;
    if (writeback === undefined) t.finding('the guest cannot set virtio_blk_config.writeback (VIRTIO_BLK_F_CONFIG_WCE not offered, or the write did not take): the device configuration is checked only through the workload');
    await warmUp(t, vm, 2);
    const status = await deviceStatus(t, src);

    // Requests the device takes before Stop, then requests made available and notified in Stop (SD11c).
    await vm.postTaken(3, 'before Stop (taken by the device)');
    await setMode(t, src, DeviceMode.STOP);
    await vm.releaseTaken();
    vm.postBatch(2, 'during Stop (notified)');
    await vm.kickAll();
    // The guest is paused: the member driver stops accessing the member, the owner freezes it.
    await setMode(t, src, DeviceMode.FREEZE);
    const bytes = await readContext(t, src, 40, Req.READ_MULTI, 'source context in 40-byte READs');
    const at = resumePoint(t, decodeContext(t, bytes, Req.READ_MULTI, 'source context read in 40-byte READs'), Req.SUFFICIENT);

    await setMode(t, dst, DeviceMode.FREEZE);
    await writeContext(t, dst, bytes, 24, Req.WRITE_MULTI, 'source context in 24-byte WRITEs');
    copyPages(t.port(src).memory, t.port(dst).memory, vm.arenaPages());
    // The hypervisor restores the VF's PCI state (bus mastering, MSI-X) itself: not part of the context.
    await vm.rebind(dst);
    await setMode(t, dst, DeviceMode.ACTIVE, Req.EFFECTIVE);

    const now = await deviceStatus(t, dst);
    t.require(Req.EFFECTIVE, now === status, `after Freeze -> Active the destination's device_status is 0x${now.toString(16)}, the source's was 0x${status.toString(16)}: the written context is not in effect`);
    const features = await driverFeatures(t.port(dst));
    t.check(Req.SUFFICIENT, features === vm.drv.features, `the destination reports driver features 0x${features.toString(16)}, the guest negotiated 0x${vm.drv.features.toString(16)} on the source`);
    if (writeback !== undefined) {
      const wb = await vm.port.deviceCfgRead(BlkConfig.WRITEBACK, 1);
      t.check(Req.SUFFICIENT, wb === writeback, `virtio_blk_config.writeback reads ${wb} on the destination, the guest set ${writeback} on the source: the device configuration did not migrate`);
    }

    await judgeResume(t, vm, at, `after stop-and-copy from member ${src} to member ${dst}`);
    await workloadRound(t, vm, 4, 'new requests on the destination', Req.SUFFICIENT);
    await vm.verifyDisk('read-back of every sector written');
    reportProblems(t, vm.takeProblems(), 'read-back on the destination', () => Req.SUFFICIENT);
    reportLost(t, vm, Req.SUFFICIENT, 'read-back on the destination');
  },
);
