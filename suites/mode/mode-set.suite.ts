import { DeviceMode, modeName } from '../../protocol/commands.ts';
import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import { Qualifier, qualifierName, Status } from '../../protocol/status.ts';
import { describeStatus } from '../admin/helpers.ts';

conformanceTest(
  {
    id: 'mode.set-same-mode',
    title: 'DEV_MODE_SET to the mode the member is already in completes successfully',
    requirements: ['mode.set-same-mode-succeeds'],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    for (const mode of [DeviceMode.ACTIVE, DeviceMode.STOP, DeviceMode.FREEZE]) {
      await t.admin.modeSetOk(t.src, mode);
      t.expectOk('mode.set-same-mode-succeeds', await t.admin.modeSet(t.src, mode), `DEV_MODE_SET ${modeName(mode)} while in ${modeName(mode)}`);
    }
  },
);

conformanceTest(
  {
    id: 'mode.get-reports-set-mode',
    title: 'DEV_MODE_GET returns one valid mode byte, and after a successful DEV_MODE_SET it is the mode set',
    requirements: ['mode.get-returns-valid-mode', 'mode.set-applies-mode'],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    const first = await t.admin.modeGet(t.src);
    if (t.expectOk('mode.get-returns-valid-mode', first, 'DEV_MODE_GET at the start')) {
      t.check('mode.get-returns-valid-mode', first.result.length >= 1, `DEV_MODE_GET returned ${first.result.length} result bytes (one expected)`);
      t.check('mode.get-returns-valid-mode', first.result.length >= 1 && first.result[0] <= 2, `DEV_MODE_GET returned mode ${first.result[0]}, which is reserved`);
    }
    for (const mode of [DeviceMode.STOP, DeviceMode.FREEZE, DeviceMode.ACTIVE, DeviceMode.FREEZE, DeviceMode.STOP, DeviceMode.ACTIVE]) {
      await t.admin.modeSetOk(t.src, mode);
      const r = await t.admin.modeGet(t.src);
      if (!t.expectOk('mode.get-returns-valid-mode', r, `DEV_MODE_GET after DEV_MODE_SET ${modeName(mode)}`)) continue;
      if (!t.check('mode.get-returns-valid-mode', r.result.length >= 1, `DEV_MODE_GET returned ${r.result.length} result bytes (one expected)`)) continue;
      t.check('mode.get-returns-valid-mode', r.result[0] <= 2, `DEV_MODE_GET returned mode ${r.result[0]}, which is reserved`);
      t.check('mode.set-applies-mode', r.result[0] === mode, `DEV_MODE_SET ${modeName(mode)} completed OK but DEV_MODE_GET reads ${modeName(r.result[0])}`);
    }
  },
);

conformanceTest(
  {
    id: 'mode.reserved-modes-fail',
    title: 'DEV_MODE_SET with a reserved mode (3..255) fails and leaves the mode unchanged',
    requirements: ['mode.set-reserved-mode-fails', 'mode.set-failure-keeps-mode'],
    commandSets: ['context'],
    // Sends reserved mode values on purpose.
    breaks: ['driver.mode-set-valid-value'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const others = new Map<string, number[]>();
    // Every reserved value from Stop (a mode other than the default); a sample from Active and Freeze.
    const plan: [number, number[]][] = [
      [DeviceMode.STOP, Array.from({ length: 253 }, (_, i) => i + 3)],
      [DeviceMode.FREEZE, [3, 4, 0x7f, 0x80, 0xfe, 0xff]],
      [DeviceMode.ACTIVE, [3, 4, 0x7f, 0x80, 0xfe, 0xff]],
    ];
    for (const [mode, values] of plan) {
      await a.modeSetOk(t.src, mode);
      for (const v of values) {
        const r = await a.modeSet(t.src, v);
        const what = `DEV_MODE_SET ${v} (reserved) in ${modeName(mode)}`;
        if (!t.check('mode.set-reserved-mode-fails', r.status !== Status.OK, `${what}: completed OK, must fail`)) {
          // It was taken: bring the member back before going on.
          await a.modeSet(t.src, mode);
        } else if (!(r.status === Status.EINVAL && r.qualifier === Qualifier.INVALID_FIELD)) {
          const k = describeStatus(r);
          others.set(k, [...(others.get(k) ?? []), v]);
        }
        const g = await a.modeGet(t.src);
        t.require('mode.set-failure-keeps-mode', g.status === Status.OK && g.result.length >= 1, `DEV_MODE_GET after ${what}: ${describeStatus(g)}`);
        t.check('mode.set-failure-keeps-mode', r.status === Status.OK || g.result[0] === mode, `${what} failed (${describeStatus(r)}) but the member is now in ${modeName(g.result[0])}`);
      }
    }
    // P5: "fails" is all the draft says; EINVAL with INVALID_FIELD is the preferred answer.
    for (const [answer, values] of others) {
      const msg = `reserved modes ${values.length > 8 ? `${values.slice(0, 8).join(', ')}, … (${values.length} values)` : values.join(', ')} were refused with ${answer}; preferred is EINVAL with ${qualifierName(Qualifier.INVALID_FIELD)} (P5)`;
      if (t.settings.failureQualifierMismatch === 'fail') t.check('mode.set-reserved-mode-fails', false, msg);
      else t.finding(msg);
    }
  },
);

conformanceTest(
  {
    id: 'mode.every-transition',
    title: 'With no context read or write pending, DEV_MODE_SET moves the member between any two of Active, Stop and Freeze',
    requirements: ['mode.any-transition-allowed', 'mode.set-applies-mode'],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    // Active -> Stop -> Freeze -> Active -> Freeze -> Stop -> Active: each of the six transitions once.
    let from: number = DeviceMode.ACTIVE;
    for (const to of [DeviceMode.STOP, DeviceMode.FREEZE, DeviceMode.ACTIVE, DeviceMode.FREEZE, DeviceMode.STOP, DeviceMode.ACTIVE]) {
      const r = await t.admin.modeSet(t.src, to);
      t.expectOk('mode.any-transition-allowed', r, `DEV_MODE_SET ${modeName(to)} from ${modeName(from)}`);
      const g = await t.admin.modeGet(t.src);
      t.require(undefined, g.status === Status.OK && g.result.length >= 1, `DEV_MODE_GET: ${describeStatus(g)}`);
      if (r.status === Status.OK) t.check('mode.set-applies-mode', g.result[0] === to, `DEV_MODE_SET ${modeName(to)} from ${modeName(from)} completed OK but DEV_MODE_GET reads ${modeName(g.result[0])}`);
      from = g.result[0];
      if (from !== to) {
        // Not there: put the member where the sequence expects it, or stop.
        const fix = await t.admin.modeSet(t.src, to);
        t.require(undefined, fix.status === Status.OK, `cannot bring the member to ${modeName(to)} (${describeStatus(fix)})`);
        from = to;
      }
    }
  },
);
