import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { alignUp } from '../../protocol/bytes.ts';
import { DevCtxType } from '../../protocol/device-context.ts';
import {
  ACTIVE,
  BREAKS,
  concat,
  contextVq0,
  cutStream,
  equalBytes,
  FREEZE,
  inspectContext,
  mode,
  ok,
  programText,
  R,
  readOnce,
  readToEnd,
  sameVq,
  st,
  STOP,
  twoStates,
  vqText,
  walkContext,
  writeAll,
  writeChunks,
} from './ctx-support.ts';

// DEV_CTX_DISCARD (patch 4/8 "Device Context Discard Command"; SD8, SD13; E15, E17). The probes leave a
// read or a write partial on purpose (breaking driver.read-complete-context / driver.write-complete-context).

/** Why `bytes` is not a whole context stream from its field_count on (undefined when it is one). */
function notWhole(t: ConformanceContext, bytes: Uint8Array): string | undefined {
  const w = walkContext(bytes, t.wire.ctxStreamAlignment);
  if (w.fieldCount < 0) return `${bytes.length} bytes, shorter than a field_count`;
  if (w.overrun) return w.overrun;
  if (w.tlvs.length !== w.fieldCount || w.trailing) return `field_count ${w.fieldCount}, but ${w.tlvs.length} fields and ${w.trailing} more bytes follow`;
  return undefined;
}

/** The first bytes of a context up to the end of its first field of `type` (rounded up to 8), or of its second field. */
function partialOf(t: ConformanceContext, ctx: Uint8Array, type: number = DevCtxType.PCI_VQ_CFG): Uint8Array {
  const a = t.wire.ctxStreamAlignment;
  const tlvs = walkContext(ctx, a).tlvs;
  const i = Math.max(1, tlvs.findIndex((f) => f.type === type));
  const f = tlvs[Math.min(i, tlvs.length - 1)];
  const end = f.offset + 16 + f.value.length;
  let cut = alignUp(end, 8);
  if (cut >= ctx.length) cut = Math.floor((ctx.length - 1) / 8) * 8;
  t.require(undefined, cut > 0 && cut < ctx.length, `cannot cut a ${ctx.length}-byte context into a partial write`);
  return ctx.subarray(0, cut);
}

conformanceTest(
  {
    id: 'ctx-discard.partial-read-each-mode',
    title: 'After a partial READ in Active, Stop or Freeze, DISCARD succeeds and MODE_SET to Active or Stop is allowed again',
    requirements: [R.discardRead],
    commandSets: ['context'],
    breaks: [BREAKS.partialRead],
  },
  async (t: ConformanceContext) => {
    for (const [m, next] of [[ACTIVE, STOP], [STOP, ACTIVE], [FREEZE, STOP]] as const) {
      await t.admin.modeSetOk(t.src, m);
      const first = await readOnce(t, t.src, 8);
      t.require(undefined, first.contextLen === 8, `an 8-byte READ in ${mode(m)} returned ${first.contextLen} bytes: the context cannot be left partially read`);
      if (!t.expectOk(R.discardRead, await t.admin.discard(t.src), `DEV_CTX_DISCARD after a partial read in ${mode(m)}`)) {
        await readToEnd(t, t.src);
        await t.admin.modeSetOk(t.src, next);
        continue;
      }
      const r = await t.admin.modeSet(t.src, next);
      t.check(R.discardRead, ok(r), `MODE_SET ${mode(next)} after a partial read in ${mode(m)} and DISCARD answered ${st(r)}: the read in progress was not discarded (SD8)`);
      if (!ok(r)) {
        await readToEnd(t, t.src);
        await t.admin.modeSetOk(t.src, next);
      }
    }
  },
);

conformanceTest(
  {
    id: 'ctx-discard.read-restarts',
    title: 'After a partial READ and DISCARD, READ returns the context of the mode from its start (Active, Stop, Freeze)',
    requirements: [R.discardReadRestart],
    commandSets: ['context'],
    breaks: [BREAKS.partialRead],
  },
  async (t: ConformanceContext) => {
    for (const m of [ACTIVE, STOP, FREEZE]) {
      await t.admin.modeSetOk(t.src, m);
      const head = concat([(await readOnce(t, t.src, 8)).data, (await readOnce(t, t.src, 16)).data]);
      t.require(undefined, head.length === 24, `24 bytes of READ in ${mode(m)} returned ${head.length}: the context cannot be left partially read`);
      await t.admin.discardOk(t.src);
      const again = (await readToEnd(t, t.src)).bytes;
      const why = notWhole(t, again);
      t.check(R.discardReadRestart, why === undefined, `the stream read in ${mode(m)} after DISCARD is not a whole context from its field_count on (${why}): READ did not start over (SD8, E17)`);
      // In Freeze the context cannot change (SD11g): the restarted stream begins with the same bytes.
      if (m === FREEZE) t.check(R.discardReadRestart, equalBytes(again.subarray(0, 24), head), `in Freeze, the first 24 bytes read after DISCARD differ from the 24 read before it`);
    }
  },
);

conformanceTest(
  {
    id: 'ctx-discard.size-restarts',
    title: 'In Freeze, after a partial READ and DISCARD, SIZE_GET reports what it reported before any READ',
    requirements: [R.discardSizeRestart],
    commandSets: ['context'],
    breaks: [BREAKS.partialRead],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    const before = [await t.admin.sizeGetOk(t.src, 0), await t.admin.sizeGetOk(t.src, 1)];
    const n = (await readOnce(t, t.src, 8)).contextLen + (await readOnce(t, t.src, 8)).contextLen;
    t.require(undefined, n === 16, `16 bytes of READ returned ${n}: the context cannot be left partially read`);
    await t.admin.discardOk(t.src);
    for (const fm of [0, 1] as const) {
      const r = await t.admin.sizeGet(t.src, fm);
      if (!t.expectOk(R.discardSizeRestart, r, `SIZE_GET freeze_mode ${fm} after DISCARD`)) continue;
      const after = r.result.length >= 8 ? new DataView(r.result.buffer, r.result.byteOffset, 8).getBigUint64(0, true) : -1n;
      t.check(R.discardSizeRestart, after === before[fm], `SIZE_GET freeze_mode ${fm} returned ${before[fm]} before any READ in Freeze and ${after} after 16 bytes were read and discarded; expected the same as if no READ had been received (SD8, E17)`);
    }
    await readToEnd(t, t.src);
  },
);

conformanceTest(
  {
    id: 'ctx-discard.partial-write',
    title: 'In Freeze, after a partial WRITE, DISCARD succeeds and MODE_SET Active is allowed',
    requirements: [R.discardWrite],
    commandSets: ['context'],
    breaks: [BREAKS.partialWrite],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    const ctx = (await readToEnd(t, t.src)).bytes;
    inspectContext(t, ctx, 'use', 'the Freeze context');
    const part = partialOf(t, ctx);
    const w = await writeChunks(t, t.src, cutStream(part, [16]));
    t.require(undefined, !w.refused, `a WRITE of the first ${part.length} bytes of the context answered ${w.refused ? st(w.refused) : ''}`);
    // A DISCARD that failed discarded nothing (P4): leaving Freeze now would break driver.no-leave-freeze-with-partial-write.
    if (!t.expectOk(R.discardWrite, await t.admin.discard(t.src), `DEV_CTX_DISCARD after ${part.length} of ${ctx.length} context bytes were written`)) return;
    const r = await t.admin.modeSet(t.src, ACTIVE);
    t.check(R.discardWrite, ok(r), `MODE_SET Active after a partial write and DISCARD answered ${st(r)}: the partial context was not discarded (SD13)`);
  },
);

conformanceTest(
  {
    id: 'ctx-discard.partial-write-not-applied',
    title: 'DISCARD after a partial WRITE: the member leaves Freeze as if those WRITEs never came, keeping a complete context written before them',
    requirements: [R.discardWrite],
    commandSets: ['context'],
    needs: ['member-port'],
    breaks: [BREAKS.partialWrite],
  },
  async (t: ConformanceContext) => {
    const s = await twoStates(t, t.src);
    await t.admin.modeSetOk(t.src, STOP);
    // 1. A partial context A (queue 0 included), discarded: the member keeps its own state B.
    await t.admin.modeSetOk(t.src, FREEZE);
    const ctxB = (await readToEnd(t, t.src)).bytes;
    const partA = partialOf(t, s.ctxA);
    const w1 = await writeChunks(t, t.src, cutStream(partA, [8, 16]));
    t.require(undefined, !w1.refused, `a WRITE of the first ${partA.length} bytes of context A answered ${w1.refused ? st(w1.refused) : ''}`);
    await t.admin.discardOk(t.src);
    const r1 = await t.admin.modeSet(t.src, STOP);
    t.require(R.discardWrite, ok(r1), `MODE_SET Stop after a partial write and DISCARD answered ${st(r1)} (SD13)`);
    const vq1 = await contextVq0(t, t.src, 'the context read in Stop');
    t.check(R.discardWrite, sameVq(vq1, s.b), `after a partial context A (queue 0 included) was written and discarded, queue 0 is ${vqText(vq1)}, not the member's own ${programText(s.b)}: the discarded WRITEs took effect`);
    // 2. A complete context A, then a partial context B, discarded: context A is still the one written.
    await t.admin.modeSetOk(t.src, FREEZE);
    const full = await writeAll(t, t.src, s.ctxA);
    t.require(undefined, !full.refused, `DEV_CTX_WRITE of the complete context A answered ${full.refused ? st(full.refused) : ''}`);
    const partB = partialOf(t, ctxB);
    const w2 = await writeChunks(t, t.src, cutStream(partB, [16]));
    t.require(undefined, !w2.refused, `a WRITE of the first ${partB.length} bytes of context B answered ${w2.refused ? st(w2.refused) : ''}`);
    await t.admin.discardOk(t.src);
    const r2 = await t.admin.modeSet(t.src, STOP);
    t.require(R.discardWrite, ok(r2), `MODE_SET Stop after complete context A, partial context B and DISCARD answered ${st(r2)} (SD13)`);
    const vq2 = await contextVq0(t, t.src, 'the context read in Stop');
    t.check(
      R.discardWrite,
      sameVq(vq2, s.a),
      `complete context A, then a partial context B, then DISCARD: queue 0 is ${vqText(vq2)}; the complete context A (${programText(s.a)}) written before the discarded WRITEs must be the one applied`,
    );
  },
);

conformanceTest(
  {
    id: 'ctx-discard.write-after-discard',
    title: 'After a partial WRITE and DISCARD, the next WRITEs start a new context from its field_count',
    requirements: [R.discardNewWrite],
    commandSets: ['context'],
    breaks: [BREAKS.partialWrite],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    const ctx = (await readToEnd(t, t.src)).bytes;
    inspectContext(t, ctx, 'use', 'the Freeze context');
    const w = await writeChunks(t, t.src, [ctx.subarray(0, 24)]);
    t.require(undefined, !w.refused, `a WRITE of the first 24 context bytes answered ${w.refused ? st(w.refused) : ''}`);
    await t.admin.discardOk(t.src);
    const { refused, at } = await writeAll(t, t.src, ctx, 64);
    t.check(R.discardNewWrite, !refused, `after DISCARD, WRITE #${at} of the whole context answered ${refused ? st(refused) : ''}: the WRITEs were not taken as a new context`);
    const r = await t.admin.modeSet(t.src, STOP);
    t.check(R.discardNewWrite, ok(r), `MODE_SET Stop after DISCARD and a whole context written answered ${st(r)}: the context written after DISCARD is not complete on the device`);
    if (!ok(r)) await t.admin.discard(t.src);
    else inspectContext(t, (await readToEnd(t, t.src)).bytes, 'use', 'the context read back in Stop');
  },
);
