import fc from 'fast-check';
import { expect } from 'vitest';
import { DecodeError } from '../../protocol/decode-error.ts';
import { wireOptions, type WireOptions, type WireSettings } from '../../protocol/wire-options.ts';

/** Bytes from a hex string; whitespace, `|` and `_` are separators ("08 00 | 01 00"). */
export function hx(s: string): Uint8Array {
  const clean = s.replace(/[\s|_]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex vector: ${s}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** `n` zero bytes as hex, for readable vectors. */
export function z(n: number): string {
  return '00'.repeat(n);
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Byte-exact comparison with a readable diff. */
export function expectBytes(actual: Uint8Array, expected: Uint8Array | string): void {
  const e = typeof expected === 'string' ? hx(expected) : expected;
  expect(toHex(actual)).toBe(toHex(e));
}

/** Runs f; any throw other than DecodeError fails the property (the decoder contract). */
export function onlyDecodeError(f: () => unknown): 'ok' | 'decode-error' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof DecodeError) return 'decode-error';
    throw new Error(`a decoder threw something other than DecodeError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}

/** Every combination of the wire settings (opcode numbering, E7, E8, E11, E13) with three common-cfg lengths. */
export const ALL_WIRE: WireOptions[] = (() => {
  const out: WireOptions[] = [];
  for (const opcodeNumbering of ['table', 'text'] as const)
    for (const ctxWriteData of ['raw', 'legacy-offset-header'] as const)
      for (const writeRecordsCount of ['command_specific_output', 'command_specific_result'] as const)
        for (const ctxStreamAlignment of ['packed', 'natural'] as const)
          for (const pciVqCfgLayout of ['packed', 'natural'] as const)
            for (const pciCommonCfgLength of [56, 60, 64]) {
              const s: WireSettings = { opcodeNumbering, ctxWriteData, writeRecordsCount, ctxStreamAlignment, pciVqCfgLayout, pciCommonCfgLength };
              out.push(wireOptions(s));
            }
  return out;
})();

export const arbWire: fc.Arbitrary<WireOptions> = fc.constantFrom(...ALL_WIRE);
export const arbAlignment = fc.constantFrom('packed' as const, 'natural' as const);

export const U64_MAX = (1n << 64n) - 1n;
export const arbU8 = fc.integer({ min: 0, max: 0xff });
export const arbU16 = fc.integer({ min: 0, max: 0xffff });
export const arbU32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** le64 values, biased towards the edges (0, 2^53 +- 1, 2^63, 2^64 - 1). */
export const arbU64: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: 0n, max: U64_MAX }),
  fc.constantFrom(0n, 1n, BigInt(Number.MAX_SAFE_INTEGER), BigInt(Number.MAX_SAFE_INTEGER) + 1n, 1n << 63n, U64_MAX),
);

/** Splits `bytes` into chunks at the given cut points (any numbers; reduced modulo length + 1). */
export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

/** A mutation applied to a valid encoding: what a broken device or a corrupted buffer could produce. */
export type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'set-byte'; at: number; value: number }
  | { kind: 'set-le16'; at: number; value: number }
  | { kind: 'set-le32'; at: number; value: number }
  | { kind: 'set-le64'; at: number; value: bigint }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'drop'; at: number; n: number };

/** Field values that break length and type checks: huge lengths, reserved context types, all-ones. */
const nastyLe64 = fc.constantFrom(
  U64_MAX,
  1n << 63n,
  BigInt(Number.MAX_SAFE_INTEGER) + 1n,
  BigInt(Number.MAX_SAFE_INTEGER),
  0x7fff_ffffn,
  0x8000_0000n,
  0xffff_ffffn,
  0x1_0000_0000n,
  0n,
  1n,
);
const nastyLe16 = fc.oneof(arbU16, fc.constantFrom(0x5, 0xfff, 0x1001, 0x1fff, 0x2000, 0xffff));
const nastyLe32 = fc.oneof(arbU32, fc.constantFrom(0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 0x1000_0000));

export const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('set-byte' as const), at: fc.nat(), value: arbU8 }),
  fc.record({ kind: fc.constant('set-le16' as const), at: fc.nat(), value: nastyLe16 }),
  fc.record({ kind: fc.constant('set-le32' as const), at: fc.nat(), value: nastyLe32 }),
  fc.record({ kind: fc.constant('set-le64' as const), at: fc.nat(), value: nastyLe64 }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
);

/** Applies mutations to a copy. Offsets are reduced modulo the current length, so every mutation applies. */
export function mutate(bytes: Uint8Array, ms: readonly Mutation[], aligned: number[] = []): Uint8Array {
  let b = bytes.slice();
  for (const m of ms) {
    const at = (n: number, width: number): number => {
      // Prefer known field offsets (TLV length/type positions) when the caller gave them.
      const pool = aligned.filter((o) => o + width <= b.length);
      if (pool.length > 0 && n % 2 === 0) return pool[(n >> 1) % pool.length];
      return b.length >= width ? n % (b.length - width + 1) : -1;
    };
    switch (m.kind) {
      case 'truncate':
        b = b.slice(0, m.at % (b.length + 1));
        break;
      case 'set-byte': {
        const o = at(m.at, 1);
        if (o >= 0) b[o] = m.value;
        break;
      }
      case 'set-le16': {
        const o = at(m.at, 2);
        if (o >= 0) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint16(o, m.value, true);
        break;
      }
      case 'set-le32': {
        const o = at(m.at, 4);
        if (o >= 0) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(o, m.value, true);
        break;
      }
      case 'set-le64': {
        const o = at(m.at, 8);
        if (o >= 0) new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(o, m.value, true);
        break;
      }
      case 'append': {
        const n = new Uint8Array(b.length + m.bytes.length);
        n.set(b);
        n.set(m.bytes, b.length);
        b = n;
        break;
      }
      case 'drop': {
        const o = b.length ? m.at % b.length : 0;
        const n = new Uint8Array(Math.max(0, b.length - Math.min(m.n, b.length - o)));
        n.set(b.subarray(0, o));
        n.set(b.subarray(o + m.n), o);
        b = n;
        break;
      }
    }
  }
  return b;
}

/** Arbitrary bytes, or a mutated copy of a valid encoding drawn from `valid`. */
export function hostileBytes(valid: fc.Arbitrary<Uint8Array>, aligned?: (b: Uint8Array) => number[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 96 }),
    valid,
    fc.tuple(valid, fc.array(arbMutation, { minLength: 1, maxLength: 4 })).map(([b, ms]) => mutate(b, ms, aligned ? aligned(b) : [])),
  );
}
