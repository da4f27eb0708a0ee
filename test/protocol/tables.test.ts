import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../protocol/decode-error.ts';
import {
  commandName,
  COMMANDS,
  CONTEXT_GROUP,
  opcodeTable,
  TABLE_NUMBERING,
  TEXT_NUMBERING,
  WRITE_RECORD_GROUP,
} from '../../protocol/opcodes.ts';
import { modernDeviceId } from '../../protocol/pci.ts';
import { availRingSize, decodeDesc, descTableSize, encodeDesc, isPowerOfTwo, usedRingSize, VIRTQ_DESC_SIZE } from '../../protocol/split-ring.ts';
import { GroupType, Qualifier, qualifierName, Status, statusName } from '../../protocol/status.ts';
import { SEED_V2_WIRE, wireOptions } from '../../protocol/wire-options.ts';
import { arbU16, arbU32, arbU64, expectBytes, onlyDecodeError } from './helpers.ts';

describe('opcode tables (E1, E2, E3)', () => {
  it('table numbering: write-record commands at 0xf..0x12, 0xe unassigned', () => {
    expect(TABLE_NUMBERING).toMatchObject({
      LIST_QUERY: 0,
      LIST_USE: 1,
      DEV_MODE_GET: 7,
      DEV_MODE_SET: 8,
      DEV_CTX_SIZE_GET: 9,
      DEV_CTX_READ: 0xa,
      DEV_CTX_WRITE: 0xb,
      DEV_CTX_FIELDS_QUERY: 0xc,
      DEV_CTX_DISCARD: 0xd,
      DEV_WRITE_RECORD_CAP_QUERY: 0xf,
      DEV_WRITE_RECORDS_START: 0x10,
      DEV_WRITE_RECORDS_STOP: 0x11,
      DEV_WRITE_RECORDS_READ: 0x12,
    });
    expect(commandName(TABLE_NUMBERING, 0xe)).toBeUndefined();
    expect(new Set(Object.values(TABLE_NUMBERING)).size).toBe(COMMANDS.length);
  });

  it('text numbering: 0xd..0x10, and 0xd resolves to DEV_CTX_DISCARD', () => {
    expect(TEXT_NUMBERING.DEV_WRITE_RECORD_CAP_QUERY).toBe(0xd);
    expect(TEXT_NUMBERING.DEV_WRITE_RECORDS_READ).toBe(0x10);
    expect(commandName(TEXT_NUMBERING, 0xd)).toBe('DEV_CTX_DISCARD');
    expect(commandName(TEXT_NUMBERING, 0xe)).toBe('DEV_WRITE_RECORDS_START');
    expect(commandName(TEXT_NUMBERING, 0x12)).toBeUndefined();
  });

  it('opcodeTable picks the numbering; the groups are E6 defaults', () => {
    expect(opcodeTable('table')).toBe(TABLE_NUMBERING);
    expect(opcodeTable('text')).toBe(TEXT_NUMBERING);
    expect(CONTEXT_GROUP.map((c) => TABLE_NUMBERING[c])).toEqual([7, 8, 9, 0xa, 0xb, 0xd]);
    expect(WRITE_RECORD_GROUP.map((c) => TABLE_NUMBERING[c])).toEqual([0xf, 0x10, 0x11, 0x12]);
  });

  it('commandName inverts the table for every name (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(TABLE_NUMBERING, TEXT_NUMBERING), arbU16, (t, op) => {
        const name = commandName(t, op);
        if (name !== undefined) expect(t[name]).toBe(op);
        else expect(Object.values(t)).not.toContain(op);
      }),
    );
  });
});

describe('status and qualifier names', () => {
  it('names the 1.3 values and marks the rest reserved', () => {
    expect([Status.OK, Status.EAGAIN, Status.ENOMEM, Status.EINVAL].map(statusName)).toEqual(['OK', 'EAGAIN', 'ENOMEM', 'EINVAL']);
    expect(statusName(5)).toBe('reserved(5)');
    expect(qualifierName(Qualifier.INVALID_MEMBER)).toBe('INVALID_MEMBER');
    expect(qualifierName(8)).toBe('reserved(0x8)');
    expect(GroupType.SRIOV).toBe(1);
  });
});

describe('wire options', () => {
  it('SEED_V2_WIRE carries the seed-errata defaults', () => {
    expect(SEED_V2_WIRE).toMatchObject({
      opcodes: TABLE_NUMBERING,
      ctxWriteData: 'raw',
      writeRecordsCount: 'command_specific_output',
      ctxStreamAlignment: 'packed',
      pciVqCfgLayout: 'packed',
      pciCommonCfgLength: 64,
    });
    expect(Object.isFrozen(SEED_V2_WIRE)).toBe(true);
  });

  it('wireOptions maps opcode numbering to a table', () => {
    const w = wireOptions({
      opcodeNumbering: 'text',
      ctxWriteData: 'legacy-offset-header',
      writeRecordsCount: 'command_specific_result',
      ctxStreamAlignment: 'natural',
      pciVqCfgLayout: 'natural',
      pciCommonCfgLength: 56,
    });
    expect(w.opcodes).toBe(TEXT_NUMBERING);
    expect(w.pciCommonCfgLength).toBe(56);
  });
});

describe('split ring layouts', () => {
  it('struct virtq_desc: le64 addr, le32 len, le16 flags, le16 next', () => {
    expect(VIRTQ_DESC_SIZE).toBe(16);
    const b = encodeDesc({ addr: 0x1000n, len: 0x200, flags: 3, next: 7 });
    expectBytes(b, '00 10 00 00 00 00 00 00 | 00 02 00 00 | 03 00 | 07 00');
    expect(decodeDesc(b)).toEqual({ addr: 0x1000n, len: 0x200, flags: 3, next: 7 });
  });

  it('decodeDesc on fewer than 16 bytes is a DecodeError, not a RangeError', () => {
    for (const n of [0, 8, 15]) expect(() => decodeDesc(new Uint8Array(n))).toThrow(DecodeError);
  });

  it('ring sizes', () => {
    expect(descTableSize(256)).toBe(4096);
    expect(availRingSize(256)).toBe(6 + 512);
    expect(usedRingSize(256)).toBe(6 + 2048);
    expect([0, 1, 2, 3, 256, 32768, 32769].map(isPowerOfTwo)).toEqual([false, true, true, false, true, true, false]);
    expect(modernDeviceId(1)).toBe(0x1041);
  });

  it('descriptors round-trip; decodeDesc throws only DecodeError (property)', () => {
    fc.assert(
      fc.property(arbU64, arbU32, arbU16, arbU16, fc.uint8Array({ maxLength: 24 }), (addr, len, flags, next, junk) => {
        expect(decodeDesc(encodeDesc({ addr, len, flags, next }))).toEqual({ addr, len, flags, next });
        onlyDecodeError(() => decodeDesc(junk));
      }),
    );
  });
});
