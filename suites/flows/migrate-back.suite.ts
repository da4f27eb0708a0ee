import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import { BlkConfig } from '../../protocol/virtio-blk.ts';
import { CommonCfg, VIRTIO_MSI_NO_VECTOR } from '../../protocol/pci-common-cfg.ts';
import { deviceStatus, GuestVm, judgeResume, Req, reportLost, reportProblems, setMode, stopAndCopyTo, warmUp, workloadRound } from './flow-kit.ts';

/**
 * A guest migrated there and back, end to end: stop-and-copy from the source to the destination
 * (which goes Freeze -> Active), the guest runs and changes its device configuration there, then
 * stop-and-copy back to the original member, which has waited in Freeze since it was migrated out
 * and now goes Freeze -> Stop -> Active (the written context takes effect on leaving Freeze for Stop
 * as well). Every request completes exactly once on the member it is running on, and the disk holds
 * what the guest wrote on either side.
 */
conformanceTest(
  {
    id: 'flows.migrate-back',
    title: 'Migration there and back (destination to source, the source resumed through Stop): no request lost or repeated',
    requirements: [Req.SUFFICIENT, Req.RESUME_INDEX, Req.EFFECTIVE, Req.TRANSITIONS],
    commandSets: ['context'],
    needs: ['member-port', 'separate-memory'],
    members: 2,
  },
  async (t: ConformanceContext) => {
    const { src, dst } = t;
    const vm = await GuestVm.boot(t, src, 4);
    const writeback = vm.writeback.supported && (await vm.setWriteback(0)) === 0 ? 0 : undefined;
    await warmUp(t, vm, 1);
    const status = await deviceStatus(t, src);

    // There.
    const there = await stopAndCopyTo(t, vm, dst, 'on the way there');
    await setMode(t, dst, DeviceMode.ACTIVE, Req.EFFECTIVE);
    const st1 = await deviceStatus(t, dst);
    t.require(Req.EFFECTIVE, st1 === status, `member ${dst} after Freeze -> Active: device_status 0x${st1.toString(16)}, the guest's is 0x${status.toString(16)}: the written context is not in effect`);
    await judgeResume(t, vm, there, `after the migration from member ${src} to member ${dst}`);
    await workloadRound(t, vm, 4, `new requests on member ${dst}`, Req.SUFFICIENT);
    if (writeback !== undefined) await vm.setWriteback(1);
    // The guest also turns its configuration interrupt off there: the original member still holds the old
    // vector, so reading the new one back after the return shows the written context took effect.
    const cfgVector = CommonCfg.CONFIG_MSIX_VECTOR.offset;
    const oldVector = await vm.port.commonCfgRead(cfgVector, 2);
    await vm.port.commonCfgWrite(cfgVector, 2, VIRTIO_MSI_NO_VECTOR);
    const newVector = await vm.port.commonCfgRead(cfgVector, 2);
    t.require(Req.SUFFICIENT, newVector === VIRTIO_MSI_NO_VECTOR, `member ${dst} reads config_msix_vector 0x${newVector.toString(16)} after the guest wrote VIRTIO_MSI_NO_VECTOR`);

    // And back, to the member that has waited in Freeze since the guest left it.
    const back = await stopAndCopyTo(t, vm, src, 'on the way back');
    await setMode(t, src, DeviceMode.STOP, Req.EFFECTIVE);
    await setMode(t, src, DeviceMode.ACTIVE);
    const st2 = await deviceStatus(t, src);
    const vector = await vm.port.commonCfgRead(cfgVector, 2);
    t.require(
      Req.EFFECTIVE,
      st2 === status && vector === newVector,
      `member ${src} after Freeze -> Stop -> Active: device_status 0x${st2.toString(16)} (the guest's is 0x${status.toString(16)}), config_msix_vector 0x${vector.toString(16)} (the guest set 0x${newVector.toString(16)} on member ${dst}, it was 0x${oldVector.toString(16)} before): the context written in Freeze is not in effect`,
    );
    if (writeback !== undefined) {
      const wb = await vm.port.deviceCfgRead(BlkConfig.WRITEBACK, 1);
      t.check(Req.SUFFICIENT, wb === vm.writeback.value, `virtio_blk_config.writeback reads ${wb} on member ${src}, the guest set ${vm.writeback.value} on member ${dst}: the device configuration did not migrate back`);
    }
    await judgeResume(t, vm, back, `after the migration back from member ${dst} to member ${src}`);
    await workloadRound(t, vm, 4, `new requests on member ${src}`, Req.SUFFICIENT);
    await vm.verifyDisk('read-back of every sector written');
    reportProblems(t, vm.takeProblems(), 'read-back after the migration back', () => Req.SUFFICIENT);
    reportLost(t, vm, Req.SUFFICIENT, 'read-back after the migration back');
  },
);
