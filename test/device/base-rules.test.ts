import { describe, expect, it } from 'vitest';
import { decodeAdminCmdResult, encodeAdminCmd } from '../../protocol/admin-frame.ts';
import { decodeCtxReadOutput, decodeOpcodeBitmap, encodeModeSetData, encodeOpcodeBitmap } from '../../protocol/commands.ts';
import { DeviceMode, expectEinval, expectOk, GroupType, OP, Qualifier, rawExec, rig } from './helpers.ts';

const CONTEXT_AND_RECORDS = [0x7, 0x8, 0x9, 0xa, 0xb, 0xc, 0xd, 0xf, 0x10, 0x11, 0x12];

describe('base rules of the 1.3 admin command set as the seed relies on them (P4)', () => {
  it('LIST_QUERY offers LIST_QUERY, LIST_USE and the draft commands in table numbering, not 0xe (E1, E3)', async () => {
    const { admin } = await rig({}, { listUse: false });
    expect([...(await admin.listQuery())].sort((a, b) => a - b)).toEqual([0x0, 0x1, ...CONTEXT_AND_RECORDS]);
  });

  it('a command before LIST_USE fails with INVALID_OPCODE (GD8, GD10)', async () => {
    const { admin } = await rig({}, { listUse: false });
    expectEinval(await admin.modeGet(1), Qualifier.INVALID_OPCODE);
    expectEinval(await admin.ctxRead(1), Qualifier.INVALID_OPCODE);
    expectEinval(await admin.capQuery(1), Qualifier.INVALID_OPCODE);
  });

  it('only the opcodes of the in-use list are accepted', async () => {
    const { admin } = await rig({}, { listUse: false });
    expectOk(await admin.listUse([0x0, 0x1, OP.DEV_MODE_GET]));
    expectOk(await admin.modeGet(1));
    expectEinval(await admin.modeSet(1, DeviceMode.STOP), Qualifier.INVALID_OPCODE);
    expect(await admin.modeGetOk(1)).toBe(DeviceMode.ACTIVE);
  });

  it('LIST_USE naming an unsupported opcode fails with INVALID_FIELD and leaves the in-use list unchanged (GD6, GD9)', async () => {
    const { admin } = await rig();
    for (const extra of [0xe, 0x13, 0x3f, 0x40]) {
      expectEinval(await admin.listUse([0x0, 0x1, OP.DEV_MODE_GET, extra]), Qualifier.INVALID_FIELD);
    }
    // Still everything in use (had the list become {0, 1, 7}, READ would now fail).
    expectOk(await admin.ctxRead(1));
    expectOk(await admin.recordsStop(1));
  });

  it('LIST_USE naming an unsupported opcode before any LIST_USE keeps the reset list', async () => {
    const { admin } = await rig({}, { listUse: false });
    expectEinval(await admin.listUse([0x0, 0x1, OP.DEV_MODE_GET, 0xe]), Qualifier.INVALID_FIELD);
    expectEinval(await admin.modeGet(1), Qualifier.INVALID_OPCODE);
  });

  for (const groupType of [0, 2]) {
    it(`group_type ${groupType} fails with INVALID_GROUP, even with a bad opcode or a bad member (GD1)`, async () => {
      const { admin } = await rig();
      expectEinval(await admin.modeGet(1, { groupType }), Qualifier.INVALID_GROUP);
      expectEinval(await admin.sendOpcode(0xe, 1, undefined, { groupType }), Qualifier.INVALID_GROUP);
      expectEinval(await admin.sendOpcode(0x8000, 1, undefined, { groupType }), Qualifier.INVALID_GROUP);
      expectEinval(await admin.modeGet(99, { groupType }), Qualifier.INVALID_GROUP);
      expectEinval(await admin.sendOpcode(0xe, 0, undefined, { groupType }), Qualifier.INVALID_GROUP);
    });
  }

  it('member 0 and member N+1 fail with INVALID_MEMBER (GD13)', async () => {
    const { admin } = await rig();
    for (const m of [0, 3]) {
      expectEinval(await admin.modeGet(m), Qualifier.INVALID_MEMBER);
      expectEinval(await admin.ctxRead(m), Qualifier.INVALID_MEMBER);
      expectEinval(await admin.capQuery(m), Qualifier.INVALID_MEMBER);
    }
    expectEinval(await admin.send('DEV_MODE_GET', 1n << 63n, undefined, { resultCapacity: 8 }), Qualifier.INVALID_MEMBER);
  });

  it('a bad opcode wins over a bad member', async () => {
    const { admin } = await rig();
    expectEinval(await admin.sendOpcode(0xe, 0), Qualifier.INVALID_OPCODE);
  });

  for (const opcode of [0xe, 0x13, 0x7fff, 0x8000, 0xffff]) {
    it(`opcode 0x${opcode.toString(16)} fails with INVALID_OPCODE (E3, GD1b)`, async () => {
      const { admin } = await rig();
      expectEinval(await admin.sendOpcode(opcode, 1), Qualifier.INVALID_OPCODE);
    });
  }

  it('a command that fails with EINVAL has no side effects (P4)', async () => {
    const { admin } = await rig();
    expectEinval(await admin.modeSet(3, DeviceMode.FREEZE), Qualifier.INVALID_MEMBER);
    expectEinval(await admin.modeSet(1, DeviceMode.FREEZE, { groupType: GroupType.SELF }), Qualifier.INVALID_GROUP);
    expectEinval(await admin.modeSet(1, 7), Qualifier.INVALID_FIELD);
    expect(await admin.modeGetOk(1)).toBe(DeviceMode.ACTIVE);
    expect(await admin.modeGetOk(2)).toBe(DeviceMode.ACTIVE);
    expectEinval(await admin.ctxRead(0), Qualifier.INVALID_MEMBER);
    expect((await admin.readContext(1)).length).toBeGreaterThan(0);
  });
});

describe('frame handling (VD1a, VD1b)', () => {
  it('a readable part shorter than the 24-byte header reads as if padded with zeros', async () => {
    const { sim } = await rig();
    const exec = async (readable: Uint8Array) => {
      const d = await sim.execFrame({ readable, writableLength: 16 });
      return decodeAdminCmdResult(d.writable, d.usedLength);
    };
    // Nothing at all: opcode 0, group_type 0 -> INVALID_GROUP.
    expectEinval(await exec(new Uint8Array(0)), Qualifier.INVALID_GROUP);
    // opcode 7, group_type 1; the member id is missing -> member 0.
    expectEinval(await exec(Uint8Array.of(0x07, 0, 0x01, 0)), Qualifier.INVALID_MEMBER);
    // 20 bytes: the low half of group_member_id = 1, the high half reads 0 -> member 1.
    const twenty = encodeAdminCmd({ opcode: OP.DEV_MODE_GET, groupType: GroupType.SRIOV, memberId: 1n, data: new Uint8Array(0) }).subarray(0, 20);
    const r = await exec(twenty);
    expectOk(r);
    // The one-byte mode, padded with zeros to a whole 8-byte unit (VD5).
    expect(r.result).toEqual(Uint8Array.of(DeviceMode.ACTIVE, 0, 0, 0, 0, 0, 0, 0));
  });

  it('missing command_specific_data reads as zeros (MODE_SET with no data = Active)', async () => {
    const { sim, admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.STOP);
    expectOk(await rawExec(sim, { opcode: OP.DEV_MODE_SET, memberId: 1 }, 8));
    expect(await admin.modeGetOk(1)).toBe(DeviceMode.ACTIVE);
    expectOk(await rawExec(sim, { opcode: OP.DEV_MODE_SET, memberId: 1, data: encodeModeSetData(DeviceMode.STOP) }, 8));
    expect(await admin.modeGetOk(1)).toBe(DeviceMode.STOP);
  });

  it('a writable part shorter than the result truncates it and reports the bytes written as used length', async () => {
    const { sim } = await rig();
    const full = await rawExec(sim, { opcode: OP.LIST_QUERY, memberId: 0 }, 8 + 64);
    expect(full.usedLength).toBe(16);
    const cut = await rawExec(sim, { opcode: OP.LIST_QUERY, memberId: 0 }, 12);
    expect(cut.usedLength).toBe(12);
    expectOk(cut);
    expect(cut.result).toEqual(full.result.subarray(0, 4));
    expect(decodeOpcodeBitmap(cut.result)).toEqual(decodeOpcodeBitmap(full.result.subarray(0, 4)));
    const headerOnly = await rawExec(sim, { opcode: OP.DEV_MODE_GET, memberId: 1 }, 8);
    expectOk(headerOnly);
    expect(headerOnly.usedLength).toBe(8);
    expect(headerOnly.result.length).toBe(0);
    const statusOnly = await sim.execFrame({ readable: encodeAdminCmd({ opcode: OP.DEV_MODE_GET, groupType: 1, memberId: 1n, data: new Uint8Array(0) }), writableLength: 4 });
    expect(statusOnly.usedLength).toBe(4);
    expect(statusOnly.writable.length).toBe(4);
    const none = await sim.execFrame({ readable: encodeAdminCmd({ opcode: OP.DEV_MODE_GET, groupType: 1, memberId: 1n, data: new Uint8Array(0) }), writableLength: 0 });
    expect(none.usedLength).toBe(0);
  });

  it('a READ with no result room returns context_len 0 and does not start the stream', async () => {
    const { sim, admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const size = await admin.sizeGetOk(1);
    const r = await rawExec(sim, { opcode: OP.DEV_CTX_READ, memberId: 1 }, 8);
    expectOk(r);
    expect(decodeCtxReadOutput(r.output)).toBe(0);
    expect(await admin.sizeGetOk(1)).toBe(size);
    await admin.modeSetOk(1, DeviceMode.ACTIVE);
  });

  it('LIST_USE with a bitmap longer than needed is accepted (trailing zero words)', async () => {
    const { admin } = await rig({}, { listUse: false });
    expectOk(await admin.send('LIST_USE', 0, encodeOpcodeBitmap([0, 1, 7], 4), { resultCapacity: 0 }));
    expectOk(await admin.modeGet(1));
  });
});

describe('optional command sets (SD1, SD16, E6)', () => {
  it('a device without write recording offers none of its four commands, and they fail with INVALID_OPCODE', async () => {
    const { admin } = await rig({ commandSets: { context: true, fieldsQuery: true, writeRecords: false } });
    const offered = await admin.listQuery();
    for (const op of [0xf, 0x10, 0x11, 0x12]) expect(offered.has(op)).toBe(false);
    expectEinval(await admin.capQuery(1), Qualifier.INVALID_OPCODE);
    expectOk(await admin.modeGet(1));
  });

  it('a device without FIELDS_QUERY still offers the whole mode/context group', async () => {
    const { admin } = await rig({ commandSets: { context: true, fieldsQuery: false, writeRecords: true } });
    const offered = await admin.listQuery();
    expect(offered.has(0xc)).toBe(false);
    for (const op of [0x7, 0x8, 0x9, 0xa, 0xb, 0xd]) expect(offered.has(op)).toBe(true);
    expectEinval(await admin.fieldsQuery(1), Qualifier.INVALID_OPCODE);
  });
});
