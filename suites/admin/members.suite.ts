import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import { Status } from '../../protocol/status.ts';
import { DeviceMode, describeStatus, drainRange, hex, modeName, pageSizeBitmap, recordingUsable, recordStartData, sameBytes } from './helpers.ts';

conformanceTest(
  {
    id: 'admin.commands-target-named-member',
    title: 'Mode, context and write-record commands act only on the member named in group_member_id',
    requirements: ['admin.migration-cmd-targets-named-member'],
    commandSets: ['context'],
    members: 2,
    // Leaves context reads partial between commands to the other member, on purpose.
    breaks: ['driver.read-complete-context'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const req = 'admin.migration-cmd-targets-named-member';
    const { src, dst } = t;
    const others = t.session.transport.memberIds().filter((m) => m !== src && m !== dst);
    const modeOf = async (m: number) => {
      const r = await a.modeGet(m);
      t.require(req, r.status === Status.OK, `DEV_MODE_GET of member ${m}: ${describeStatus(r)}`);
      return r.result[0];
    };
    const othersBefore = new Map<number, number>();
    for (const m of others) othersBefore.set(m, await modeOf(m));

    await a.modeSetOk(src, DeviceMode.STOP);
    const d1 = await modeOf(dst);
    t.check(req, d1 === DeviceMode.ACTIVE, `DEV_MODE_SET Stop to member ${src} left member ${dst} in ${modeName(d1)} (it was Active)`);
    await a.modeSetOk(dst, DeviceMode.FREEZE);
    const s1 = await modeOf(src);
    t.check(req, s1 === DeviceMode.STOP, `DEV_MODE_SET Freeze to member ${dst} left member ${src} in ${modeName(s1)} (it was Stop)`);
    await a.modeSetOk(src, DeviceMode.FREEZE);

    // Context streams: one per member.
    const S = await a.readContext(src);
    await a.discardOk(src);
    const D = await a.readContext(dst);
    await a.discardOk(dst);
    t.require(undefined, S.length >= 24 && D.length >= 8, `contexts too short for the probe (${S.length} and ${D.length} bytes)`);
    const s0 = await a.ctxReadOk(src, 8);
    t.require(undefined, sameBytes(s0.data, S.subarray(0, 8)), `member ${src}: the first READ in Freeze does not return the start of its context`);
    const d0 = await a.ctxReadOk(dst, 8);
    t.check(req, sameBytes(d0.data, D.subarray(0, 8)), `member ${dst}: its first READ returned ${hex(d0.data)}, not the start of its own context ${hex(D.subarray(0, 8))} (member ${src} has a read in progress)`);
    await a.discardOk(dst);
    const s8 = await a.ctxReadOk(src, 8);
    t.check(req, sameBytes(s8.data, S.subarray(8, 16)), `member ${src}: after DEV_CTX_DISCARD to member ${dst}, its read did not continue (got ${hex(s8.data)}, expected ${hex(S.subarray(8, 16))})`);
    await a.modeSetOk(dst, DeviceMode.ACTIVE);
    const s2 = await modeOf(src);
    t.check(req, s2 === DeviceMode.FREEZE, `DEV_MODE_SET Active to member ${dst} left member ${src} in ${modeName(s2)} (it was Freeze)`);
    const rest = await a.readContext(src);
    t.check(req, sameBytes(rest, S.subarray(16)), `member ${src}: the rest of its context read differs from a full read (from byte 16: ${hex(rest)} vs ${hex(S.subarray(16))})`);
    await a.modeSetOk(src, DeviceMode.ACTIVE);

    if (recordingUsable(t)) {
      const d = recordStartData(await pageSizeBitmap(t));
      await a.recordsStartOk(src, d);
      const rr = await a.recordsRead(dst, d.entries[0].pageAddress, d.pageSize, 256);
      t.check(req, rr.status !== Status.OK, `DEV_WRITE_RECORDS_START to member ${src}: DEV_WRITE_RECORDS_READ to member ${dst} completes OK, as if recording had started there too`);
      await drainRange(t, src, d);
      await a.recordsStopOk(src);
      await a.recordsStartOk(dst, d);
      await a.recordsStopOk(src);
      const rr2 = await drainRange(t, dst, d);
      t.check(req, rr2.status === Status.OK, `DEV_WRITE_RECORDS_STOP to member ${src} stopped recording on member ${dst} (its READ: ${describeStatus(rr2)})`);
      await a.recordsStopOk(dst);
    }
    for (const [m, before] of othersBefore) {
      const now = await modeOf(m);
      t.check(req, now === before, `member ${m} (not addressed) went from ${modeName(before)} to ${modeName(now)}`);
    }
  },
);
