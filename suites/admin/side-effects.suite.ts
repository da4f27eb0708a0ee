import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeCtxReadOutput, encodeModeSetData, encodeSizeGetData, encodeWriteRecordsStartData } from '../../protocol/commands.ts';
import { GroupType, Status } from '../../protocol/status.ts';
import { DeviceMode, describeStatus, drainRange, hex, inUse, modeName, numVfs, pageSizeBitmap, recordingUsable, recordStartData, sameBytes } from './helpers.ts';

const CHUNK = 8;

conformanceTest(
  {
    id: 'admin.failed-commands-no-side-effects',
    title: 'Failed commands change nothing: the mode, a partial context read, the in-use list and write recording stay as they were',
    requirements: ['admin.gd4-einval-no-side-effects', 'admin.gd5-failure-no-side-effects'],
    commandSets: ['context'],
    // Each probe is a command the device must refuse; sending it breaks the driver rule that forbids it.
    breaks: [
      'driver.read-complete-context',
      'driver.mode-set-valid-value',
      'driver.size-get-freeze-mode-0-or-1',
      'admin.gr10-member-id-in-range',
      'admin.gr6-no-command-before-list-use',
      'admin.gr5-use-only-supported',
      'admin.gr4-no-unknown-opcode-bits',
    ],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const src = t.src;
    const n = await numVfs(t);
    const op = t.opcodes;
    await a.modeSetOk(src, DeviceMode.FREEZE);
    // The reference stream: in Freeze the context does not change (SD11g), so every read gives it.
    const whole = await a.readContext(src);
    await a.discardOk(src);
    t.require(undefined, whole.length >= 2 * CHUNK, `the device context is only ${whole.length} bytes; the probe needs at least ${2 * CHUNK}`);
    let pos = 0;
    const readChunk = () => a.ctxRead(src, CHUNK);
    const resync = async () => {
      await a.modeSet(src, DeviceMode.FREEZE);
      await a.discardOk(src);
      for (let at = 0; at < pos; at += CHUNK) await a.ctxReadOk(src, CHUNK);
    };
    const first = await a.ctxReadOk(src, CHUNK);
    t.require(undefined, sameBytes(first.data, whole.subarray(0, CHUNK)), `the first ${CHUNK} context bytes differ from a full read in Freeze (${hex(first.data)} vs ${hex(whole.subarray(0, CHUNK))})`);
    pos = CHUNK;

    const unsupported = [0x3f, 0x7fff, 0x8000].find((o) => !t.session.supported.has(o)) ?? 0xffff;
    const probes: { what: string; send: () => Promise<AdminCommandResponse>; recording?: boolean }[] = [
      { what: 'DEV_MODE_SET reserved mode 3', send: () => a.modeSet(src, 3) },
      { what: 'DEV_MODE_SET reserved mode 0xff', send: () => a.modeSet(src, 0xff) },
      { what: 'DEV_MODE_SET Stop with the context partially read (SD5)', send: () => a.modeSet(src, DeviceMode.STOP) },
      { what: 'DEV_MODE_SET Active with the context partially read (SD5)', send: () => a.modeSet(src, DeviceMode.ACTIVE) },
      { what: 'DEV_MODE_SET Active with group_type 0', send: () => a.send('DEV_MODE_SET', src, encodeModeSetData(DeviceMode.ACTIVE), { groupType: GroupType.SELF, resultCapacity: 0 }) },
      { what: 'DEV_CTX_SIZE_GET freeze_mode 2 (E18)', send: () => a.send('DEV_CTX_SIZE_GET', src, encodeSizeGetData(2), { resultCapacity: 8 }) },
      { what: 'DEV_CTX_READ with group_type 0', send: () => a.send('DEV_CTX_READ', src, undefined, { groupType: GroupType.SELF, resultCapacity: CHUNK }) },
      { what: 'DEV_CTX_READ with group_type 2', send: () => a.send('DEV_CTX_READ', src, undefined, { groupType: 0x2, resultCapacity: CHUNK }) },
      { what: `DEV_CTX_READ to member ${n + 1}`, send: () => a.send('DEV_CTX_READ', n + 1, undefined, { resultCapacity: CHUNK }) },
      { what: `opcode 0x${unsupported.toString(16)} (unsupported) to member ${src}`, send: () => a.sendOpcode(unsupported, src, undefined, { resultCapacity: 8 }) },
      { what: 'LIST_USE with group_type 2 naming LIST_QUERY and LIST_USE only', send: () => a.listUse([op.LIST_QUERY, op.LIST_USE], { groupType: 0x2 }) },
      { what: `LIST_USE of the session list plus unsupported opcode 0x${unsupported.toString(16)}`, send: () => a.listUse([...t.session.inUse, unsupported]) },
    ];
    if (inUse(t, 'DEV_CTX_DISCARD')) {
      probes.push(
        { what: 'DEV_CTX_DISCARD with group_type 0', send: () => a.send('DEV_CTX_DISCARD', src, undefined, { groupType: GroupType.SELF, resultCapacity: 0 }) },
        { what: 'DEV_CTX_DISCARD to member 0', send: () => a.send('DEV_CTX_DISCARD', 0, undefined, { resultCapacity: 0 }) },
      );
    }
    let caps: { supportedPageSizeBitmap: number } | undefined;
    if (recordingUsable(t)) {
      caps = { supportedPageSizeBitmap: await pageSizeBitmap(t) };
      const good = recordStartData(caps.supportedPageSizeBitmap);
      probes.push(
        { what: 'DEV_WRITE_RECORDS_START with page_size 3 (not a page size)', send: () => a.recordsStart(src, { ...good, pageSize: 3n }), recording: true },
        { what: 'DEV_WRITE_RECORDS_START with group_type 0', send: () => a.send('DEV_WRITE_RECORDS_START', src, encodeWriteRecordsStartData(good), { groupType: GroupType.SELF, resultCapacity: 0 }), recording: true },
      );
    }

    let failures = 0;
    try {
      for (const p of probes) {
        const r = await p.send();
        if (r.status === Status.OK) {
          // Not a failure: its own rule judges it elsewhere; bring the state back and go on.
          t.finding(`${p.what} completed OK; its side effects are not judged here`);
          await a.enableAll();
          await resync();
          if (p.recording && caps) {
            await drainRange(t, src, recordStartData(caps.supportedPageSizeBitmap));
            await a.recordsStop(src);
          }
          continue;
        }
        failures++;
        const req = r.status === Status.EINVAL ? 'admin.gd4-einval-no-side-effects' : 'admin.gd5-failure-no-side-effects';
        const judge = (cond: boolean, msg: string) => (req === 'admin.gd4-einval-no-side-effects' ? t.check(req, cond, msg) : t.should(req, cond, msg));
        const what = `after ${p.what} failed (${describeStatus(r)})`;
        let dirty = false;
        const mode = await a.modeGet(src);
        if (!judge(mode.status === Status.OK && mode.result[0] === DeviceMode.FREEZE, `${what}: the member is no longer in Freeze (DEV_MODE_GET: ${mode.status === Status.OK ? modeName(mode.result[0]) : describeStatus(mode)})`)) dirty = true;
        if (pos < whole.length) {
          const c = await readChunk();
          const want = whole.subarray(pos, pos + CHUNK);
          const got = c.status === Status.OK ? c.result.subarray(0, Math.min(decodeCtxReadOutput(c.output), c.result.length)) : undefined;
          if (!judge(got !== undefined && sameBytes(got, want), `${what}: the partial context read did not continue where it was (bytes ${pos}..${pos + want.length}: expected ${hex(want)}, got ${got ? hex(got) : describeStatus(c)})`)) dirty = true;
          pos += want.length;
        }
        if (p.recording && caps) {
          const s = recordStartData(caps.supportedPageSizeBitmap);
          const rr = await a.recordsRead(src, s.entries[0].pageAddress, s.pageSize, 256);
          if (!judge(rr.status !== Status.OK, `${what}: DEV_WRITE_RECORDS_READ completed OK, so write recording was started by the failed command`)) {
            await drainRange(t, src, s);
            await a.recordsStop(src);
          }
        }
        if (dirty) {
          await a.enableAll();
          await resync();
        }
      }
      // The rest of the stream, after all the failed commands, is the rest of the reference stream.
      if (pos < whole.length) {
        const rest = await a.readContext(src, 4096);
        t.check('admin.gd4-einval-no-side-effects', sameBytes(rest, whole.subarray(pos)), `the context read after the failed commands does not end like a full read (from byte ${pos}: ${hex(rest)} vs ${hex(whole.subarray(pos))})`);
      }
    } finally {
      await a.enableAll();
    }
    if (!failures) t.finding('the device completed every probe OK: nothing to judge');
  },
);
