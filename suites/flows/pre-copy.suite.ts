import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import { BlkConfig } from '../../protocol/virtio-blk.ts';
import {
  ArenaRecording,
  copyPages,
  decodeContext,
  differingPages,
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
 * The "alternative flow" of patch 1/8 with write recording (patches 6 to 8), end to end: the source
 * records its writes to the guest's memory while it runs; a first context is read in Active and
 * written to the destination, which waits in Freeze; guest memory is copied, then copied again page
 * by page as write records (device writes) and the hypervisor's own log (guest CPU writes) report
 * dirty pages, while the workload goes on; then Stop, Freeze, a final context read and written, a
 * final copy of what is still dirty, STOP of recording, and the destination goes Active. Every page
 * of guest memory must then be the same on both sides (a device write the records missed shows as a
 * difference), the destination must use the last context written, and no request is lost or repeated.
 */
async function preCopy(t: ConformanceContext, slot: number, dmaCheck: boolean): Promise<void> {
  const { src, dst } = t;
  const vm = await GuestVm.boot(t, src, slot);
  const srcMem = t.port(src).memory;
  const dstMem = t.port(dst).memory;
  // The first context carries writeback 0; the guest sets it to 1 before Stop, so the last context carries 1.
  const writeback = vm.writeback.supported && (await vm.setWriteback(0)) === 0 ? 0 : undefined;
  if (writeback === undefined) t.finding('the guest cannot set virtio_blk_config.writeback (VIRTIO_BLK_F_CONFIG_WCE not offered, or the write did not take): which context the destination applied is judged from the workload only');
  await warmUp(t, vm, 1);

  const rec = await ArenaRecording.start(t, vm, Req.RECORDS_IN_RANGE);
  t.port(src).takeDmaLog();
  await setMode(t, dst, DeviceMode.FREEZE);
  const first = await readContext(t, src, 4096, Req.READ_EVERY_MODE, 'first context, read while the source is Active');
  decodeContext(t, first, Req.READ_EVERY_MODE, 'first context, read in Active');
  await writeContext(t, dst, first, 64, Req.WRITE_AGAIN, 'first context');
  copyPages(srcMem, dstMem, vm.arenaPages());
  vm.takeCpuDirty();

  /** One copy pass: what the records and the CPU log say is dirty goes to the destination. */
  const pass = async (label: string): Promise<void> => {
    const dma = dmaCheck ? t.port(src).takeDmaLog() : [];
    const recorded = await rec.drain(Req.RECORDS_IN_RANGE);
    if (dmaCheck) {
      const got = new Set(recorded);
      const missed = new Set<bigint>();
      for (const a of dma) if (a.kind === 'write') for (const p of rec.pagesOf(a)) if (!got.has(p)) missed.add(p);
      t.check(
        Req.RECORDS_IN_RANGE,
        missed.size === 0,
        `${label}: the device wrote ${missed.size} page(s) inside the started range that WRITE_RECORDS_READ did not report (${[...missed].slice(0, 4).map((p) => `0x${p.toString(16)}`).join(', ')})`,
      );
    }
    copyPages(srcMem, dstMem, recorded, rec.pageSize);
    copyPages(srcMem, dstMem, vm.takeCpuDirty());
  };

  // Pre-copy rounds: the guest keeps working on the source.
  for (let r = 1; r <= 3; r++) {
    vm.postBatch(4, `pre-copy round ${r}`);
    await vm.kickAll();
    await vm.pollAll();
    const bad = vm.takeProblems();
    if (bad.length || vm.outstanding.size) t.notTested(`the block workload does not run on member ${src} while write recording is on: ${bad[0]?.message ?? `${vm.outstanding.size} request(s) never completed`}`);
    if (r === 2 && writeback !== undefined) await vm.setWriteback(1);
    await pass(`pre-copy pass ${r}`);
  }

  // The last round: some requests complete after the last copy pass (only the device writes their
  // pages now), others are taken by the device and still in flight at Stop.
  const completing = vm.postBatch(2, 'completed after the last pass before Stop');
  await vm.kickAll();
  await pass('last pass before Stop');
  await vm.pollFor(completing);
  await vm.postTaken(2, 'taken by the device, in flight at Stop');
  await setMode(t, src, DeviceMode.STOP);
  await vm.releaseTaken();
  await setMode(t, src, DeviceMode.FREEZE);

  const last = await readContext(t, src, 4096, Req.READ_NEW_STREAM, 'final context, read in Freeze after the one read in Active');
  const at = resumePoint(t, decodeContext(t, last, Req.READ_NEW_STREAM, 'final context, read in Freeze after the one read in Active'), Req.SUFFICIENT);
  await writeContext(t, dst, last, 64, Req.WRITE_AGAIN, 'final context (the second complete context of this Freeze)');
  await pass('final pass, source in Freeze');
  const diff = differingPages(srcMem, dstMem, vm.arenaPages());
  t.check(
    Req.RECORDS_IN_RANGE,
    diff.length === 0,
    `after the final copy ${diff.length} page(s) of guest memory differ between source and destination (${diff
      .slice(0, 4)
      .map((p) => `0x${p.toString(16)}`)
      .join(', ')}): device writes the write records did not report`,
  );
  await rec.stop();

  await vm.rebind(dst);
  await setMode(t, dst, DeviceMode.ACTIVE);
  if (writeback !== undefined) {
    const now = await vm.port.deviceCfgRead(BlkConfig.WRITEBACK, 1);
    t.check(Req.LAST_WRITTEN, now === vm.writeback.value, `virtio_blk_config.writeback reads ${now} on the destination: the last context written carries ${vm.writeback.value}, the first carried ${writeback}`);
  }
  await judgeResume(t, vm, at, `after pre-copy from member ${src} to member ${dst}`);
  await workloadRound(t, vm, 4, 'new requests on the destination', Req.SUFFICIENT);
  await vm.verifyDisk('read-back of every sector written');
  reportProblems(t, vm.takeProblems(), 'read-back on the destination', () => Req.SUFFICIENT);
  reportLost(t, vm, Req.SUFFICIENT, 'read-back on the destination');
}

const REQUIREMENTS = [Req.RECORDS_IN_RANGE, Req.READ_EVERY_MODE, Req.READ_NEW_STREAM, Req.WRITE_AGAIN, Req.LAST_WRITTEN, Req.SUFFICIENT, Req.RESUME_INDEX, Req.TRANSITIONS];

conformanceTest(
  {
    id: 'flows.pre-copy',
    title: 'Pre-copy migration with write recording: guest memory byte-equal on the destination, the last context used, no request lost or repeated',
    requirements: REQUIREMENTS,
    commandSets: ['context', 'write-record'],
    needs: ['member-port', 'separate-memory'],
    members: 2,
  },
  (t) => preCopy(t, 1, false),
);

conformanceTest(
  {
    id: 'flows.pre-copy-dma',
    title: 'Pre-copy migration with write recording, each copy pass also checked against the observed device writes (DMA log)',
    requirements: REQUIREMENTS,
    commandSets: ['context', 'write-record'],
    needs: ['member-port', 'separate-memory', 'dma-observation'],
    members: 2,
  },
  (t) => preCopy(t, 2, true),
);
