import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeCtxReadOutput, decodeOpcodeBitmap, encodeModeSetData, encodeSizeGetData, encodeWriteRecordsStartData, START_HEADER_SIZE } from '../../protocol/commands.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import {
  DeviceMode,
  describeStatus,
  capQueryUsable,
  drainRange,
  pageSizeBitmap,
  recordingUsable,
  hex,
  inUse,
  modeName,
  rawFrame,
  type RawOutcome,
  readableOf,
  recordStartData,
  sameBytes,
} from '../admin/helpers.ts';

const sortedHex = (s: Set<number>) => [...s].sort((a, b) => a - b).map((o) => `0x${o.toString(16)}`).join(', ');

async function modeIs(t: ConformanceContext, mode: number): Promise<boolean> {
  const g = await t.admin.modeGet(t.src);
  return g.status === Status.OK && g.result[0] === mode;
}

function junkAfter(head: Uint8Array, extra: number): Uint8Array {
  const out = new Uint8Array(head.length + extra).fill(0xa5);
  out.set(head);
  return out;
}

conformanceTest(
  {
    id: 'avq.short-readable-reads-zero',
    title: 'A device-readable part shorter than the command structure is read as if the missing bytes were zero, and the command is not failed for it',
    requirements: ['avq.vd1a-short-readable-reads-zero', 'avq.vd4-no-failure-for-buffer-size'],
    needs: ['raw-frames'],
    // Short (and unpadded) readable parts, on purpose.
    // The 2- and 16-byte parts read as group_type 0 and member 0: GR6 and GR10 probes as well.
    breaks: ['avq.vr2-readable-covers-structure', 'avq.vr3-parts-multiple-of-8', 'admin.gr6-no-command-before-list-use', 'admin.gr10-member-id-in-range'],
  },
  async (t: ConformanceContext) => {
    const op = t.opcodes;
    const full = await t.admin.listQuery({ resultCapacity: 64 });
    const okProbe = (o: RawOutcome, what: string) => {
      t.check('avq.vd4-no-failure-for-buffer-size', o.response.status === Status.OK, `${what}: failed with ${describeStatus(o.response)}; the command is valid once the missing bytes read as zero`);
      return t.check('avq.vd1a-short-readable-reads-zero', o.response.status === Status.OK, `${what}: not executed as the zero-extended command (${describeStatus(o.response)})`);
    };
    // 4 bytes: opcode LIST_QUERY, group_type SR-IOV; member id and the rest read as zero.
    const lq = await rawFrame(t, readableOf({ opcode: op.LIST_QUERY }).subarray(0, 4), 8 + 64);
    if (okProbe(lq, 'LIST_QUERY with a 4-byte readable part')) {
      const got = decodeOpcodeBitmap(lq.response.result);
      t.check('avq.vd1a-short-readable-reads-zero', sameBytes(new Uint8Array([...got].sort((a, b) => a - b)), new Uint8Array([...full].sort((a, b) => a - b))), `LIST_QUERY with a 4-byte readable part reports ${sortedHex(got)}, a full one ${sortedHex(full)}`);
    }
    if (!t.session.commandSets.context) return;
    // 2 bytes: group_type reads 0, which is not SR-IOV.
    const g0 = await rawFrame(t, readableOf({ opcode: op.DEV_MODE_GET, memberId: t.src }).subarray(0, 2), 16);
    t.expectStatus('avq.vd1a-short-readable-reads-zero', g0.response, Status.EINVAL, Qualifier.INVALID_GROUP, 'DEV_MODE_GET with a 2-byte readable part (group_type reads 0)');
    // 16 bytes: group_member_id reads 0.
    const m0 = await rawFrame(t, readableOf({ opcode: op.DEV_MODE_GET, memberId: t.src }).subarray(0, 16), 16);
    t.expectStatus('avq.vd1a-short-readable-reads-zero', m0.response, Status.EINVAL, Qualifier.INVALID_MEMBER, 'DEV_MODE_GET with a 16-byte readable part (group_member_id reads 0)');
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    // 20 bytes: the low half of group_member_id; the high half reads 0, so it is the member.
    const m20 = await rawFrame(t, readableOf({ opcode: op.DEV_MODE_GET, memberId: t.src }).subarray(0, 20), 16);
    if (okProbe(m20, `DEV_MODE_GET with a 20-byte readable part (low half of group_member_id ${t.src})`)) {
      t.check('avq.vd1a-short-readable-reads-zero', m20.response.result[0] === DeviceMode.STOP, `DEV_MODE_GET with a 20-byte readable part reads ${modeName(m20.response.result[0])}; the member is in Stop`);
    }
    // 24 bytes, no data: DEV_MODE_SET's mode reads 0 = Active.
    const s24 = await rawFrame(t, readableOf({ opcode: op.DEV_MODE_SET, memberId: t.src }), 8);
    if (okProbe(s24, 'DEV_MODE_SET with no command_specific_data (mode reads 0)')) {
      t.check('avq.vd1a-short-readable-reads-zero', await modeIs(t, DeviceMode.ACTIVE), 'DEV_MODE_SET with no data completed OK but the member is not in Active (mode 0)');
    }
    // 24 bytes, no data: DEV_CTX_SIZE_GET's freeze_mode reads 0.
    const z24 = await rawFrame(t, readableOf({ opcode: op.DEV_CTX_SIZE_GET, memberId: t.src }), 16);
    okProbe(z24, 'DEV_CTX_SIZE_GET with no command_specific_data (freeze_mode reads 0)');
  },
);

conformanceTest(
  {
    id: 'avq.short-writable-truncated',
    title: 'A device-writable part shorter than the reply gets only what fits (used length within the buffer), and the command still runs',
    requirements: ['avq.vd1b-short-writable-truncated', 'avq.vd4-no-failure-for-buffer-size'],
    needs: ['raw-frames'],
    // Writable parts of 2, 4 and 12 bytes, on purpose.
    breaks: ['avq.vr3-parts-multiple-of-8'],
  },
  async (t: ConformanceContext) => {
    const op = t.opcodes;
    const req = 'avq.vd1b-short-writable-truncated';
    const fits = (o: RawOutcome, what: string) =>
      t.check(req, o.usedLength <= o.writableLength, `${what}: used length ${o.usedLength} exceeds the ${o.writableLength}-byte writable part (the device wrote, or claims to have written, past it)`);
    const ok = (o: RawOutcome, what: string) => t.check('avq.vd4-no-failure-for-buffer-size', o.usedLength < 2 || o.response.status === Status.OK, `${what}: failed with ${describeStatus(o.response)}`);

    const full = await t.admin.send('LIST_QUERY', 0, undefined, { resultCapacity: 64 });
    t.requireOk(undefined, full, 'LIST_QUERY');
    const lq = await rawFrame(t, readableOf({ opcode: op.LIST_QUERY }), 12);
    if (fits(lq, 'LIST_QUERY with a 12-byte writable part') && ok(lq, 'LIST_QUERY with a 12-byte writable part') && lq.usedLength > 8) {
      const n = lq.usedLength - 8;
      t.check(req, sameBytes(lq.response.result, full.result.subarray(0, n)), `LIST_QUERY with a 12-byte writable part wrote ${hex(lq.response.result)}, the first ${n} bytes of the list are ${hex(full.result.subarray(0, n))}`);
    }
    if (!t.session.commandSets.context) return;
    const sg = await rawFrame(t, readableOf({ opcode: op.DEV_CTX_SIZE_GET, memberId: t.src, data: new Uint8Array(8) }), 8);
    fits(sg, 'DEV_CTX_SIZE_GET with an 8-byte writable part (no room for the size)');
    ok(sg, 'DEV_CTX_SIZE_GET with an 8-byte writable part');
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    const mg = await rawFrame(t, readableOf({ opcode: op.DEV_MODE_GET, memberId: t.src }), 8);
    fits(mg, 'DEV_MODE_GET with an 8-byte writable part (no room for the mode)');
    ok(mg, 'DEV_MODE_GET with an 8-byte writable part');
    // The command runs even when its status cannot be written in full.
    const set = (mode: number) => readableOf({ opcode: op.DEV_MODE_SET, memberId: t.src, data: Uint8Array.of(mode, 0, 0, 0, 0, 0, 0, 0) });
    const s4 = await rawFrame(t, set(DeviceMode.ACTIVE), 4);
    fits(s4, 'DEV_MODE_SET Active with a 4-byte writable part');
    ok(s4, 'DEV_MODE_SET Active with a 4-byte writable part');
    t.check(req, await modeIs(t, DeviceMode.ACTIVE), 'DEV_MODE_SET Active with a 4-byte writable part did not take effect');
    const s2 = await rawFrame(t, set(DeviceMode.STOP), 2);
    fits(s2, 'DEV_MODE_SET Stop with a 2-byte writable part');
    ok(s2, 'DEV_MODE_SET Stop with a 2-byte writable part');
    t.check(req, await modeIs(t, DeviceMode.STOP), 'DEV_MODE_SET Stop with a 2-byte writable part did not take effect');
  },
);

conformanceTest(
  {
    id: 'avq.long-readable-ignored',
    title: 'Bytes past the command structure in the device-readable part are ignored',
    requirements: ['avq.vd2a-long-readable-ignored', 'avq.vd4-no-failure-for-buffer-size'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const req = 'avq.vd2a-long-readable-ignored';
    const ok = (r: AdminCommandResponse, what: string) => {
      t.check('avq.vd4-no-failure-for-buffer-size', r.status === Status.OK, `${what}: failed with ${describeStatus(r)}`);
      return t.check(req, r.status === Status.OK, `${what}: the extra bytes were not ignored (${describeStatus(r)})`);
    };
    const full = await a.listQuery({ resultCapacity: 64 });
    const lq = await a.send('LIST_QUERY', 0, new Uint8Array(64).fill(0xa5), { resultCapacity: 64 });
    if (ok(lq, 'LIST_QUERY carrying 64 bytes of data')) {
      const got = decodeOpcodeBitmap(lq.result);
      t.check(req, [...full].every((o) => got.has(o)) && [...got].every((o) => full.has(o)), `LIST_QUERY carrying data reports ${sortedHex(got)}, without ${sortedHex(full)}`);
    }
    if (t.session.commandSets.context) {
      for (const mode of [DeviceMode.STOP, DeviceMode.ACTIVE]) {
        const r = await a.send('DEV_MODE_SET', t.src, junkAfter(encodeModeSetData(mode), 63), { resultCapacity: 0 });
        if (ok(r, `DEV_MODE_SET ${modeName(mode)} followed by 63 bytes of 0xa5`)) t.check(req, await modeIs(t, mode), `DEV_MODE_SET ${modeName(mode)} with trailing bytes completed OK but did not set ${modeName(mode)}`);
      }
      const sg = await a.send('DEV_CTX_SIZE_GET', t.src, junkAfter(encodeSizeGetData(0), 31), { resultCapacity: 8 });
      ok(sg, 'DEV_CTX_SIZE_GET freeze_mode 0 followed by 31 bytes of 0xa5');
    }
    if (recordingUsable(t)) {
      const d = recordStartData(await pageSizeBitmap(t));
      const data = encodeWriteRecordsStartData(d);
      t.require(undefined, data.length === START_HEADER_SIZE + 16, 'START data layout');
      const r = await a.send('DEV_WRITE_RECORDS_START', t.src, junkAfter(data, 32), { resultCapacity: 0 });
      ok(r, 'DEV_WRITE_RECORDS_START of one range followed by 32 bytes of 0xa5 (past count entries)');
      if (r.status === Status.OK) await drainRange(t, t.src, d);
      await a.recordsStop(t.src);
    }
  },
);

conformanceTest(
  {
    id: 'avq.long-writable-used-length',
    title: 'With a device-writable part longer than the reply, the device writes only the reply and reports what it wrote as the used length',
    requirements: ['avq.vd2b-long-writable-used-length', 'avq.vd4-no-failure-for-buffer-size'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const req = 'avq.vd2b-long-writable-used-length';
    const ROOM = 256;
    /** At most the structure, rounded up to whole 8-byte units (VD5), must be reported. */
    const within = (r: AdminCommandResponse, structure: number, what: string) => {
      if (!t.check('avq.vd4-no-failure-for-buffer-size', r.status === Status.OK, `${what} with a ${ROOM}-byte result buffer: failed with ${describeStatus(r)}`)) return;
      const max = 8 + Math.ceil(structure / 8) * 8;
      t.check(req, r.usedLength <= max, `${what} with a ${ROOM}-byte result buffer: used length ${r.usedLength}, but its reply is ${8 + structure} bytes (${max} in 8-byte units)`);
      t.check(req, r.result.subarray(structure).every((b) => b === 0), `${what}: bytes past the ${structure}-byte result are not zero (${hex(r.result.subarray(structure))})`);
    };
    if (t.session.commandSets.context) {
      await a.modeSetOk(t.src, DeviceMode.STOP);
      within(await a.send('DEV_MODE_GET', t.src, undefined, { resultCapacity: ROOM }), 1, 'DEV_MODE_GET');
      within(await a.send('DEV_MODE_SET', t.src, encodeModeSetData(DeviceMode.FREEZE), { resultCapacity: ROOM }), 0, 'DEV_MODE_SET Freeze');
      within(await a.send('DEV_CTX_SIZE_GET', t.src, encodeSizeGetData(0), { resultCapacity: ROOM }), 8, 'DEV_CTX_SIZE_GET');
      // READ: the reply is context_len bytes of context.
      for (let i = 0; i < 64; i++) {
        const r = await a.ctxRead(t.src, 4096);
        if (!t.check('avq.vd4-no-failure-for-buffer-size', r.status === Status.OK, `DEV_CTX_READ: failed with ${describeStatus(r)}`)) break;
        const len = decodeCtxReadOutput(r.output);
        t.check(req, r.usedLength <= 8 + Math.ceil(len / 8) * 8, `DEV_CTX_READ with a 4096-byte buffer: used length ${r.usedLength} for context_len ${len}`);
        if (len < 4096) break;
      }
      within(await a.send('DEV_CTX_DISCARD', t.src, undefined, { resultCapacity: ROOM }), 0, 'DEV_CTX_DISCARD');
      await a.modeSetOk(t.src, DeviceMode.ACTIVE);
    }
    if (capQueryUsable(t)) within(await a.send('DEV_WRITE_RECORD_CAP_QUERY', t.src, undefined, { resultCapacity: ROOM }), 8, 'DEV_WRITE_RECORD_CAP_QUERY');
  },
);
