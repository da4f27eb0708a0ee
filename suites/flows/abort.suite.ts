import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import {
  copyPages,
  decodeContext,
  deviceStatus,
  equalBytes,
  GuestVm,
  judgeResume,
  readContext,
  readPart,
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
 * The abort paths of patch 1/8 ("the owner driver can discard any partially read or written device
 * context when any of the device migration flow should be aborted"), end to end:
 *
 * 1. A migration called off on the source: Stop, Freeze, a partial READ, DISCARD, back to Active. The
 *    guest runs on: requests notified during Stop are processed, none is lost or repeated.
 * 2. A second attempt: a partial READ is discarded and the context read again from its first byte.
 * 3. On the destination: half a context written then discarded, the whole context written as a new
 *    context, a retransmission cut short and discarded; then Active: the complete context written
 *    before the discarded bytes is the one in effect, and the guest runs on the destination.
 */
conformanceTest(
  {
    id: 'flows.abort-and-restart',
    title: 'An aborted migration (DISCARD of a partial read on the source, of partial writes on the destination) restarts cleanly',
    requirements: [Req.DISCARD_READ, Req.DISCARD_READ_RESTART, Req.DISCARD_WRITE, Req.DISCARD_WRITE_NEW, Req.STOP_KICKS, Req.SUFFICIENT, Req.RESUME_INDEX, Req.TRANSITIONS],
    commandSets: ['context'],
    needs: ['member-port', 'separate-memory'],
    members: 2,
  },
  async (t: ConformanceContext) => {
    const { src, dst } = t;
    const vm = await GuestVm.boot(t, src, 3);
    await warmUp(t, vm, 2);
    const status = await deviceStatus(t, src);

    // 1. The first attempt, called off after a partial READ.
    await vm.postTaken(2, 'before the first Stop (taken by the device)');
    await setMode(t, src, DeviceMode.STOP);
    await vm.releaseTaken();
    const notified = new Set(vm.postBatch(1, 'during the first Stop (notified)').map((r) => r.tag));
    await vm.kickAll();
    await setMode(t, src, DeviceMode.FREEZE);
    await readPart(t, src, 64, Req.DISCARD_READ, 'first attempt');
    t.requireOk(Req.DISCARD_READ, await t.admin.discard(src), 'DEV_CTX_DISCARD of the partial read on the source');
    t.requireOk(Req.DISCARD_READ, await t.admin.modeSet(src, DeviceMode.ACTIVE), 'DEV_MODE_SET Active on the source after DISCARD of its partial read (SD5: the read must not be partial any more)');
    // No new notification: what was notified during Stop must be processed now (SD11c).
    await vm.pollAll();
    const rule = (tag?: number) => (tag !== undefined && notified.has(tag) ? Req.STOP_KICKS : Req.DISCARD_READ);
    reportProblems(t, vm.takeProblems(), 'the source back in Active after the aborted attempt', (p) => rule(p.request?.tag));
    for (const r of vm.outstanding.values()) {
      if (vm.isBroken(r.queue)) continue;
      t.check(
        rule(r.tag),
        false,
        `the source back in Active after the aborted attempt: request ${r.tag} (${r.kind} of sector ${r.sector}, posted ${r.phase}) never completed${notified.has(r.tag) ? ' (its notification arrived during Stop)' : ''}`,
      );
    }
    vm.outstanding.clear();
    await workloadRound(t, vm, 2, 'new requests on the source after the aborted attempt', Req.DISCARD_READ);

    // 2. The second attempt: a partial READ discarded, then the whole context from its start.
    await vm.postTaken(2, 'before the second Stop (taken by the device)');
    await setMode(t, src, DeviceMode.STOP);
    await vm.releaseTaken();
    vm.postBatch(1, 'during the second Stop (notified)');
    await vm.kickAll();
    await setMode(t, src, DeviceMode.FREEZE);
    const head = await readPart(t, src, 64, Req.DISCARD_READ_RESTART, 'second attempt');
    t.requireOk(Req.DISCARD_READ_RESTART, await t.admin.discard(src), 'DEV_CTX_DISCARD of the partial read on the source');
    const bytes = await readContext(t, src, 4096, Req.DISCARD_READ_RESTART, 'context read again after DISCARD');
    t.check(Req.DISCARD_READ_RESTART, equalBytes(bytes.subarray(0, 64), head), `the context read after DISCARD does not begin with the ${head.length} bytes the discarded READ returned: it did not start over`);
    const at = resumePoint(t, decodeContext(t, bytes, Req.DISCARD_READ_RESTART, 'context read again after DISCARD'), Req.SUFFICIENT);

    // 3. The destination: partial write discarded, the whole context, a retransmission cut short and discarded.
    await setMode(t, dst, DeviceMode.FREEZE);
    const half = Math.max(8, Math.floor(bytes.length / 16) * 8);
    await writeContext(t, dst, bytes.subarray(0, half), 64, Req.DISCARD_WRITE, `first ${half} bytes of the context`);
    t.requireOk(Req.DISCARD_WRITE, await t.admin.discard(dst), 'DEV_CTX_DISCARD of the partial write on the destination');
    await writeContext(t, dst, bytes, 64, Req.DISCARD_WRITE_NEW, 'the whole context, written after DISCARD');
    await writeContext(t, dst, bytes.subarray(0, 64), 64, Req.DISCARD_WRITE, 'a retransmission of the context, cut short');
    t.requireOk(Req.DISCARD_WRITE, await t.admin.discard(dst), 'DEV_CTX_DISCARD of the cut-short retransmission');
    copyPages(t.port(src).memory, t.port(dst).memory, vm.arenaPages());
    await vm.rebind(dst);
    t.requireOk(Req.DISCARD_WRITE, await t.admin.modeSet(dst, DeviceMode.ACTIVE), 'DEV_MODE_SET Active on the destination after DISCARD of its partial write (SD5: the write must not be partial any more)');
    const now = await deviceStatus(t, dst);
    t.require(
      Req.DISCARD_WRITE,
      now === status,
      `after DISCARD of the cut-short retransmission the destination's device_status is 0x${now.toString(16)}, the source's was 0x${status.toString(16)}: the complete context written before the discarded bytes is not in effect`,
    );
    await judgeResume(t, vm, at, `after the restarted migration from member ${src} to member ${dst}`);
    await workloadRound(t, vm, 4, 'new requests on the destination', Req.SUFFICIENT);
    await vm.verifyDisk('read-back of every sector written');
    reportProblems(t, vm.takeProblems(), 'read-back on the destination', () => Req.SUFFICIENT);
    reportLost(t, vm, Req.SUFFICIENT, 'read-back on the destination');
  },
);
