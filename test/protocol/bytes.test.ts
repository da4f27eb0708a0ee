import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alignUp, hex, Reader, safeLength, view, Writer } from '../../protocol/bytes.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import { arbU16, arbU32, arbU64, arbU8, expectBytes, onlyDecodeError } from './helpers.ts';

describe('Writer', () => {
  it('writes little-endian fields at exact offsets', () => {
    const w = Writer.of(21);
    w.u8(0xab).u16(0x1234).u32(0xdeadbeef).u64(0x0102030405060708n).zero(2).put(Uint8Array.of(9, 8, 7, 6));
    expect(w.pos).toBe(21);
    expectBytes(w.bytes, 'ab 34 12 ef be ad de 08 07 06 05 04 03 02 01 00 00 09 08 07 06');
  });

  it('wraps le64 values modulo 2^64 (negative bigints are two-complement)', () => {
    expectBytes(Writer.of(8).u64(-1n).bytes, 'ff ff ff ff ff ff ff ff');
    expectBytes(Writer.of(8).u64((1n << 64n) + 5n).bytes, '05 00 00 00 00 00 00 00');
  });

  it('writes into a subarray without touching the bytes around it', () => {
    const backing = new Uint8Array(8).fill(0xee);
    new Writer(backing.subarray(2, 6)).u32(0x11223344);
    expectBytes(backing, 'ee ee 44 33 22 11 ee ee');
  });
});

describe('Reader', () => {
  it('reads little-endian fields and reports what it read', () => {
    const r = new Reader(Uint8Array.of(0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 8, 7, 6, 5, 4, 3, 2, 1), 'test');
    expect(r.u8()).toBe(0xab);
    expect(r.u16()).toBe(0x1234);
    expect(r.u32()).toBe(0xdeadbeef);
    expect(r.u64()).toBe(0x0102030405060708n);
    expect(r.remaining).toBe(0);
  });

  it('reads through a subarray view at its own offset', () => {
    const backing = Uint8Array.of(0xff, 0xff, 0x34, 0x12, 0xff);
    expect(new Reader(backing.subarray(2, 4), 't').u16()).toBe(0x1234);
    expect(view(backing.subarray(2, 4)).byteLength).toBe(2);
  });

  it('throws DecodeError naming the structure, field and offset on a short read', () => {
    const r = new Reader(Uint8Array.of(1, 2, 3), 'struct_x');
    r.u16('a');
    let err: unknown;
    try {
      r.u32('b');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    const d = err as DecodeError;
    expect(d.what).toBe('struct_x');
    expect(d.offset).toBe(2);
    expect(d.message).toContain('b needs 4 bytes, 1 left');
  });

  it('take() is a view, skip() and take() are bounds-checked', () => {
    const b = Uint8Array.of(1, 2, 3, 4);
    const r = new Reader(b, 't');
    const t = r.take(2);
    b[0] = 9;
    expect(Array.from(t)).toEqual([9, 2]);
    expect(() => r.skip(3)).toThrow(DecodeError);
    expect(() => r.take(-1)).toThrow(DecodeError);
    expect(() => r.take(Number.MAX_SAFE_INTEGER)).toThrow(DecodeError);
  });

  it('round-trips every width (property)', () => {
    fc.assert(
      fc.property(arbU8, arbU16, arbU32, arbU64, (a, b, c, d) => {
        const w = Writer.of(15).u8(a).u16(b).u32(c).u64(d);
        const r = new Reader(w.bytes, 't');
        expect([r.u8(), r.u16(), r.u32(), r.u64()]).toEqual([a, b, c, d]);
      }),
    );
  });

  it('never throws anything but DecodeError for any read sequence on any bytes (property)', () => {
    const op = fc.constantFrom('u8', 'u16', 'u32', 'u64', 'take', 'skip');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), fc.array(fc.tuple(op, fc.integer({ min: -4, max: 40 })), { maxLength: 12 }), (bytes, ops) => {
        onlyDecodeError(() => {
          const r = new Reader(bytes, 't');
          for (const [o, n] of ops) {
            if (o === 'take') r.take(n);
            else if (o === 'skip') r.skip(n);
            else r[o]();
          }
        });
      }),
    );
  });
});

describe('safeLength', () => {
  const r = new Reader(new Uint8Array(0), 't');
  it('accepts lengths up to Number.MAX_SAFE_INTEGER', () => {
    expect(safeLength(0n, r, 'len')).toBe(0);
    expect(safeLength(BigInt(Number.MAX_SAFE_INTEGER), r, 'len')).toBe(Number.MAX_SAFE_INTEGER);
  });
  it('rejects le64 lengths beyond Number.MAX_SAFE_INTEGER with DecodeError', () => {
    for (const v of [BigInt(Number.MAX_SAFE_INTEGER) + 1n, 1n << 63n, (1n << 64n) - 1n]) {
      expect(() => safeLength(v, r, 'len')).toThrow(DecodeError);
    }
  });
});

describe('alignUp', () => {
  it('rounds up to a multiple', () => {
    expect([0, 1, 7, 8, 9, 16, 17].map((n) => alignUp(n, 8))).toEqual([0, 8, 8, 8, 16, 16, 24]);
    expect(alignUp(5, 1)).toBe(5);
  });
  it('stays correct past 2^31 (no 32-bit wrap-around)', () => {
    expect(alignUp(0x7fff_fff9 + 16, 8)).toBe(0x8000_0010);
    expect(alignUp(2 ** 32 + 1, 8)).toBe(2 ** 32 + 8);
    expect(alignUp(2 ** 40 - 3, 4096)).toBe(2 ** 40);
  });
  it('matches the definition for any non-negative safe integer (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 4096 }), fc.constantFrom(1, 2, 4, 8, 4096), (n, to) => {
        const a = alignUp(n, to);
        expect(a % to).toBe(0);
        expect(a >= n && a - n < to).toBe(true);
      }),
    );
  });
});

describe('hex', () => {
  it('formats numbers and bigints with optional width', () => {
    expect(hex(0x10)).toBe('0x10');
    expect(hex(0x1n << 40n)).toBe('0x10000000000');
    expect(hex(5, 4)).toBe('0x0005');
  });
});
