import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeCtxReadOutput, decodeWriteRecordCapResult, encodeModeSetData, encodeWriteRecordsStartData } from '../../protocol/commands.ts';
import type { CommandName } from '../../protocol/opcodes.ts';
import { GroupType, Qualifier, Status } from '../../protocol/status.ts';
import { capQueryUsable, DeviceMode, describeStatus, drainRange, hex, inUse, modeName, pageSizeBitmap, recordingUsable, recordStartData, sameBytes } from './helpers.ts';

interface Answer {
  command: CommandName | 'RAW';
  what: string;
  r: AdminCommandResponse;
  /** The command is valid in the state it was sent in: it must succeed. */
  valid: boolean;
}

/**
 * A run through every command the device offers, in states where each is valid (and a few that
 * must fail), collecting the answers. Ends with the member back in Active, recording stopped.
 */
async function battery(t: ConformanceContext, opts: { failures: boolean }): Promise<Answer[]> {
  const a = t.admin;
  const src = t.src;
  const out: Answer[] = [];
  const add = (command: Answer['command'], what: string, r: AdminCommandResponse, valid = true) => {
    out.push({ command, what, r, valid });
    return r;
  };
  add('LIST_QUERY', 'LIST_QUERY', await a.send('LIST_QUERY', 0, undefined, { resultCapacity: 64 }));
  add('LIST_USE', 'LIST_USE of the session list', await a.listUse(t.session.inUse));
  if (t.session.commandSets.context) {
    add('DEV_MODE_GET', 'DEV_MODE_GET in Active', await a.modeGet(src));
    add('DEV_MODE_SET', 'DEV_MODE_SET Active in Active', await a.modeSet(src, DeviceMode.ACTIVE));
    add('DEV_CTX_SIZE_GET', 'DEV_CTX_SIZE_GET freeze_mode 0 in Active', await a.sizeGet(src, 0));
    add('DEV_CTX_SIZE_GET', 'DEV_CTX_SIZE_GET freeze_mode 1 in Active', await a.sizeGet(src, 1));
    add('DEV_MODE_SET', 'DEV_MODE_SET Stop from Active', await a.modeSet(src, DeviceMode.STOP));
    add('DEV_MODE_SET', 'DEV_MODE_SET Freeze from Stop', await a.modeSet(src, DeviceMode.FREEZE));
    add('DEV_MODE_GET', 'DEV_MODE_GET in Freeze', await a.modeGet(src));
    // One whole context read in Freeze, then written back as it was (a complete context, S1 chunks).
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 4096; i++) {
      const r = add('DEV_CTX_READ', `DEV_CTX_READ #${i + 1} in Freeze`, await a.ctxRead(src, 4096));
      if (r.status !== Status.OK) break;
      const len = decodeCtxReadOutput(r.output);
      parts.push(r.result.slice(0, Math.min(len, r.result.length)));
      if (len < 4096) break;
    }
    if (inUse(t, 'DEV_CTX_FIELDS_QUERY')) add('DEV_CTX_FIELDS_QUERY', 'DEV_CTX_FIELDS_QUERY', await a.fieldsQuery(src));
    add('DEV_CTX_DISCARD', 'DEV_CTX_DISCARD in Freeze', await a.discard(src));
    const ctx = Uint8Array.from(parts.flatMap((p) => [...p]));
    if (ctx.length) {
      for (let at = 0; at < ctx.length; at += 4096) {
        add('DEV_CTX_WRITE', `DEV_CTX_WRITE of bytes ${at}.. of a context read from the member`, await a.ctxWrite(src, ctx.subarray(at, at + 4096)));
      }
    }
    add('DEV_MODE_SET', 'DEV_MODE_SET Active from Freeze', await a.modeSet(src, DeviceMode.ACTIVE));
    if (opts.failures) {
      add('DEV_MODE_SET', 'DEV_MODE_SET reserved mode 3', await a.modeSet(src, 3), false);
      add('DEV_CTX_WRITE', 'DEV_CTX_WRITE in Active', await a.ctxWrite(src, new Uint8Array(8)), false);
      add('DEV_MODE_GET', 'DEV_MODE_GET to member 0', await a.send('DEV_MODE_GET', 0, undefined, { resultCapacity: 8 }), false);
      add('DEV_MODE_GET', 'DEV_MODE_GET with group_type 0', await a.send('DEV_MODE_GET', src, undefined, { groupType: GroupType.SELF, resultCapacity: 8 }), false);
    }
  }
  if (recordingUsable(t)) {
    const cap = capQueryUsable(t) ? add('DEV_WRITE_RECORD_CAP_QUERY', 'DEV_WRITE_RECORD_CAP_QUERY', await a.capQuery(src)) : undefined;
    if (!cap || cap.status === Status.OK) {
      const d = recordStartData(cap && cap.result.length >= 8 ? decodeWriteRecordCapResult(cap.result).supportedPageSizeBitmap : 1);
      add('DEV_WRITE_RECORDS_START', 'DEV_WRITE_RECORDS_START of one range', await a.recordsStart(src, d));
      add('DEV_WRITE_RECORDS_READ', 'DEV_WRITE_RECORDS_READ of that range', await a.recordsRead(src, d.entries[0].pageAddress, d.pageSize * d.entries[0].pageCount, 256));
      add('DEV_WRITE_RECORDS_STOP', 'DEV_WRITE_RECORDS_STOP', await a.recordsStop(src));
      add('DEV_WRITE_RECORDS_STOP', 'DEV_WRITE_RECORDS_STOP with recording stopped (SD19)', await a.recordsStop(src));
      if (opts.failures) add('DEV_WRITE_RECORDS_READ', 'DEV_WRITE_RECORDS_READ with recording stopped (SD18)', await a.recordsRead(src, d.entries[0].pageAddress, d.pageSize, 256), false);
    }
  }
  if (opts.failures) {
    const bad = [0x3f, 0x7fff, 0x8000].find((o) => !t.session.supported.has(o)) ?? 0xffff;
    add('RAW', `opcode 0x${bad.toString(16)} (unsupported)`, await a.sendOpcode(bad, src, undefined, { resultCapacity: 8 }), false);
    add('LIST_QUERY', 'LIST_QUERY with group_type 2', await a.send('LIST_QUERY', 0, undefined, { groupType: 0x2, resultCapacity: 64 }), false);
  }
  return out;
}

conformanceTest(
  {
    id: 'admin.success-status-ok',
    title: 'Every command that succeeds completes with status OK and status_qualifier 0',
    requirements: ['admin.gd2-success-status-ok', 'admin.ok-qualifier-zero'],
  },
  async (t: ConformanceContext) => {
    for (const x of await battery(t, { failures: false })) {
      t.check('admin.gd2-success-status-ok', x.r.status === Status.OK, `${x.what}: a valid command in this state must succeed with status OK; got ${describeStatus(x.r)}`);
      if (x.r.status === Status.OK) t.check('admin.ok-qualifier-zero', x.r.qualifier === Qualifier.OK, `${x.what}: status OK with status_qualifier 0x${x.r.qualifier.toString(16)} (must be 0)`);
    }
    if (t.session.commandSets.context) {
      // A change that took effect is a success: the command that made it must have said OK.
      const r = await t.admin.modeSet(t.src, DeviceMode.STOP);
      const now = await t.admin.modeGet(t.src);
      if (now.status === Status.OK && now.result[0] === DeviceMode.STOP) {
        t.check('admin.gd2-success-status-ok', r.status === Status.OK, `DEV_MODE_SET Stop took effect (DEV_MODE_GET reads Stop) but completed with ${describeStatus(r)}`);
      }
    }
  },
);

conformanceTest(
  {
    id: 'admin.unused-output-zero',
    title: 'command_specific_output reads zero for every command that does not use it (all but DEV_CTX_READ and DEV_WRITE_RECORDS_READ)',
    requirements: ['admin.unused-output-zero'],
    // The battery ends with commands the device must refuse (to check their output too).
    breaks: ['driver.mode-set-valid-value', 'admin.gr10-member-id-in-range', 'admin.gr6-no-command-before-list-use'],
  },
  async (t: ConformanceContext) => {
    const setting = t.settings.unusedOutputZero;
    if (setting === 'off') t.notApplicable('the profile does not check unused command_specific_output (unusedOutputZero: off)');
    const judge = (cond: boolean, msg: string) => (setting === 'fail' ? t.check('admin.unused-output-zero', cond, msg) : t.should('admin.unused-output-zero', cond, msg));
    for (const x of await battery(t, { failures: true })) {
      if (x.command === 'DEV_CTX_READ' || x.command === 'DEV_WRITE_RECORDS_READ') continue;
      judge(x.r.output.every((b) => b === 0), `${x.what} (${describeStatus(x.r)}): command_specific_output is ${hex(x.r.output)}, expected zeros (E32)`);
    }
  },
);

conformanceTest(
  {
    id: 'admin.no-data-commands-ignore-data',
    title: 'DEV_MODE_GET, DEV_CTX_READ, DEV_CTX_FIELDS_QUERY, DEV_CTX_DISCARD and DEV_WRITE_RECORDS_STOP ignore data bytes sent with them',
    requirements: ['admin.no-data-commands-ignore-data'],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const src = t.src;
    const req = 'admin.no-data-commands-ignore-data';
    const junk = new Uint8Array(16).fill(0xa5);
    // MODE_GET with data reports the mode like MODE_GET without.
    await a.modeSetOk(src, DeviceMode.STOP);
    const g = await a.send('DEV_MODE_GET', src, junk, { resultCapacity: 8 });
    if (t.expectOk(req, g, 'DEV_MODE_GET carrying 16 data bytes')) t.check(req, g.result[0] === DeviceMode.STOP, `DEV_MODE_GET carrying data reads ${modeName(g.result[0])}, the member is in Stop`);
    await a.modeSetOk(src, DeviceMode.FREEZE);
    const whole = await a.readContext(src);
    await a.discardOk(src);
    // READ with data: the same stream.
    const parts: number[] = [];
    for (let i = 0; i < 4096; i++) {
      const r = await a.send('DEV_CTX_READ', src, junk, { resultCapacity: 64 });
      if (!t.expectOk(req, r, `DEV_CTX_READ #${i + 1} carrying 16 data bytes`)) break;
      const len = decodeCtxReadOutput(r.output);
      parts.push(...r.result.subarray(0, Math.min(len, r.result.length)));
      if (len < 64) break;
    }
    const got = Uint8Array.from(parts);
    t.check(req, sameBytes(got, whole), `DEV_CTX_READ carrying data returned another stream (${got.length} bytes: ${hex(got)}) than without (${whole.length} bytes: ${hex(whole)})`);
    // DISCARD with data discards a partial read: the next READ starts over.
    await a.discardOk(src);
    await a.ctxReadOk(src, 8);
    t.expectOk(req, await a.send('DEV_CTX_DISCARD', src, junk, { resultCapacity: 0 }), 'DEV_CTX_DISCARD carrying 16 data bytes');
    const again = await a.ctxReadOk(src, 8);
    t.check(req, sameBytes(again.data, whole.subarray(0, 8)), `after DEV_CTX_DISCARD carrying data the next READ returned ${hex(again.data)}, not the start of the context ${hex(whole.subarray(0, 8))}`);
    await a.discardOk(src);
    if (inUse(t, 'DEV_CTX_FIELDS_QUERY')) {
      const plain = await a.fieldsQuery(src, 512);
      const withData = await a.send('DEV_CTX_FIELDS_QUERY', src, junk, { resultCapacity: 512 });
      if (t.expectOk(req, withData, 'DEV_CTX_FIELDS_QUERY carrying 16 data bytes') && plain.status === Status.OK) {
        t.check(req, sameBytes(withData.result, plain.result), `DEV_CTX_FIELDS_QUERY carrying data answered ${hex(withData.result)}, without data ${hex(plain.result)}`);
      }
    }
    await a.modeSetOk(src, DeviceMode.ACTIVE);
    if (recordingUsable(t)) {
      const d = recordStartData(await pageSizeBitmap(t));
      await a.recordsStartOk(src, d);
      await drainRange(t, src, d);
      t.expectOk(req, await a.send('DEV_WRITE_RECORDS_STOP', src, junk, { resultCapacity: 0 }), 'DEV_WRITE_RECORDS_STOP carrying 16 data bytes');
      const rr = await a.recordsRead(src, d.entries[0].pageAddress, d.pageSize, 256);
      t.check(req, rr.status !== Status.OK, 'after DEV_WRITE_RECORDS_STOP carrying data, DEV_WRITE_RECORDS_READ still completes OK: recording was not stopped');
      await a.recordsStop(src);
    }
  },
);

conformanceTest(
  {
    id: 'admin.no-result-commands-write-header-only',
    title: 'DEV_MODE_SET, DEV_CTX_WRITE, DEV_CTX_DISCARD, DEV_WRITE_RECORDS_START and _STOP write only the 8-byte status part (used length 8)',
    requirements: ['admin.no-result-commands-write-header-only'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const src = t.src;
    const req = 'admin.no-result-commands-write-header-only';
    const ROOM = 64;
    const check = (r: AdminCommandResponse, what: string) => {
      if (!t.expectOk(req, r, what)) return;
      t.check(req, r.usedLength === 8, `${what} with a ${ROOM}-byte result buffer: used length ${r.usedLength}, expected 8 (no command_specific_result)`);
    };
    let checked = 0;
    if (t.session.commandSets.context) {
      check(await a.send('DEV_MODE_SET', src, encodeModeSetData(DeviceMode.STOP), { resultCapacity: ROOM }), 'DEV_MODE_SET Stop');
      check(await a.send('DEV_MODE_SET', src, encodeModeSetData(DeviceMode.FREEZE), { resultCapacity: ROOM }), 'DEV_MODE_SET Freeze');
      const ctx = await a.readContext(src);
      if (inUse(t, 'DEV_CTX_DISCARD')) check(await a.send('DEV_CTX_DISCARD', src, undefined, { resultCapacity: ROOM }), 'DEV_CTX_DISCARD');
      for (let at = 0; at < ctx.length; at += 4096) {
        check(await a.ctxWrite(src, ctx.subarray(at, at + 4096), { resultCapacity: ROOM }), `DEV_CTX_WRITE of bytes ${at}.. of the member's context`);
      }
      check(await a.send('DEV_MODE_SET', src, encodeModeSetData(DeviceMode.ACTIVE), { resultCapacity: ROOM }), 'DEV_MODE_SET Active');
      checked++;
    }
    if (recordingUsable(t)) {
      const d = recordStartData(await pageSizeBitmap(t));
      check(await a.send('DEV_WRITE_RECORDS_START', src, encodeWriteRecordsStartData(d), { resultCapacity: ROOM }), 'DEV_WRITE_RECORDS_START');
      await drainRange(t, src, d);
      check(await a.send('DEV_WRITE_RECORDS_STOP', src, undefined, { resultCapacity: ROOM }), 'DEV_WRITE_RECORDS_STOP');
      checked++;
    }
    if (!checked) t.notApplicable('the device offers none of these commands');
  },
);
