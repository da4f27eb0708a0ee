import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import { DeviceMode, modeName } from '../../protocol/commands.ts';
import { Status } from '../../protocol/status.ts';
import { describeStatus } from '../admin/helpers.ts';

async function modeNow(t: ConformanceContext): Promise<number> {
  const g = await t.admin.modeGet(t.src);
  t.require(undefined, g.status === Status.OK && g.result.length >= 1, `DEV_MODE_GET: ${describeStatus(g)}`);
  return g.result[0];
}

conformanceTest(
  {
    id: 'mode.partial-read-blocks-active-stop',
    title: 'DEV_MODE_SET to Active or Stop fails while a context read is partial, keeps the mode, and succeeds after DEV_CTX_DISCARD or a complete read',
    requirements: ['mode.set-fails-while-read-partial', 'mode.set-failure-keeps-mode', 'mode.any-transition-allowed'],
    commandSets: ['context'],
    // Leaves a context read partial on purpose (SD5 probe).
    breaks: ['driver.read-complete-context'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    for (const mode of [DeviceMode.ACTIVE, DeviceMode.STOP, DeviceMode.FREEZE]) {
      await a.modeSetOk(t.src, mode);
      const first = await a.ctxReadOk(t.src, 8);
      if (first.contextLen < 8) t.notTested(`the device context in ${modeName(mode)} is ${first.contextLen} bytes: a READ of 8 already ends it, so no partial read can be made`);
      for (const to of [DeviceMode.ACTIVE, DeviceMode.STOP].filter((m) => m !== mode)) {
        const r = await a.modeSet(t.src, to);
        t.expectRefused('mode.set-fails-while-read-partial', r, `DEV_MODE_SET ${modeName(to)} in ${modeName(mode)} with 8 bytes of the context read`);
        const now = await modeNow(t);
        if (r.status !== Status.OK) t.check('mode.set-failure-keeps-mode', now === mode, `DEV_MODE_SET ${modeName(to)} failed (${describeStatus(r)}) but the member is now in ${modeName(now)}`);
        if (now !== mode) await a.modeSetOk(t.src, mode);
      }
      // DISCARD ends the partial read: the change is allowed again.
      await a.discardOk(t.src);
      const to = mode === DeviceMode.ACTIVE ? DeviceMode.STOP : DeviceMode.ACTIVE;
      t.expectOk('mode.any-transition-allowed', await a.modeSet(t.src, to), `DEV_MODE_SET ${modeName(to)} from ${modeName(mode)} after DEV_CTX_DISCARD of the partial read`);
      await a.modeSetOk(t.src, DeviceMode.ACTIVE);
    }
    // A read that reached the end of the stream is not partial (E15).
    await a.modeSetOk(t.src, DeviceMode.FREEZE);
    await a.readContext(t.src);
    t.expectOk('mode.any-transition-allowed', await a.modeSet(t.src, DeviceMode.STOP), 'DEV_MODE_SET Stop from Freeze after the whole context was read');
  },
);

conformanceTest(
  {
    id: 'mode.partial-write-blocks-active-stop',
    title: 'DEV_MODE_SET to Active or Stop fails while a context write is partial, keeps Freeze, and succeeds after DEV_CTX_DISCARD or a complete write',
    requirements: ['mode.set-fails-while-write-partial', 'mode.set-failure-keeps-mode', 'mode.any-transition-allowed'],
    commandSets: ['context'],
    // Leaves a context write partial and asks to leave Freeze, on purpose (SD5 probe).
    breaks: ['driver.no-leave-freeze-with-partial-write', 'driver.write-complete-context'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    await a.modeSetOk(t.src, DeviceMode.FREEZE);
    const ctx = await a.readContext(t.src);
    // field_count and the start of the first field's header: never a complete context when more follows.
    const HEAD = 16;
    if (ctx.length <= HEAD + 8) t.notTested(`the device context is ${ctx.length} bytes: too short to write part of it`);
    const w = await a.ctxWrite(t.src, ctx.subarray(0, HEAD));
    if (w.status !== Status.OK) t.notTested(`the device refused the first ${HEAD} bytes of its own context in Freeze (${describeStatus(w)}); no partial write to probe`);
    for (const to of [DeviceMode.ACTIVE, DeviceMode.STOP]) {
      const r = await a.modeSet(t.src, to);
      t.expectRefused('mode.set-fails-while-write-partial', r, `DEV_MODE_SET ${modeName(to)} from Freeze with ${HEAD} of ${ctx.length} context bytes written`);
      const now = await modeNow(t);
      if (r.status !== Status.OK) t.check('mode.set-failure-keeps-mode', now === DeviceMode.FREEZE, `DEV_MODE_SET ${modeName(to)} failed (${describeStatus(r)}) but the member is now in ${modeName(now)}`);
      if (now !== DeviceMode.FREEZE) {
        await a.modeSetOk(t.src, DeviceMode.FREEZE);
        await a.discardOk(t.src);
        t.require(undefined, (await a.ctxWrite(t.src, ctx.subarray(0, HEAD))).status === Status.OK, 'the partial write could not be made again');
      }
    }
    // DISCARD forgets the partial write.
    await a.discardOk(t.src);
    t.expectOk('mode.any-transition-allowed', await a.modeSet(t.src, DeviceMode.STOP), 'DEV_MODE_SET Stop from Freeze after DEV_CTX_DISCARD of the partial write');
    // A write that was completed is not partial (E15).
    await a.modeSetOk(t.src, DeviceMode.FREEZE);
    await a.writeContext(t.src, ctx);
    t.expectOk('mode.any-transition-allowed', await a.modeSet(t.src, DeviceMode.ACTIVE), 'DEV_MODE_SET Active from Freeze after a complete context was written');
  },
);
