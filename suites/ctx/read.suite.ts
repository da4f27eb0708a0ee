import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { decodeCtxReadOutput } from '../../protocol/commands.ts';
import {
  ACTIVE,
  BREAKS,
  concat,
  equalBytes,
  FREEZE,
  firstDiff,
  inspectContext,
  mode,
  MODES,
  R,
  readExact,
  readOnce,
  readToEnd,
  STOP,
} from './ctx-support.ts';

// DEV_CTX_READ (patch 4/8 "Device Context Read Command"; SD6, SD7; E11, E16, E19).

/**
 * These tests read one Freeze context several times, restarting the stream with DISCARD after it ended
 * (profile contextAfterStreamEnd, E16: "DISCARD also resets the read cursor for the current mode"). No
 * catalog rule of these tests covers that restart, so a device that does not do it leaves them untested.
 */
function notRestarted(t: ConformanceContext): never {
  t.finding('E16 reading: after the Freeze context was read to its end, DEV_CTX_DISCARD did not restart the stream (the next READ returned context_len 0)');
  t.notTested('the Freeze context stream could not be read again after DEV_CTX_DISCARD (E16 reading), so the chunked reads cannot be compared');
}

conformanceTest(
  {
    id: 'ctx-read.every-mode',
    title: 'DEV_CTX_READ completes with OK and returns a whole context in Active, Stop and Freeze',
    requirements: [R.readEveryMode],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    for (const m of MODES) {
      await t.admin.modeSetOk(t.src, m);
      const { bytes } = await readToEnd(t, t.src, 4096, { okReq: R.readEveryMode });
      t.check(R.readEveryMode, bytes.length > 0, `DEV_CTX_READ in ${mode(m)} returned no context data at all`);
      inspectContext(t, bytes, 'use', `the context read in ${mode(m)}`);
    }
  },
);

/**
 * One Freeze context read with buffers of many sizes (8 bytes up): the reference is the stream read
 * with 4096-byte buffers; DISCARD restarts the stream between passes (profile contextAfterStreamEnd,
 * E16). Sizes are multiples of 8 (VR3); the exact fit is the stream length when that is one.
 */
conformanceTest(
  {
    id: 'ctx-read.chunk-sizes',
    title: 'READ in chunks of 8 to 4096 bytes: context_len within the buffer, bytes consumed in order, short only at the end, same stream for every size',
    requirements: [R.readLen, R.readMulti, R.readCleared, R.readShort],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    const whole = (await readToEnd(t, t.src, 4096)).bytes;
    inspectContext(t, whole, 'use', 'the Freeze context');
    const sizes = [8, 16, 24, 40, 64, 128, 256, 1024];
    if (whole.length % 8 === 0) sizes.push(whole.length);
    else t.finding(`the Freeze context is ${whole.length} bytes, not a multiple of 8: no 8-byte-multiple buffer fits it exactly here (see ctx-read.exact-fit)`);
    for (const size of sizes) {
      await t.admin.discardOk(t.src);
      const parts: Uint8Array[] = [];
      let at = 0;
      let ended = false;
      for (let i = 0; i <= whole.length / size + 2 && !ended; i++) {
        const s = await readOnce(t, t.src, size);
        if (i === 0 && s.contextLen === 0) notRestarted(t);
        const n = s.data.length;
        t.check(
          R.readCleared,
          equalBytes(s.data, whole.subarray(at, at + n)),
          `${size}-byte READ #${i} returned ${n} bytes that are not the stream bytes ${at}..${at + n} (first difference at stream byte ${at + firstDiff(s.data, whole.subarray(at, at + n))}): a READ continues where the previous one stopped`,
        );
        parts.push(s.data);
        at += n;
        if (s.contextLen < size) {
          ended = true;
          t.check(R.readShort, at >= whole.length, `${size}-byte READ #${i} returned ${s.contextLen} bytes, less than asked, with ${whole.length - at} context bytes still unread (E19: a short READ ends the stream)`);
          const next = await readOnce(t, t.src, size);
          t.check(R.readShort, next.contextLen === 0, `the READ after a short one (the end of the stream) returned context_len ${next.contextLen} in Freeze; expected 0`);
        }
      }
      t.check(R.readShort, ended, `${size}-byte READs did not end the stream within ${whole.length + 2 * size} bytes`);
      const got = concat(parts);
      t.check(R.readMulti, equalBytes(got, whole), `the stream read in ${size}-byte chunks (${got.length} bytes) differs from the one read in 4096-byte chunks (${whole.length} bytes) at byte ${firstDiff(got, whole)}`);
    }
  },
);

conformanceTest(
  {
    id: 'ctx-read.zero-len-after-end',
    title: 'In Freeze, every READ after the end of the stream completes with OK and context_len 0',
    requirements: [R.readZero],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    await readToEnd(t, t.src, 64);
    for (const size of [8, 64, 4096, 8]) {
      const r = await t.admin.ctxRead(t.src, size);
      if (!t.expectOk(R.readZero, r, `DEV_CTX_READ (${size}-byte buffer) after the end of the stream`)) continue;
      const len = decodeCtxReadOutput(r.output);
      t.check(R.readZero, len === 0, `DEV_CTX_READ (${size}-byte buffer) after the whole Freeze context was read returned context_len ${len}; expected 0 (SD6, E16)`);
    }
  },
);

/**
 * E19 at the boundary: a READ whose buffer is exactly the bytes left returns them all and does not end
 * the stream; the READ after it returns 0. When the context length is not a multiple of 8 the exact
 * buffer takes a raw frame whose writable part is not a multiple of 8 (breaks VR3 on purpose; VD1/VD4
 * oblige the device to take it).
 */
conformanceTest(
  {
    id: 'ctx-read.exact-fit',
    title: 'A READ whose buffer exactly fits the rest of the stream returns it all; the next READ returns 0 (E19)',
    requirements: [R.readShort, R.readZero],
    commandSets: ['context'],
    breaks: [BREAKS.partsMultipleOf8],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    const whole = (await readToEnd(t, t.src, 4096)).bytes;
    inspectContext(t, whole, 'use', 'the Freeze context');
    await t.admin.discardOk(t.src);
    // A first chunk, then one buffer exactly as large as what is left.
    const head = 8;
    const first = await readOnce(t, t.src, head);
    if (first.contextLen === 0) notRestarted(t);
    t.check(R.readShort, first.contextLen === head, `an ${head}-byte READ of a ${whole.length}-byte context returned ${first.contextLen} bytes (E19: short only at the end)`);
    const rest = whole.length - first.contextLen;
    const exact = await readExact(t, t.src, rest);
    t.check(R.readShort, exact.contextLen === rest, `a READ with a buffer of exactly the ${rest} bytes left returned context_len ${exact.contextLen}`);
    t.check(R.readShort, equalBytes(concat([first.data, exact.data]), whole), 'the two READs did not return the context stream');
    const after = await readOnce(t, t.src, 64);
    t.check(R.readZero, after.contextLen === 0, `after an exact-fit READ took the last ${rest} bytes, the next READ in Freeze returned context_len ${after.contextLen}; expected 0 (E19, SD6)`);
    if (after.contextLen !== 0) await readToEnd(t, t.src, 4096);
  },
);

conformanceTest(
  {
    id: 'ctx-read.new-stream-per-mode',
    title: 'After a whole context was read, each mode change (Active, Stop, Freeze, Stop) starts a new, complete stream',
    requirements: [R.readNewStream],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    for (const m of [ACTIVE, STOP, FREEZE, STOP]) {
      await t.admin.modeSetOk(t.src, m);
      const first = await readOnce(t, t.src, 4096);
      t.check(R.readNewStream, first.contextLen > 0, `the first READ in ${mode(m)}, after the whole context of the previous mode was read, returned context_len 0: the mode change did not start a new stream (E16)`);
      if (first.contextLen === 0) continue;
      const rest = first.contextLen < 4096 ? new Uint8Array(0) : (await readToEnd(t, t.src, 4096)).bytes;
      const bytes = concat([first.data, rest]);
      inspectContext(t, bytes, 'use', `the context read in ${mode(m)}`);
    }
  },
);
