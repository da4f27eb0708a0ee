import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { DevCtxType, devCtxTypeName } from '../../protocol/device-context.ts';
import { Qualifier } from '../../protocol/status.ts';
import {
  ACTIVE,
  concat,
  contextVq0,
  cutStream,
  FREEZE,
  inspectContext,
  mode,
  noteQualifier,
  ok,
  programText,
  queue0Registers,
  R,
  readToEnd,
  sameVq,
  st,
  STOP,
  twoStates,
  type VqProgram,
  vqText,
  walkContext,
  withField,
  writeAll,
  writeChunks,
} from './ctx-support.ts';

// DEV_CTX_WRITE (patch 4/8 "Device Context Write Command"; SD9, SD10, SD15; E7, E20, E21, S1).
// Contexts written are contexts the member itself returned (E34), from two guest states A and B when a
// member port lets the suite set them up, so that a written context is told from the member's own state.

conformanceTest(
  {
    id: 'ctx-write.outside-freeze',
    title: 'DEV_CTX_WRITE fails in Active and in Stop',
    requirements: [R.writeOutside],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    const ctx = (await readToEnd(t, t.src)).bytes;
    for (const m of [ACTIVE, STOP]) {
      await t.admin.modeSetOk(t.src, m);
      const { refused } = await writeAll(t, t.src, ctx);
      if (refused) t.expectRefused(R.writeOutside, refused, `DEV_CTX_WRITE in ${mode(m)}`, [Qualifier.INVALID_COMMAND, Qualifier.INVALID_FIELD]);
      else t.check(R.writeOutside, false, `DEV_CTX_WRITE of a whole context completed OK in ${mode(m)}; WRITE is allowed only in Freeze (SD10)`);
      if (!refused) await t.admin.discard(t.src);
    }
  },
);

conformanceTest(
  {
    id: 'ctx-write.twice',
    title: 'A complete context can be written several times in Freeze, and again in a later Freeze',
    requirements: [R.writeTwice],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    const ctx = (await readToEnd(t, t.src)).bytes;
    for (const [round, chunk] of [[1, 4096], [2, 8], [3, 64]] as const) {
      const { refused, at } = await writeAll(t, t.src, ctx, chunk);
      t.check(R.writeTwice, !refused, `writing the complete context a ${round === 1 ? 'first' : round === 2 ? 'second' : 'third'} time in this Freeze (${chunk}-byte WRITEs): WRITE #${at} answered ${refused ? st(refused) : ''} (SD9)`);
      if (refused) await t.admin.discardOk(t.src);
    }
    const r = await t.admin.modeSet(t.src, STOP);
    t.expectOk(R.writeTwice, r, 'DEV_CTX_MODE_SET Stop after the context was written three times (nothing is partial)');
    if (!ok(r)) await t.admin.discardOk(t.src);
    await t.admin.modeSetOk(t.src, FREEZE);
    const again = await writeAll(t, t.src, ctx);
    t.check(R.writeTwice, !again.refused, `writing the context again in a later Freeze: WRITE #${again.at} answered ${again.refused ? st(again.refused) : ''}`);
  },
);

conformanceTest(
  {
    id: 'ctx-write.raw-stream',
    title: 'WRITE data is the context stream itself (no header, E7): a context written in one WRITE is complete and reads back',
    requirements: [R.writeRaw],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    const ctx = (await readToEnd(t, t.src)).bytes;
    const written = inspectContext(t, ctx, 'use', 'the Freeze context');
    const { refused } = await writeAll(t, t.src, ctx, ctx.length <= 1 << 16 ? Math.ceil(ctx.length / 8) * 8 : 4096);
    t.require(R.writeRaw, !refused, `DEV_CTX_WRITE of the ${ctx.length}-byte context stream, as read, answered ${refused ? st(refused) : ''}: the data is the stream itself, from field_count on (E7)`);
    const r = await t.admin.modeSet(t.src, STOP);
    t.require(R.writeRaw, ok(r), `MODE_SET Stop after the whole stream was written answered ${st(r)}: the device did not take the data as one complete context`);
    const back = inspectContext(t, (await readToEnd(t, t.src)).bytes, 'use', 'the context read back in Stop');
    if (written.vq.has(0)) t.check(R.writeRaw, sameVq(back.vq.get(0), programOfCtx(written.vq.get(0))), `queue 0 read back (${vqText(back.vq.get(0))}) is not the written one (${vqText(written.vq.get(0))})`);
    t.check(R.writeRaw, back.features === written.features, `DEV_FEATURES read back (0x${back.features?.toString(16)}) differs from the written (0x${written.features?.toString(16)})`);
  },
);

conformanceTest(
  {
    id: 'ctx-write.padding',
    title: 'Zero bytes padding the last WRITE to a multiple of 8 are ignored: the context is complete and taken',
    requirements: [R.writePadding],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    const ctx = (await readToEnd(t, t.src)).bytes;
    inspectContext(t, ctx, 'use', 'the Freeze context');
    const pad = (8 - (ctx.length % 8)) % 8;
    if (pad === 0) t.notTested(`the context is ${ctx.length} bytes, a multiple of 8: its last WRITE needs no padding (S1)`);
    const chunks = cutStream(ctx, [4096]);
    chunks[chunks.length - 1] = concat([chunks[chunks.length - 1], new Uint8Array(pad)]);
    const { refused, at } = await writeChunks(t, t.src, chunks);
    t.check(R.writePadding, !refused, `the last WRITE, ${chunks[chunks.length - 1].length} bytes of which the last ${pad} are zero padding (S1), answered ${refused ? st(refused) : ''} (WRITE #${at})`);
    const r = await t.admin.modeSet(t.src, STOP);
    t.check(R.writePadding, ok(r), `MODE_SET Stop after a whole context plus ${pad} padding bytes answered ${st(r)}: the padding must not count as the start of another context`);
    if (!ok(r)) await t.admin.discardOk(t.src);
    else inspectContext(t, (await readToEnd(t, t.src)).bytes, 'use', 'the context read back in Stop');
  },
);

conformanceTest(
  {
    id: 'ctx-write.multi-command',
    title: 'A context written in WRITEs of 8 to 64 bytes, cut at 8-byte boundaries, is taken as if written in one',
    requirements: [R.writeMulti],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t: ConformanceContext) => {
    const s = await twoStates(t, t.src);
    await t.admin.modeSetOk(t.src, STOP);
    await t.admin.modeSetOk(t.src, FREEZE);
    const chunks = cutStream(s.ctxA, [8, 16, 24, 8, 40, 64, 8]);
    const { refused, at } = await writeChunks(t, t.src, chunks);
    t.require(R.writeMulti, !refused, `WRITE #${at} of ${chunks.length} (${chunks[at]?.length}-byte piece at stream byte ${chunks.slice(0, at).reduce((n, c) => n + c.length, 0)}) answered ${refused ? st(refused) : ''}`);
    const r = await t.admin.modeSet(t.src, STOP);
    t.require(R.writeMulti, ok(r), `MODE_SET Stop after the context was written in ${chunks.length} pieces answered ${st(r)}`);
    const vq0 = await contextVq0(t, t.src, 'the context read back in Stop');
    t.check(R.writeMulti, sameVq(vq0, s.a), `after the written context took effect, queue 0 is ${vqText(vq0)}; the written context has ${programText(s.a)} (the member's own state was ${programText(s.b)})`);
  },
);

/** The pre-copy destination: one complete context, then another; leaving Freeze applies the last (patch 1/8). */
conformanceTest(
  {
    id: 'ctx-write.last-context-wins',
    title: 'Two different complete contexts written in one Freeze: both accepted, and the member runs with the last one after Active',
    requirements: [R.writeLast, R.writeTwice],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t: ConformanceContext) => {
    const s = await twoStates(t, t.src);
    await t.admin.modeSetOk(t.src, STOP);
    await t.admin.modeSetOk(t.src, FREEZE);
    const ctxB = (await readToEnd(t, t.src)).bytes;
    const first = await writeAll(t, t.src, ctxB);
    t.check(R.writeTwice, !first.refused, `writing context B (the member's own) answered ${first.refused ? st(first.refused) : ''}`);
    const second = await writeAll(t, t.src, s.ctxA);
    t.require(R.writeTwice, !second.refused, `writing a second complete context (A) in the same Freeze answered ${second.refused ? st(second.refused) : ''} (SD9)`);
    await t.admin.modeSetOk(t.src, ACTIVE);
    const regs = await queue0Registers(t.port(t.src));
    t.check(
      R.writeLast,
      regs.size === s.a.size && regs.desc === s.a.desc && regs.driver === s.a.driver && regs.device === s.a.device && regs.msix === s.a.msix,
      `after Active, queue 0 reads ${programText(regs)}; the last context written has ${programText(s.a)}, the first ${programText(s.b)}`,
    );
  },
);

conformanceTest(
  {
    id: 'ctx-write.effective-on-leaving-freeze',
    title: 'A written context changes nothing in Freeze and takes effect on Freeze to Stop and on Freeze to Active',
    requirements: [R.writeEffective],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t: ConformanceContext) => {
    const s = await twoStates(t, t.src);
    await t.admin.modeSetOk(t.src, STOP);
    await t.admin.modeSetOk(t.src, FREEZE);
    const w = await writeAll(t, t.src, s.ctxA);
    t.require(undefined, !w.refused, `DEV_CTX_WRITE of a complete context in Freeze answered ${w.refused ? st(w.refused) : ''}`);
    // Still in Freeze: the context READ returns is the member's own (SD11g), not the written one.
    const frozen = (await readToEnd(t, t.src)).bytes;
    const inFreeze = inspectContext(t, frozen, 'use', 'the context read in Freeze after the WRITE').vq.get(0);
    t.check(R.writeEffective, sameVq(inFreeze, s.b), `read in Freeze after the WRITE, queue 0 is ${vqText(inFreeze)}; the member's own state is ${programText(s.b)}: the written context took effect before the member left Freeze`);
    await t.admin.modeSetOk(t.src, STOP);
    const inStop = await contextVq0(t, t.src, 'the context read in Stop');
    t.check(R.writeEffective, sameVq(inStop, s.a), `after Freeze to Stop, queue 0 in the context is ${vqText(inStop)}; the written context has ${programText(s.a)}`);
    // Freeze to Active: write back state B's context (read above in Freeze) and look at the registers.
    await t.admin.modeSetOk(t.src, FREEZE);
    const w2 = await writeAll(t, t.src, frozen);
    t.require(undefined, !w2.refused, `DEV_CTX_WRITE in Freeze answered ${w2.refused ? st(w2.refused) : ''}`);
    await t.admin.modeSetOk(t.src, ACTIVE);
    const regs = await queue0Registers(t.port(t.src));
    t.check(
      R.writeEffective,
      regs.size === s.b.size && regs.desc === s.b.desc && regs.driver === s.b.driver && regs.device === s.b.device && regs.msix === s.b.msix,
      `after Freeze to Active, queue 0 reads ${programText(regs)}; the written context has ${programText(s.b)}`,
    );
  },
);

/**
 * SD15 with E21: a written field whose length differs from the device's must be refused by the WRITE or
 * (profile fieldLengthMismatchAt) by the MODE_SET that would apply it; the member never reaches Stop or
 * Active with it. Each fixed-length type, one field shorter and one longer; the stream still parses.
 */
const LENGTH_DELTAS: [type: number, delta: number][] = [
  [DevCtxType.PCI_COMMON_CFG, 2],
  [DevCtxType.DEV_FEATURES, 8],
  // 4, not 2: 30 and 32 are both layouts of PCI_VQ_CFG (E13).
  [DevCtxType.PCI_VQ_CFG, 4],
  [DevCtxType.VQ_SPLIT_RUNTIME_CFG, 2],
  [DevCtxType.DEV_CFG, 2],
];

conformanceTest(
  {
    id: 'ctx-write.field-length-mismatch',
    title: 'A written context with one field shorter or longer than the device has it is refused, and never applied',
    requirements: [R.writeLength],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    const a = t.wire.ctxStreamAlignment;
    let ctxA: Uint8Array;
    let own: VqProgram | undefined;
    if (t.session.transport.capabilities.memberPort) {
      const s = await twoStates(t, t.src);
      ctxA = s.ctxA;
      own = s.b;
    } else {
      await t.admin.modeSetOk(t.src, FREEZE);
      ctxA = (await readToEnd(t, t.src)).bytes;
      t.finding('no member port: a rejected context cannot be told from the member own state, only the refusal is checked');
    }
    inspectContext(t, ctxA, 'use', 'the context written');
    const present = new Set(walkContext(ctxA, a).tlvs.map((f) => f.type));
    await t.admin.modeSetOk(t.src, STOP);
    let cases = 0;
    for (const [type, delta] of LENGTH_DELTAS) {
      if (!present.has(type)) continue;
      for (const d of [-delta, delta]) {
        const bad = withField(ctxA, a, type, (v) => (d < 0 ? v.slice(0, Math.max(0, v.length + d)) : concat([v, new Uint8Array(d)])));
        if (!bad) continue;
        const len = walkContext(ctxA, a).tlvs.find((f) => f.type === type)!.value.length;
        if (len + d < 0) continue;
        cases++;
        const what = `${devCtxTypeName(type)} written with length ${len + d} (the device's is ${len})`;
        await t.admin.modeSetOk(t.src, FREEZE);
        const { refused } = await writeAll(t, t.src, bad);
        if (refused) {
          noteQualifier(t, R.writeLength, refused, `DEV_CTX_WRITE of a context with ${what}`);
          await t.admin.discardOk(t.src);
          await t.admin.modeSetOk(t.src, STOP);
        } else {
          if (t.settings.fieldLengthMismatchAt === 'write') t.check(R.writeLength, false, `DEV_CTX_WRITE of a context with ${what} completed OK; the profile (fieldLengthMismatchAt, E21) wants the WRITE refused`);
          const r = await t.admin.modeSet(t.src, STOP);
          if (ok(r)) {
            t.check(R.writeLength, false, `a context with ${what} was accepted by the WRITE and by MODE_SET Stop: the member left Freeze with it (SD15, E21)`);
          } else {
            noteQualifier(t, R.writeLength, r, `MODE_SET Stop after a WRITE with ${what}`);
            t.finding(`E21: ${what} was refused by the MODE_SET that would apply it, not by the WRITE`);
            await t.admin.discardOk(t.src);
            await t.admin.modeSetOk(t.src, STOP);
          }
        }
        if (own) {
          const vq0 = await contextVq0(t, t.src, `the context read in Stop after the ${what}`);
          t.check(R.writeLength, sameVq(vq0, own), `after the context with ${what} was refused, the member's queue 0 is ${vqText(vq0)}, not its own ${programText(own)}: the refused context was applied`);
        }
      }
    }
    t.require(undefined, cases > 0, 'the context has none of the fixed-length field types');
  },
);

function programOfCtx(q: { queueSize: number; queueMsixVector: number; queueDesc: bigint; queueDriver: bigint; queueDevice: bigint } | undefined): VqProgram {
  return q ? { size: q.queueSize, msix: q.queueMsixVector, desc: q.queueDesc, driver: q.queueDriver, device: q.queueDevice } : { size: -1, msix: -1, desc: -1n, driver: -1n, device: -1n };
}
