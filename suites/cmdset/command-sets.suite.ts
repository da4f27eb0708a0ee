import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeCtxReadOutput, decodeModeGetResult, decodeWriteRecordCapResult, encodeModeSetData, encodeWriteRecordsStartData } from '../../protocol/commands.ts';
import { type CommandName, CONTEXT_GROUP, WRITE_RECORD_GROUP } from '../../protocol/opcodes.ts';
import { GroupType, Qualifier, Status } from '../../protocol/status.ts';
import { DeviceMode, describeStatus, hex, memberCommandsInUse, modeName, probeCommand, recordStartData, sameBytes } from '../admin/helpers.ts';

const x = (o: number) => `0x${o.toString(16)}`;

/** Checks one all-or-none group against LIST_QUERY, and that every reported member is implemented. */
async function allOrNone(t: ConformanceContext, req: string, label: string, names: readonly CommandName[]): Promise<void> {
  const reported = await t.admin.listQuery({ resultCapacity: 256 });
  const present = names.filter((n) => reported.has(t.opcodes[n]));
  const missing = names.filter((n) => !reported.has(t.opcodes[n]));
  if (present.length === 0) {
    t.finding(`the device implements none of the ${label} (${names.map((n) => `${n} ${x(t.opcodes[n])}`).join(', ')})`);
    return;
  }
  t.check(req, missing.length === 0, `LIST_QUERY reports ${present.map((n) => `${n} (${x(t.opcodes[n])})`).join(', ')} of the ${label} but not ${missing.map((n) => `${n} (${x(t.opcodes[n])})`).join(', ')}: all or none`);
  // A reported command is implemented: once in use, it is not refused as an unknown opcode.
  for (const n of present) {
    if (!t.session.inUse.has(t.opcodes[n])) continue;
    const r = await probeCommand(t, n, t.src);
    t.check(req, !(r.status === Status.EINVAL && r.qualifier === Qualifier.INVALID_OPCODE), `${n} (${x(t.opcodes[n])}) is reported by LIST_QUERY and in use, yet refused as an unknown opcode (${describeStatus(r)})`);
  }
}

conformanceTest(
  {
    id: 'cmdset.context-group-all-or-none',
    title: 'The device offers all or none of DEV_MODE_GET, DEV_MODE_SET, DEV_CTX_SIZE_GET, DEV_CTX_READ, DEV_CTX_WRITE and DEV_CTX_DISCARD (E5, E6)',
    requirements: ['cmdset.context-group-all-or-none'],
  },
  async (t: ConformanceContext) => {
    const group: CommandName[] = [...CONTEXT_GROUP];
    if (t.settings.fieldsQueryInContextGroup) group.push('DEV_CTX_FIELDS_QUERY');
    await allOrNone(t, 'cmdset.context-group-all-or-none', 'mode/context command group', group);
  },
);

conformanceTest(
  {
    id: 'cmdset.write-record-group-all-or-none',
    title: 'The device offers all or none of the four write-record commands (opcodes of the active profile)',
    requirements: ['cmdset.write-record-group-all-or-none'],
  },
  async (t: ConformanceContext) => {
    let group: CommandName[] = [...WRITE_RECORD_GROUP];
    if (t.opcodes.DEV_WRITE_RECORD_CAP_QUERY === t.opcodes.DEV_CTX_DISCARD) {
      // Text numbering: CAP_QUERY's 0xd is DEV_CTX_DISCARD's (E2); its bit says nothing about CAP_QUERY.
      group = group.filter((n) => n !== 'DEV_WRITE_RECORD_CAP_QUERY');
      t.finding('text numbering: DEV_WRITE_RECORD_CAP_QUERY shares opcode 0xd with DEV_CTX_DISCARD (E2); the group is checked on the other three');
    }
    await allOrNone(t, 'cmdset.write-record-group-all-or-none', 'write-record command group', group);
  },
);

conformanceTest(
  {
    id: 'cmdset.context-opcodes',
    title: 'Opcodes 0x7..0xd reported by LIST_QUERY carry the meaning of the mode and context commands',
    requirements: ['cmdset.context-opcodes'],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const req = 'cmdset.context-opcodes';
    const op = t.opcodes;
    const has = (n: CommandName) => t.session.inUse.has(op[n]);
    const send = (n: CommandName, data?: Uint8Array, room = 8): Promise<AdminCommandResponse> => a.sendOpcode(op[n], t.src, data, { resultCapacity: room }, n);
    const is = (r: AdminCommandResponse, what: string) => t.check(req, r.status === Status.OK, `${what}: ${describeStatus(r)}`);
    // 0x8 sets the mode, 0x7 reads it.
    if (has('DEV_MODE_SET') && has('DEV_MODE_GET')) {
      for (const m of [DeviceMode.STOP, DeviceMode.FREEZE]) {
        is(await send('DEV_MODE_SET', encodeModeSetData(m), 0), `${x(op.DEV_MODE_SET)} (DEV_MODE_SET ${modeName(m)})`);
        const g = await send('DEV_MODE_GET');
        if (is(g, `${x(op.DEV_MODE_GET)} (DEV_MODE_GET)`)) {
          t.check(req, g.result.length >= 1 && decodeModeGetResult(g.result.subarray(0, 1)) === m, `${x(op.DEV_MODE_GET)} after ${x(op.DEV_MODE_SET)} ${modeName(m)} returned ${hex(g.result)}, not the mode byte ${m}`);
        }
      }
    }
    await a.modeSetOk(t.src, DeviceMode.FREEZE);
    // 0x9 returns an le64 size.
    if (has('DEV_CTX_SIZE_GET')) {
      const s = await send('DEV_CTX_SIZE_GET', new Uint8Array(1), 8);
      if (is(s, `${x(op.DEV_CTX_SIZE_GET)} (DEV_CTX_SIZE_GET)`)) t.check(req, s.result.length >= 8, `${x(op.DEV_CTX_SIZE_GET)} returned ${s.result.length} result bytes, not an le64 size`);
    }
    // 0xa reads the stream: context_len in the output, the bytes in the result.
    const whole = await a.readContext(t.src);
    t.check(req, whole.length > 0, `${x(op.DEV_CTX_READ)} (DEV_CTX_READ) in Freeze returned no context`);
    await a.discardOk(t.src);
    if (whole.length >= 16) {
      const r1 = await send('DEV_CTX_READ', undefined, 8);
      if (is(r1, `${x(op.DEV_CTX_READ)} (DEV_CTX_READ, 8 bytes)`)) {
        t.check(req, decodeCtxReadOutput(r1.output) === 8 && sameBytes(r1.result.subarray(0, 8), whole.subarray(0, 8)), `${x(op.DEV_CTX_READ)} with room for 8 bytes: context_len ${decodeCtxReadOutput(r1.output)}, data ${hex(r1.result)}; expected the first 8 context bytes ${hex(whole.subarray(0, 8))}`);
      }
      // 0xc (if offered) answers the supported fields and leaves the read where it was.
      if (has('DEV_CTX_FIELDS_QUERY')) {
        const f = await send('DEV_CTX_FIELDS_QUERY', undefined, 512);
        if (is(f, `${x(op.DEV_CTX_FIELDS_QUERY)} (DEV_CTX_FIELDS_QUERY)`)) {
          t.check(req, f.result.length > 0 && f.result.length % 16 === 0, `${x(op.DEV_CTX_FIELDS_QUERY)} returned ${f.result.length} result bytes, not a list of 16-byte field entries`);
        }
        const r2 = await send('DEV_CTX_READ', undefined, 8);
        t.check(req, r2.status === Status.OK && sameBytes(r2.result.subarray(0, 8), whole.subarray(8, 16)), `after ${x(op.DEV_CTX_FIELDS_QUERY)} the next READ returned ${hex(r2.result)}, not context bytes 8..16 ${hex(whole.subarray(8, 16))}: ${x(op.DEV_CTX_FIELDS_QUERY)} acted on the read stream`);
      }
      // 0xd discards the partial read: the next READ starts over.
      if (has('DEV_CTX_DISCARD')) {
        is(await send('DEV_CTX_DISCARD', undefined, 0), `${x(op.DEV_CTX_DISCARD)} (DEV_CTX_DISCARD)`);
        const r3 = await send('DEV_CTX_READ', undefined, 8);
        t.check(req, r3.status === Status.OK && sameBytes(r3.result.subarray(0, 8), whole.subarray(0, 8)), `after ${x(op.DEV_CTX_DISCARD)} the next READ returned ${hex(r3.result)}, not the start of the context ${hex(whole.subarray(0, 8))}`);
      }
      // Whatever the opcodes did, the stream is read to its end: no partial read is left behind.
      await a.readContext(t.src);
    }
    // 0xb writes a context: taken in Freeze, refused elsewhere (SD10).
    if (has('DEV_CTX_WRITE')) {
      for (let at = 0; at < whole.length; at += 4096) {
        is(await a.ctxWrite(t.src, whole.subarray(at, at + 4096)), `${x(op.DEV_CTX_WRITE)} (DEV_CTX_WRITE) of the member's own context in Freeze, bytes ${at}..`);
      }
      await a.modeSetOk(t.src, DeviceMode.ACTIVE);
      const w = await a.ctxWrite(t.src, whole.subarray(0, 8));
      t.check(req, w.status !== Status.OK, `${x(op.DEV_CTX_WRITE)} (DEV_CTX_WRITE) in Active completed OK; a context write is taken only in Freeze`);
    }
  },
);

conformanceTest(
  {
    id: 'cmdset.write-record-opcodes',
    title: 'The write-record opcodes of the active numbering carry the meaning of CAP_QUERY, START, STOP and READ',
    requirements: ['cmdset.write-record-opcodes'],
    commandSets: ['write-record'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const req = 'cmdset.write-record-opcodes';
    const op = t.opcodes;
    const need: CommandName[] = ['DEV_WRITE_RECORDS_START', 'DEV_WRITE_RECORDS_STOP', 'DEV_WRITE_RECORDS_READ'];
    if (!need.every((n) => t.session.inUse.has(op[n]))) t.notApplicable('the device does not offer START, STOP and READ of the write-record commands');
    let bitmap = 1;
    if (op.DEV_WRITE_RECORD_CAP_QUERY !== op.DEV_CTX_DISCARD && t.session.inUse.has(op.DEV_WRITE_RECORD_CAP_QUERY)) {
      const c = await a.capQuery(t.src);
      if (t.check(req, c.status === Status.OK && c.result.length >= 8, `${x(op.DEV_WRITE_RECORD_CAP_QUERY)} (DEV_WRITE_RECORD_CAP_QUERY): ${describeStatus(c)}, ${c.result.length} result bytes (8 expected)`)) {
        bitmap = decodeWriteRecordCapResult(c.result.subarray(0, 8)).supportedPageSizeBitmap || 1;
      }
    }
    const d = recordStartData(bitmap);
    const range = d.entries[0];
    const readRange = () => a.recordsRead(t.src, range.pageAddress, d.pageSize * range.pageCount, 256);
    const s = await a.send('DEV_WRITE_RECORDS_START', t.src, encodeWriteRecordsStartData(d), { resultCapacity: 0 });
    t.check(req, s.status === Status.OK, `${x(op.DEV_WRITE_RECORDS_START)} (DEV_WRITE_RECORDS_START) of one ${d.pageSize}-byte-page range: ${describeStatus(s)}`);
    if (s.status === Status.OK) {
      const r = await readRange();
      t.check(req, r.status === Status.OK, `${x(op.DEV_WRITE_RECORDS_READ)} (DEV_WRITE_RECORDS_READ) of the started range: ${describeStatus(r)}`);
    }
    const stop = await a.recordsStop(t.src);
    t.check(req, stop.status === Status.OK, `${x(op.DEV_WRITE_RECORDS_STOP)} (DEV_WRITE_RECORDS_STOP): ${describeStatus(stop)}`);
    const after = await readRange();
    t.check(req, after.status !== Status.OK, `${x(op.DEV_WRITE_RECORDS_READ)} (DEV_WRITE_RECORDS_READ) after ${x(op.DEV_WRITE_RECORDS_STOP)} completed OK: recording did not stop`);
  },
);

conformanceTest(
  {
    id: 'cmdset.opcode-0xe-unassigned',
    title: 'Under the opcode table numbering, 0xe is not reported by LIST_QUERY and a command with opcode 0xe fails with EINVAL/INVALID_OPCODE',
    requirements: ['cmdset.opcode-0xe-unassigned'],
    // Sends opcode 0xe, which no LIST_USE enabled, to a member and to member 0, on purpose.
    breaks: ['admin.gr6-no-command-before-list-use', 'admin.gr10-member-id-in-range'],
  },
  async (t: ConformanceContext) => {
    if (t.settings.opcodeNumbering !== 'table') t.notApplicable('text numbering: 0xe is DEV_WRITE_RECORDS_START');
    const req = 'cmdset.opcode-0xe-unassigned';
    const reported = await t.admin.listQuery({ resultCapacity: 256 });
    t.check(req, !reported.has(0xe), 'LIST_QUERY reports opcode 0xe, which the opcode table leaves unassigned (E3)');
    for (const m of [t.src, 0]) {
      const r = await t.admin.sendOpcode(0xe, m, new Uint8Array(16), { resultCapacity: 64 });
      t.expectStatus(req, r, Status.EINVAL, Qualifier.INVALID_OPCODE, `opcode 0xe to member ${m}`);
    }
  },
);

conformanceTest(
  {
    id: 'cmdset.sr-iov-group-type-only',
    title: 'The migration commands sent with a group_type other than SR-IOV fail with EINVAL/INVALID_GROUP',
    requirements: ['cmdset.sr-iov-group-type-only'],
    // Uses commands for group types no LIST_USE enabled, on purpose.
    breaks: ['admin.gr6-no-command-before-list-use'],
  },
  async (t: ConformanceContext) => {
    const cmds = memberCommandsInUse(t);
    if (!cmds.length) t.notApplicable('the device offers no migration command');
    for (const g of [GroupType.SELF, 0x2, 0x3, 0x8000, 0xffff]) {
      for (const n of cmds) {
        const r = await probeCommand(t, n, t.src, { groupType: g });
        t.expectStatus('cmdset.sr-iov-group-type-only', r, Status.EINVAL, Qualifier.INVALID_GROUP, `${n} to member ${t.src} with group_type ${x(g)}`);
      }
    }
  },
);
