import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { decodeSizeGetResult } from '../../protocol/commands.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import { BREAKS, FREEZE, mode, MODES, ok, R, readOnce, readToEnd, sizeOf, st } from './ctx-support.ts';

// DEV_CTX_SIZE_GET (patch 4/8 "Device Context Size Get Command"; E16, E18). The size is an estimate:
// no test compares it with the bytes READ returns.

conformanceTest(
  {
    id: 'ctx-size.current-mode',
    title: 'SIZE_GET freeze_mode 0 completes with OK and a le64 size in every mode, non-zero before the context is read',
    requirements: [R.sizeCurrent],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    for (const m of MODES) {
      await t.admin.modeSetOk(t.src, m);
      const size = await sizeOf(t, R.sizeCurrent, t.src, 0);
      if (size !== undefined) t.check(R.sizeCurrent, size > 0n, `SIZE_GET freeze_mode 0 in ${mode(m)}, before any READ in this mode, returned 0: a whole context (at least its field_count) is still to be read`);
      // Part of the context read: the estimate of what is left is still a whole le64.
      const first = await readOnce(t, t.src, 8);
      if (first.contextLen === 8) await sizeOf(t, R.sizeCurrent, t.src, 0);
      if (first.contextLen === 8) await readToEnd(t, t.src, 4096);
    }
  },
);

conformanceTest(
  {
    id: 'ctx-size.freeze-mode',
    title: 'SIZE_GET freeze_mode 1 completes with OK and a non-zero le64 Freeze estimate in every mode',
    requirements: [R.sizeFreeze],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    for (const m of MODES) {
      await t.admin.modeSetOk(t.src, m);
      const size = await sizeOf(t, R.sizeFreeze, t.src, 1);
      if (size !== undefined) t.check(R.sizeFreeze, size > 0n, `SIZE_GET freeze_mode 1 in ${mode(m)}, before any READ in this mode, returned 0: a Freeze context is never empty`);
    }
  },
);

/** Probe: freeze_mode values the driver must not send (breaks driver.size-get-freeze-mode-0-or-1). */
conformanceTest(
  {
    id: 'ctx-size.invalid-freeze-mode',
    title: 'SIZE_GET with freeze_mode 2..255 fails (EINVAL + Q_INVALID_FIELD preferred)',
    requirements: [R.sizeInvalid],
    commandSets: ['context'],
    breaks: [BREAKS.freezeMode],
  },
  async (t: ConformanceContext) => {
    for (const m of MODES) {
      await t.admin.modeSetOk(t.src, m);
      const values = m === MODES[0] ? Array.from({ length: 254 }, (_, i) => i + 2) : [2, 3, 0x7f, 0x80, 0xfe, 0xff];
      const accepted: number[] = [];
      const otherAnswer: string[] = [];
      for (const v of values) {
        const r = await t.admin.sizeGet(t.src, v);
        if (ok(r)) accepted.push(v);
        else if (!(r.status === Status.EINVAL && r.qualifier === Qualifier.INVALID_FIELD)) otherAnswer.push(`${v}: ${st(r)}`);
      }
      t.check(R.sizeInvalid, accepted.length === 0, `SIZE_GET in ${mode(m)} completed OK for freeze_mode ${accepted.slice(0, 12).join(', ')}${accepted.length > 12 ? ` and ${accepted.length - 12} more` : ''}; only 0 and 1 are defined (E18)`);
      if (otherAnswer.length) {
        const msg = `SIZE_GET in ${mode(m)} refused invalid freeze_mode values with another answer than EINVAL/INVALID_FIELD (P4, P5): ${otherAnswer.slice(0, 6).join('; ')}${otherAnswer.length > 6 ? ` and ${otherAnswer.length - 6} more` : ''}`;
        if (t.settings.failureQualifierMismatch === 'fail') t.check(R.sizeInvalid, false, msg);
        else t.finding(msg);
      }
    }
  },
);

/** SHOULD: in Freeze the context cannot change (SD11g), so the remaining estimate never grows as it is read. */
conformanceTest(
  {
    id: 'ctx-size.no-growth-in-freeze',
    title: 'In Freeze, the remaining size SIZE_GET reports does not grow while the context is read',
    requirements: [R.sizeNoGrowth],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    let prev = await remaining(t);
    const first = prev;
    let read = 0;
    let grew = 0;
    for (let i = 0; i < 1 << 20; i++) {
      const s = await readOnce(t, t.src, 16);
      read += s.contextLen;
      const now = await remaining(t);
      if (now > prev) {
        grew++;
        t.should(R.sizeNoGrowth, false, `after READ #${i} (${read} bytes read in all) the remaining estimate rose from ${prev} to ${now} in Freeze`);
      }
      prev = now;
      if (s.contextLen < 16) break;
    }
    if (!grew && first > 0n && read > 16 && prev >= first) t.finding(`the remaining estimate did not drop while ${read} bytes were read in Freeze (${first} before, ${prev} after)`);
  },
);

/** SIZE_GET freeze_mode 0 for the SHOULD test: a failure here is another rule's (current-mode), not this one's. */
async function remaining(t: ConformanceContext): Promise<bigint> {
  const r = await t.admin.sizeGet(t.src, 0);
  if (!ok(r) || r.result.length < 8) t.notTested(`SIZE_GET freeze_mode 0 in Freeze answered ${st(r)} with ${r.result.length} result bytes: see ctx-size.current-mode`);
  return decodeSizeGetResult(r.result);
}

conformanceTest(
  {
    id: 'ctx-size.zero-after-end',
    title: 'In Freeze, once the context stream has ended, SIZE_GET returns 0 for freeze_mode 0 and 1',
    requirements: [R.sizeZero],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    await t.admin.modeSetOk(t.src, FREEZE);
    await readToEnd(t, t.src, 64);
    for (const round of [0, 1]) {
      for (const fm of [0, 1] as const) {
        const size = await sizeOf(t, R.sizeZero, t.src, fm);
        if (size !== undefined) t.check(R.sizeZero, size === 0n, `SIZE_GET freeze_mode ${fm} after the whole Freeze context was read${round ? ' (and one more READ)' : ''} returned ${size}; expected 0 until a new context exists (E16)`);
      }
      if (round === 0) await readOnce(t, t.src, 64);
    }
  },
);
