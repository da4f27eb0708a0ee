import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeCtxReadOutput,
  decodeCtxWriteData,
  decodeFieldsQueryResult,
  decodeModeGetResult,
  decodeModeSetData,
  decodeOpcodeBitmap,
  decodeSizeGetData,
  decodeSizeGetResult,
  decodeWriteRecordCapResult,
  decodeWriteRecordsReadData,
  decodeWriteRecordsReadResult,
  decodeWriteRecordsStartData,
  decodeWriteRecordsStartDataStrict,
  DeviceMode,
  encodeCtxReadOutput,
  encodeCtxWriteData,
  encodeFieldsQueryResult,
  encodeModeGetResult,
  encodeModeSetData,
  encodeOpcodeBitmap,
  encodeSizeGetData,
  encodeSizeGetResult,
  encodeWriteRecordCapResult,
  encodeWriteRecordsReadData,
  encodeWriteRecordsReadResult,
  encodeWriteRecordsStartData,
  isValidMode,
  modeName,
  opcodeBitmapSize,
  pageSizeBit,
  pageSizesOf,
  recordsCapacity,
  START_ENTRY_SIZE,
  START_HEADER_SIZE,
  SUPPORTED_FIELD_SIZE,
  zeroFilled,
} from '../../protocol/commands.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { arbU16, arbU32, arbU64, arbU8, expectBytes, hostileBytes, hx, onlyDecodeError, z } from './helpers.ts';

const OUT = { writeRecordsCount: 'command_specific_output' } as const;
const RES = { writeRecordsCount: 'command_specific_result' } as const;
const RAW = { ctxWriteData: 'raw' } as const;
const LEGACY = { ctxWriteData: 'legacy-offset-header' } as const;

describe('DEV_MODE_GET / DEV_MODE_SET', () => {
  it('MODE_SET data is one byte: the mode', () => {
    expectBytes(encodeModeSetData(DeviceMode.STOP), '01');
    expectBytes(encodeModeSetData(DeviceMode.FREEZE), '02');
    expect(decodeModeSetData(hx('02 00 00 00 00 00 00 00'))).toEqual({ mode: 2 });
  });

  it('MODE_SET device decode reads missing data as mode 0 (VD1a)', () => {
    expect(decodeModeSetData(new Uint8Array(0))).toEqual({ mode: 0 });
  });

  it('MODE_GET result is u8 mode; an empty result is a DecodeError', () => {
    expectBytes(encodeModeGetResult(2), '02');
    expect(decodeModeGetResult(hx('01 00 00 00 00 00 00 00'))).toBe(1);
    expect(() => decodeModeGetResult(new Uint8Array(0))).toThrow(DecodeError);
  });

  it('names the modes and recognises the reserved ones', () => {
    expect([0, 1, 2, 3, 0xff].map(modeName)).toEqual(['Active', 'Stop', 'Freeze', 'reserved(0x3)', 'reserved(0xff)']);
    expect([0, 1, 2, 3, 255].map(isValidMode)).toEqual([true, true, true, false, false]);
  });

  it('round-trips every u8 mode (property)', () => {
    fc.assert(
      fc.property(arbU8, (m) => {
        expect(decodeModeSetData(encodeModeSetData(m)).mode).toBe(m);
        expect(decodeModeGetResult(encodeModeGetResult(m))).toBe(m);
      }),
    );
  });
});

describe('DEV_CTX_SIZE_GET', () => {
  it('data is u8 freeze_mode; result is le64 size', () => {
    expectBytes(encodeSizeGetData(1), '01');
    expect(decodeSizeGetData(new Uint8Array(0))).toEqual({ freezeMode: 0 });
    expectBytes(encodeSizeGetResult(0x0102030405060708n), '08 07 06 05 04 03 02 01');
    expect(decodeSizeGetResult(hx('00 10 00 00 00 00 00 00'))).toBe(4096n);
  });

  it('keeps sizes beyond Number.MAX_SAFE_INTEGER exact', () => {
    expect(decodeSizeGetResult(hx('ff ff ff ff ff ff ff ff'))).toBe((1n << 64n) - 1n);
    expect(decodeSizeGetResult(encodeSizeGetResult(BigInt(Number.MAX_SAFE_INTEGER) + 2n))).toBe(9007199254740993n);
  });

  it('a result shorter than 8 bytes is a DecodeError', () => {
    expect(() => decodeSizeGetResult(new Uint8Array(7))).toThrow(DecodeError);
  });

  it('round-trips (property)', () => {
    fc.assert(
      fc.property(arbU8, arbU64, (fm, size) => {
        expect(decodeSizeGetData(encodeSizeGetData(fm)).freezeMode).toBe(fm);
        expect(decodeSizeGetResult(encodeSizeGetResult(size))).toBe(size);
      }),
    );
  });
});

describe('DEV_CTX_READ', () => {
  it('command_specific_output is le32 context_len', () => {
    expectBytes(encodeCtxReadOutput(4096), '00 10 00 00');
    expectBytes(encodeCtxReadOutput(0xffff_ffff), 'ff ff ff ff');
    expect(decodeCtxReadOutput(hx('05 00 00 00'))).toBe(5);
    expect(() => decodeCtxReadOutput(hx('05 00 00'))).toThrow(DecodeError);
  });

  it('round-trips (property)', () => {
    fc.assert(
      fc.property(arbU32, (n) => {
        expect(decodeCtxReadOutput(encodeCtxReadOutput(n))).toBe(n);
      }),
    );
  });
});

describe('DEV_CTX_WRITE data (E7)', () => {
  it('raw: the context bytes as they are', () => {
    const chunk = hx('02 00 00 00 01 00');
    expectBytes(encodeCtxWriteData(chunk, RAW), '02 00 00 00 01 00');
    expectBytes(decodeCtxWriteData(chunk, RAW), '02 00 00 00 01 00');
  });

  it('legacy-offset-header: 8 bytes (u8 offset, 7 reserved) before the context bytes', () => {
    expectBytes(encodeCtxWriteData(hx('aa bb'), LEGACY), `${z(8)} aa bb`);
    expectBytes(decodeCtxWriteData(hx(`${z(8)} aa bb`), LEGACY), 'aa bb');
    expect(decodeCtxWriteData(new Uint8Array(8), LEGACY).length).toBe(0);
    expect(decodeCtxWriteData(new Uint8Array(3), LEGACY).length).toBe(0);
  });

  it('round-trips with both readings (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(RAW, LEGACY), (chunk, wire) => {
        expect(Array.from(decodeCtxWriteData(encodeCtxWriteData(chunk, wire), wire))).toEqual(Array.from(chunk));
      }),
    );
  });
});

describe('DEV_CTX_FIELDS_QUERY', () => {
  it('each entry is 16 bytes: le16 type at 0, 6 reserved, le64 length at 8', () => {
    expect(SUPPORTED_FIELD_SIZE).toBe(16);
    const bytes = encodeFieldsQueryResult([
      { type: 0x2, length: 30n },
      { type: 0x1000, length: 0x1_0000_0000n },
    ]);
    expectBytes(bytes, `02 00 ${z(6)} 1e 00 00 00 00 00 00 00 | 00 10 ${z(6)} 00 00 00 00 01 00 00 00`);
    expect(decodeFieldsQueryResult(bytes)).toEqual([
      { type: 2, length: 30n },
      { type: 0x1000, length: 0x1_0000_0000n },
    ]);
  });

  it('an empty result is an empty list; a truncated entry is a DecodeError', () => {
    expect(decodeFieldsQueryResult(new Uint8Array(0))).toEqual([]);
    expect(() => decodeFieldsQueryResult(new Uint8Array(17))).toThrow(DecodeError);
    expect(() => decodeFieldsQueryResult(new Uint8Array(15))).toThrow(DecodeError);
  });

  it('ignores the reserved bytes and keeps huge lengths exact', () => {
    const b = hx(`04 00 ff ff ff ff ff ff ff ff ff ff ff ff ff ff`);
    expect(decodeFieldsQueryResult(b)).toEqual([{ type: 4, length: (1n << 64n) - 1n }]);
  });

  it('round-trips (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ type: arbU16, length: arbU64 }), { maxLength: 12 }), (fields) => {
        const bytes = encodeFieldsQueryResult(fields);
        expect(bytes.length).toBe(16 * fields.length);
        expect(decodeFieldsQueryResult(bytes)).toEqual(fields);
      }),
    );
  });
});

describe('DEV_WRITE_RECORD_CAP_QUERY', () => {
  it('result: le32 supported_page_size_bitmap at 0, le32 supported_ranges at 4', () => {
    const bytes = encodeWriteRecordCapResult({ supportedPageSizeBitmap: 0x201, supportedRanges: 8 });
    expectBytes(bytes, '01 02 00 00 08 00 00 00');
    expect(decodeWriteRecordCapResult(bytes)).toEqual({ supportedPageSizeBitmap: 0x201, supportedRanges: 8 });
    expect(() => decodeWriteRecordCapResult(new Uint8Array(7))).toThrow(DecodeError);
  });

  it('encodes bit 31 and all-ones as unsigned', () => {
    expectBytes(encodeWriteRecordCapResult({ supportedPageSizeBitmap: 0x8000_0000, supportedRanges: -1 }), '00 00 00 80 ff ff ff ff');
    expect(decodeWriteRecordCapResult(hx('00 00 00 80 ff ff ff ff'))).toEqual({ supportedPageSizeBitmap: 0x8000_0000, supportedRanges: 0xffff_ffff });
  });

  it('bit n stands for 4096 << n bytes; bit 31 is 8 TiB, not 4 TB (E25)', () => {
    expect(pageSizesOf(0x201)).toEqual([4096n, 2n * 1024n * 1024n]);
    expect(pageSizesOf(0x8000_0000)).toEqual([1n << 43n]);
    expect(pageSizesOf(0x4000_0000)).toEqual([4n << 40n]);
    expect(pageSizesOf(0)).toEqual([]);
    expect(pageSizesOf(0xffff_ffff).length).toBe(32);
    expect(pageSizeBit(4096n)).toBe(0);
    expect(pageSizeBit(8192n)).toBe(1);
    expect(pageSizeBit(1n << 43n)).toBe(31);
    expect(pageSizeBit(3n * 4096n)).toBeUndefined();
    expect(pageSizeBit(2048n)).toBeUndefined();
    expect(pageSizeBit(1n << 44n)).toBeUndefined();
  });

  it('round-trips and pageSizeBit inverts pageSizesOf (property)', () => {
    fc.assert(
      fc.property(arbU32, arbU32, (bitmap, ranges) => {
        const c = { supportedPageSizeBitmap: bitmap, supportedRanges: ranges };
        expect(decodeWriteRecordCapResult(encodeWriteRecordCapResult(c))).toEqual(c);
        let back = 0;
        for (const s of pageSizesOf(bitmap)) back |= 1 << (pageSizeBit(s) as number);
        expect(back >>> 0).toBe(bitmap);
      }),
    );
  });
});

const arbEntry = fc.record({ pageAddress: arbU64, pageCount: arbU64 });

describe('DEV_WRITE_RECORDS_START', () => {
  it('data: le64 page_size, le32 count, 4 reserved, entries of 16 bytes from offset 16', () => {
    expect([START_HEADER_SIZE, START_ENTRY_SIZE]).toEqual([16, 16]);
    const bytes = encodeWriteRecordsStartData({ pageSize: 4096n, entries: [{ pageAddress: 0x1_0000_0000n, pageCount: 16n }] });
    expectBytes(bytes, `00 10 00 00 00 00 00 00 | 01 00 00 00 | 00 00 00 00 | 00 00 00 00 01 00 00 00 | 10 00 00 00 00 00 00 00`);
    expect(decodeWriteRecordsStartDataStrict(bytes)).toEqual({ pageSize: 4096n, count: 1, entries: [{ pageAddress: 0x1_0000_0000n, pageCount: 16n }] });
    expect(decodeWriteRecordsStartData(bytes, 8)).toEqual({ pageSize: 4096n, count: 1, entries: [{ pageAddress: 0x1_0000_0000n, pageCount: 16n }] });
  });

  it('an explicit count is encoded as given (mismatch probes)', () => {
    const bytes = encodeWriteRecordsStartData({ pageSize: 4096n, count: 3, entries: [] });
    expectBytes(bytes, `00 10 00 00 00 00 00 00 03 00 00 00 00 00 00 00`);
    expect(() => decodeWriteRecordsStartDataStrict(bytes)).toThrow(DecodeError);
  });

  it('device decode: missing entries read as zero (VD1a); a count above maxEntries is not expanded', () => {
    const bytes = encodeWriteRecordsStartData({ pageSize: 8192n, count: 2, entries: [{ pageAddress: 0x2000n, pageCount: 1n }] });
    expect(decodeWriteRecordsStartData(bytes, 4)).toEqual({
      pageSize: 8192n,
      count: 2,
      entries: [
        { pageAddress: 0x2000n, pageCount: 1n },
        { pageAddress: 0n, pageCount: 0n },
      ],
    });
    expect(decodeWriteRecordsStartData(bytes, 1)).toEqual({ pageSize: 8192n, count: 2, entries: [] });
    expect(decodeWriteRecordsStartData(new Uint8Array(0), 4)).toEqual({ pageSize: 0n, count: 0, entries: [] });
  });

  it('device decode with the largest count never allocates for it when maxEntries is small', () => {
    const bytes = hx(`00 10 00 00 00 00 00 00 ff ff ff ff 00 00 00 00`);
    expect(decodeWriteRecordsStartData(bytes, 64)).toEqual({ pageSize: 4096n, count: 0xffff_ffff, entries: [] });
    expect(() => decodeWriteRecordsStartDataStrict(bytes)).toThrow(DecodeError);
  });

  it('round-trips through both decoders (property)', () => {
    fc.assert(
      fc.property(arbU64, fc.array(arbEntry, { maxLength: 8 }), (pageSize, entries) => {
        const bytes = encodeWriteRecordsStartData({ pageSize, entries });
        expect(bytes.length).toBe(16 + 16 * entries.length);
        expect(decodeWriteRecordsStartDataStrict(bytes)).toEqual({ pageSize, count: entries.length, entries });
        expect(decodeWriteRecordsStartData(bytes, 8)).toEqual({ pageSize, count: entries.length, entries });
      }),
    );
  });
});

describe('DEV_WRITE_RECORDS_READ', () => {
  it('data: le64 page_address at 0, le64 length at 8', () => {
    const bytes = encodeWriteRecordsReadData({ pageAddress: 0x1_0000_0000n, length: 65536n });
    expectBytes(bytes, '00 00 00 00 01 00 00 00 | 00 00 01 00 00 00 00 00');
    expect(decodeWriteRecordsReadData(bytes)).toEqual({ pageAddress: 0x1_0000_0000n, length: 65536n });
    expect(decodeWriteRecordsReadData(hx('00 30'))).toEqual({ pageAddress: 0x3000n, length: 0n });
  });

  it('count in command_specific_output (E8 default): output le32 count, result le64 addresses', () => {
    const { output, result } = encodeWriteRecordsReadResult([0x1_0000_0000n, 0x1_0000_3000n], OUT);
    expectBytes(output, '02 00 00 00');
    expectBytes(result, '00 00 00 00 01 00 00 00 | 00 30 00 00 01 00 00 00');
    expect(decodeWriteRecordsReadResult(output, result, OUT)).toEqual([0x1_0000_0000n, 0x1_0000_3000n]);
  });

  it('count in command_specific_result: output zero, result le32 count, 4 reserved, then addresses', () => {
    const { output, result } = encodeWriteRecordsReadResult([0x1_0000_0000n, 0x1_0000_3000n], RES);
    expectBytes(output, '00 00 00 00');
    expectBytes(result, '02 00 00 00 00 00 00 00 | 00 00 00 00 01 00 00 00 | 00 30 00 00 01 00 00 00');
    expect(decodeWriteRecordsReadResult(output, result, RES)).toEqual([0x1_0000_0000n, 0x1_0000_3000n]);
  });

  it('SEED_V2_WIRE puts the count in command_specific_output', () => {
    expect(SEED_V2_WIRE.writeRecordsCount).toBe('command_specific_output');
  });

  it('a count larger than the written addresses is a DecodeError in both readings', () => {
    expect(() => decodeWriteRecordsReadResult(hx('03 00 00 00'), new Uint8Array(16), OUT)).toThrow(DecodeError);
    expect(() => decodeWriteRecordsReadResult(hx('ff ff ff ff'), new Uint8Array(0), OUT)).toThrow(DecodeError);
    expect(() => decodeWriteRecordsReadResult(new Uint8Array(4), hx('03 00 00 00 00 00 00 00'), RES)).toThrow(DecodeError);
    expect(() => decodeWriteRecordsReadResult(new Uint8Array(4), hx('00 00 00'), RES)).toThrow(DecodeError);
    expect(() => decodeWriteRecordsReadResult(hx('00 00'), new Uint8Array(0), OUT)).toThrow(DecodeError);
  });

  it('extra bytes after count addresses are ignored (result buffer larger than the records)', () => {
    expect(decodeWriteRecordsReadResult(hx('01 00 00 00'), new Uint8Array(24), OUT)).toEqual([0n]);
    expect(decodeWriteRecordsReadResult(hx('00 00 00 00'), new Uint8Array(24), OUT)).toEqual([]);
  });

  it('recordsCapacity accounts for the 8-byte count header of the result reading', () => {
    expect(recordsCapacity(64, OUT)).toBe(8);
    expect(recordsCapacity(64, RES)).toBe(7);
    expect(recordsCapacity(7, OUT)).toBe(0);
    expect(recordsCapacity(4, RES)).toBe(0);
  });

  it('round-trips with both readings (property)', () => {
    fc.assert(
      fc.property(arbU64, arbU64, fc.array(arbU64, { maxLength: 16 }), fc.constantFrom(OUT, RES), (pageAddress, length, addrs, wire) => {
        expect(decodeWriteRecordsReadData(encodeWriteRecordsReadData({ pageAddress, length }))).toEqual({ pageAddress, length });
        const { output, result } = encodeWriteRecordsReadResult(addrs, wire);
        expect(output.length).toBe(4);
        expect(recordsCapacity(result.length, wire)).toBe(addrs.length);
        expect(decodeWriteRecordsReadResult(output, result, wire)).toEqual(addrs);
      }),
    );
  });
});

describe('LIST_QUERY / LIST_USE opcode bitmap', () => {
  it('bit b of le64 word w is opcode 64*w + b (the spec example: words 0x3, 0x1 = opcodes 0, 1, 64)', () => {
    const bytes = encodeOpcodeBitmap([0, 1, 64]);
    expectBytes(bytes, '03 00 00 00 00 00 00 00 | 01 00 00 00 00 00 00 00');
    expect([...decodeOpcodeBitmap(bytes)].sort((a, b) => a - b)).toEqual([0, 1, 64]);
  });

  it('encodes the seed-v2 table command set in one word', () => {
    const ops = [0, 1, 7, 8, 9, 0xa, 0xb, 0xc, 0xd, 0xf, 0x10, 0x11, 0x12];
    expectBytes(encodeOpcodeBitmap(ops), '83 bf 07 00 00 00 00 00');
  });

  it('length is ceil((max + 1) / 64) words (B2): 63 needs one word, 64 two, 128 three', () => {
    expect(encodeOpcodeBitmap([63]).length).toBe(8);
    expectBytes(encodeOpcodeBitmap([63]), '00 00 00 00 00 00 00 80');
    expect(encodeOpcodeBitmap([64]).length).toBe(16);
    expect(encodeOpcodeBitmap([127]).length).toBe(16);
    expect(encodeOpcodeBitmap([128]).length).toBe(24);
    expect([0, 63, 64, 127, 128, 0xffff].map(opcodeBitmapSize)).toEqual([8, 8, 16, 16, 24, 8192]);
  });

  it('an empty list is minWords zero words; minWords adds trailing zero words', () => {
    expectBytes(encodeOpcodeBitmap([]), z(8));
    expect(encodeOpcodeBitmap([], 0).length).toBe(0);
    expect(encodeOpcodeBitmap([1], 4).length).toBe(32);
  });

  it('decodes a trailing partial word zero-extended and ignores zero words', () => {
    expect([...decodeOpcodeBitmap(hx('03 00 00 00 00 00 00 00 00 01'))]).toEqual([0, 1, 72]);
    expect(decodeOpcodeBitmap(new Uint8Array(0)).size).toBe(0);
  });

  it('handles a long opcode list without stack overflow', () => {
    const many = Array.from({ length: 300_000 }, (_, i) => i % 0x10000);
    expect(encodeOpcodeBitmap(many).length).toBe(8192);
  });

  it('round-trips any opcode set; length follows B2 (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }), fc.integer({ min: 0, max: 4 }), (ops, minWords) => {
        const bytes = encodeOpcodeBitmap(ops, minWords);
        const max = ops.length ? Math.max(...ops) : -1;
        expect(bytes.length).toBe(8 * Math.max(minWords, Math.ceil((max + 1) / 64)));
        if (ops.length) expect(bytes.length).toBeGreaterThanOrEqual(opcodeBitmapSize(max));
        expect([...decodeOpcodeBitmap(bytes)].sort((a, b) => a - b)).toEqual([...ops].sort((a, b) => a - b));
      }),
    );
  });
});

describe('zeroFilled', () => {
  it('extends short data with zeros and returns long data as is', () => {
    const d = Uint8Array.of(1, 2);
    expectBytes(zeroFilled(d, 4), '01 02 00 00');
    expect(zeroFilled(d, 2)).toBe(d);
    expect(zeroFilled(d, 0)).toBe(d);
  });
});

describe('command decoders on hostile input (property)', () => {
  const validStart = fc
    .tuple(arbU64, fc.array(arbEntry, { maxLength: 4 }))
    .map(([pageSize, entries]) => encodeWriteRecordsStartData({ pageSize, entries }));
  const validFields = fc.array(fc.record({ type: arbU16, length: arbU64 }), { maxLength: 4 }).map(encodeFieldsQueryResult);
  const validRecords = fc.array(arbU64, { maxLength: 6 });

  it('strict decoders throw nothing but DecodeError', () => {
    fc.assert(
      fc.property(hostileBytes(fc.uint8Array({ minLength: 8, maxLength: 16 })), (b) => {
        onlyDecodeError(() => decodeModeGetResult(b));
        onlyDecodeError(() => decodeSizeGetResult(b));
        onlyDecodeError(() => decodeCtxReadOutput(b));
        onlyDecodeError(() => decodeWriteRecordCapResult(b));
      }),
      { numRuns: 200 },
    );
    fc.assert(fc.property(hostileBytes(validFields), (b) => void onlyDecodeError(() => decodeFieldsQueryResult(b))), { numRuns: 300 });
    fc.assert(fc.property(hostileBytes(validStart), (b) => void onlyDecodeError(() => decodeWriteRecordsStartDataStrict(b))), { numRuns: 300 });
    fc.assert(
      fc.property(
        fc.constantFrom(OUT, RES),
        hostileBytes(fc.uint8Array({ minLength: 4, maxLength: 4 })),
        hostileBytes(validRecords.map((a) => encodeWriteRecordsReadResult(a, RES).result)),
        (wire, output, result) => {
          onlyDecodeError(() => decodeWriteRecordsReadResult(output, result, wire));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('device-side lenient decoders never throw at all', () => {
    fc.assert(
      fc.property(hostileBytes(validStart), fc.integer({ min: 0, max: 1024 }), (b, maxEntries) => {
        decodeModeSetData(b);
        decodeSizeGetData(b);
        decodeCtxWriteData(b, RAW);
        decodeCtxWriteData(b, LEGACY);
        decodeWriteRecordsReadData(b);
        decodeOpcodeBitmap(b);
        const s = decodeWriteRecordsStartData(b, maxEntries);
        expect(s.entries.length).toBe(s.count <= maxEntries ? s.count : 0);
      }),
      { numRuns: 400 },
    );
  });
});
