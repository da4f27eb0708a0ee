import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../protocol/decode-error.ts';
import { encodeDevFeatures, encodePciVqCfg, encodeVqSplitDevDescs, encodeVqSplitRuntime } from '../../protocol/dev-ctx-fields.ts';
import {
  decodeDevCtx,
  DevCtxStreamParser,
  DevCtxType,
  devCtxTypeClass,
  devCtxTypeName,
  encodeDevCtx,
  encodedDevCtxSize,
  TLV_HEADER_SIZE,
  type DecodeDevCtxOptions,
  type VirtioDevCtx,
  type VirtioDevCtxFieldTlv,
} from '../../protocol/device-context.ts';
import { arbAlignment, arbU16, expectBytes, hostileBytes, hx, onlyDecodeError, splitAt, z } from './helpers.ts';

type Alignment = 'packed' | 'natural';

const TWO_FIELDS: VirtioDevCtx = {
  fields: [
    { type: DevCtxType.DEV_FEATURES, value: encodeDevFeatures((1n << 32n) | 1n, 1) },
    { type: DevCtxType.VQ_SPLIT_RUNTIME_CFG, value: encodeVqSplitRuntime({ vqIndex: 1, devAvailIdx: 0x1234, enabled: 1 }) },
  ],
};

const arbDefinedType = fc.constantFrom(0x0, 0x1, 0x2, 0x3, 0x4, 0x1000);
const arbReservedType = fc.oneof(fc.integer({ min: 0x5, max: 0xfff }), fc.integer({ min: 0x1001, max: 0xffff }));
const arbField = fc.record({ type: arbDefinedType, value: fc.uint8Array({ maxLength: 40 }) });
const arbCtx = fc.record({ fields: fc.array(arbField, { maxLength: 8 }) });

/** Offsets of every TLV's type and length field in an encoded context (mutation targets). */
function tlvOffsets(ctx: VirtioDevCtx, a: Alignment): number[] {
  const out = [0];
  let o = a === 'packed' ? 4 : 8;
  for (const f of ctx.fields) {
    out.push(o, o + 8);
    const span = TLV_HEADER_SIZE + f.value.length;
    o += a === 'packed' ? span : Math.ceil(span / 8) * 8;
  }
  return out;
}

function plain(fields: readonly VirtioDevCtxFieldTlv[]): { type: number; offset?: number; value: number[] }[] {
  return fields.map((f) => ({ type: f.type, offset: f.offset, value: Array.from(f.value) }));
}

/** Feeds chunks; returns the outcome and checks `complete` after every chunk. */
function feedAll(p: DevCtxStreamParser, chunks: Uint8Array[]): void {
  for (const c of chunks) p.feed(c);
}

describe('device context stream (E11)', () => {
  it('type ranges follow the table and the 16-bit width (E10)', () => {
    expect([0, 1, 2, 3, 4, 0x1000].map(devCtxTypeClass)).toEqual(Array(6).fill('defined'));
    expect([5, 0xfff].map(devCtxTypeClass)).toEqual(['reserved-generic', 'reserved-generic']);
    expect([0x1001, 0x1fff].map(devCtxTypeClass)).toEqual(['reserved-device', 'reserved-device']);
    expect([0x2000, 0x2fff, 0x3000, 0xffff].map(devCtxTypeClass)).toEqual(Array(4).fill('reserved'));
    expect(devCtxTypeName(2)).toBe('VIRTIO_DEV_CTX_PCI_VQ_CFG');
    expect(devCtxTypeName(0x1000)).toBe('VIRTIO_DEV_CTX_DEV_CFG');
    expect(devCtxTypeName(0x2000)).toBe('reserved(0x2000)');
  });

  it('packed: field_count at 0, first TLV at 4, next TLV right after the value', () => {
    const bytes = encodeDevCtx(TWO_FIELDS, 'packed');
    expectBytes(
      bytes,
      `02 00 00 00 | 01 00 ${z(6)} 08 00 00 00 00 00 00 00 | 01 00 00 00 01 00 00 00 | 03 00 ${z(6)} 05 00 00 00 00 00 00 00 | 01 00 34 12 01`,
    );
    expect(bytes.length).toBe(49);
    expect(encodedDevCtxSize(TWO_FIELDS, 'packed')).toBe(49);
    const d = decodeDevCtx(bytes, 'packed');
    expect(d.fields.map((f) => f.offset)).toEqual([4, 28]);
    expect(plain(d.fields)).toEqual([
      { type: 1, offset: 4, value: [1, 0, 0, 0, 1, 0, 0, 0] },
      { type: 3, offset: 28, value: [1, 0, 0x34, 0x12, 1] },
    ]);
  });

  it('natural: field_count padded to 8, each TLV padded to a multiple of 8', () => {
    const bytes = encodeDevCtx(TWO_FIELDS, 'natural');
    expectBytes(
      bytes,
      `02 00 00 00 00 00 00 00 | 01 00 ${z(6)} 08 00 00 00 00 00 00 00 | 01 00 00 00 01 00 00 00 | 03 00 ${z(6)} 05 00 00 00 00 00 00 00 | 01 00 34 12 01 00 00 00`,
    );
    expect(bytes.length).toBe(56);
    expect(decodeDevCtx(bytes, 'natural').fields.map((f) => f.offset)).toEqual([8, 32]);
  });

  it('an empty context is field_count 0 alone', () => {
    expectBytes(encodeDevCtx({ fields: [] }, 'packed'), '00 00 00 00');
    expectBytes(encodeDevCtx({ fields: [] }, 'natural'), z(8));
    expect(decodeDevCtx(hx('00 00 00 00'), 'packed').fields).toEqual([]);
  });

  it('a PCI_VQ_CFG TLV carries length 30 (packed) or 32 (natural)', () => {
    const q = { vqIndex: 0, queueSize: 8, queueMsixVector: 0, queueDesc: 0n, queueDriver: 0n, queueDevice: 0n };
    for (const [layout, len] of [
      ['packed', 30],
      ['natural', 32],
    ] as const) {
      const bytes = encodeDevCtx({ fields: [{ type: 2, value: encodePciVqCfg(q, layout) }] }, 'packed');
      expect(new DataView(bytes.buffer).getBigUint64(4 + 8, true)).toBe(BigInt(len));
    }
  });

  it('negative-test overrides: field_count and TLV length as given', () => {
    const bytes = encodeDevCtx({ fields: [{ type: 3, value: hx('01 00 00 00 01'), lengthOverride: 6n }], fieldCountOverride: 2 }, 'packed');
    expectBytes(bytes, `02 00 00 00 | 03 00 ${z(6)} 06 00 00 00 00 00 00 00 | 01 00 00 00 01`);
    expect(() => decodeDevCtx(bytes, 'packed')).toThrow(DecodeError);
  });

  it('rejects truncation, a missing field, huge le64 lengths and reserved types with DecodeError', () => {
    const bytes = encodeDevCtx(TWO_FIELDS, 'packed');
    expect(() => decodeDevCtx(bytes.subarray(0, 48), 'packed')).toThrow(DecodeError);
    expect(() => decodeDevCtx(bytes.subarray(0, 3), 'packed')).toThrow(DecodeError);
    const more = bytes.slice();
    more[0] = 3;
    expect(() => decodeDevCtx(more, 'packed')).toThrow(DecodeError);
    for (const len of [(1n << 64n) - 1n, 1n << 63n, BigInt(Number.MAX_SAFE_INTEGER) + 1n, BigInt(Number.MAX_SAFE_INTEGER), 0xffff_ffffn]) {
      const b = bytes.slice();
      new DataView(b.buffer).setBigUint64(12, len, true);
      expect(() => decodeDevCtx(b, 'packed')).toThrow(DecodeError);
      const p = new DevCtxStreamParser('packed');
      expect(() => p.feed(b)).toThrow(DecodeError);
    }
    const reserved = bytes.slice();
    reserved[4] = 0x05;
    expect(() => decodeDevCtx(reserved, 'packed')).toThrow(/reserved range/);
    expect(decodeDevCtx(reserved, 'packed', { allowReservedTypes: true }).fields[0].type).toBe(5);
  });

  it('accepts up to 7 zero bytes of trailing padding, rejects more or non-zero unless allowTrailing', () => {
    const bytes = encodeDevCtx(TWO_FIELDS, 'packed');
    const pad = (extra: string): Uint8Array => {
      const e = hx(extra);
      const out = new Uint8Array(bytes.length + e.length);
      out.set(bytes);
      out.set(e, bytes.length);
      return out;
    };
    expect(decodeDevCtx(pad(z(7)), 'packed').fields.length).toBe(2);
    expect(() => decodeDevCtx(pad(z(8)), 'packed')).toThrow(DecodeError);
    expect(() => decodeDevCtx(pad('00 01'), 'packed')).toThrow(DecodeError);
    expect(decodeDevCtx(pad('ff ff ff ff ff ff ff ff ff'), 'packed', { allowTrailing: true }).fields.length).toBe(2);
  });

  it('round-trips in both alignments (property)', () => {
    fc.assert(
      fc.property(arbCtx, arbAlignment, (ctx, a) => {
        const bytes = encodeDevCtx(ctx, a);
        expect(bytes.length).toBe(encodedDevCtxSize(ctx, a));
        if (a === 'natural') expect(bytes.length % 8).toBe(0);
        const d = decodeDevCtx(bytes, a);
        expect(d.fields.map((f) => ({ type: f.type, value: Array.from(f.value) }))).toEqual(ctx.fields.map((f) => ({ type: f.type, value: Array.from(f.value) })));
        expect(d.fields.map((f) => f.offset)).toEqual(tlvOffsets(ctx, a).filter((_, i) => i % 2 === 1));
      }),
      { numRuns: 300 },
    );
  });

  it('reserved types round-trip with allowReservedTypes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ type: fc.oneof(arbDefinedType, arbReservedType), value: fc.uint8Array({ maxLength: 12 }) }), { maxLength: 6 }), arbAlignment, (fields, a) => {
        const d = decodeDevCtx(encodeDevCtx({ fields }, a), a, { allowReservedTypes: true });
        expect(d.fields.map((f) => f.type)).toEqual(fields.map((f) => f.type));
      }),
    );
  });
});

describe('DevCtxStreamParser', () => {
  it('reports progress: empty, then incomplete, then complete exactly at the last byte', () => {
    const bytes = encodeDevCtx(TWO_FIELDS, 'packed');
    const p = new DevCtxStreamParser('packed');
    expect(p.empty).toBe(true);
    expect(p.complete).toBe(false);
    for (let i = 0; i < bytes.length; i++) {
      p.feed(bytes.subarray(i, i + 1));
      expect(p.empty).toBe(false);
      expect(p.bytesReceived).toBe(i + 1);
      expect(p.complete).toBe(i === bytes.length - 1);
    }
    expect(plain(p.fields)).toEqual(plain(decodeDevCtx(bytes, 'packed').fields));
  });

  it('an empty context is complete after field_count alone', () => {
    const p = new DevCtxStreamParser('natural');
    p.feed(new Uint8Array(4));
    expect(p.complete).toBe(false);
    p.feed(new Uint8Array(4));
    expect(p.complete).toBe(true);
    expect(p.fields).toEqual([]);
  });

  it('field values stay intact while the buffer grows', () => {
    const big = { fields: Array.from({ length: 40 }, (_, i) => ({ type: 0x1000, value: new Uint8Array(100).fill(i) })) };
    const bytes = encodeDevCtx(big, 'packed');
    const p = new DevCtxStreamParser('packed');
    for (let o = 0; o < bytes.length; o += 37) p.feed(bytes.slice(o, o + 37));
    expect(p.complete).toBe(true);
    p.fields.forEach((f, i) => expect(f.value.every((b) => b === i)).toBe(true));
  });

  it('does not alias the caller chunk', () => {
    const bytes = encodeDevCtx(TWO_FIELDS, 'packed');
    const chunk = bytes.slice();
    const p = new DevCtxStreamParser('packed');
    p.feed(chunk);
    chunk.fill(0xee);
    expect(plain(p.fields)).toEqual(plain(decodeDevCtx(bytes, 'packed').fields));
  });

  it('rejects a reserved type as soon as its TLV header arrives, not after its value', () => {
    const header = hx(`01 00 00 00 | 00 20 ${z(6)} 00 00 00 40 00 00 00 00`);
    const p = new DevCtxStreamParser('packed');
    expect(() => p.feed(header)).toThrow(/reserved range/);
    const q = new DevCtxStreamParser('packed', { allowReservedTypes: true });
    q.feed(header);
    expect(q.complete).toBe(false);
  });

  it('waits (does not throw) for a value up to 2^31 - 1 bytes in both alignments; rejects longer ones', () => {
    for (const a of ['packed', 'natural'] as const) {
      for (const len of [0x7fff_fff0n, 0x7fff_fff9n, 0x7fff_ffffn]) {
        const head = a === 'packed' ? '01 00 00 00' : `01 ${z(7)}`;
        const p = new DevCtxStreamParser(a);
        p.feed(hx(`${head} | 00 10 ${z(6)}`));
        const dv = new Uint8Array(8);
        new DataView(dv.buffer).setBigUint64(0, len, true);
        p.feed(dv);
        p.feed(new Uint8Array(64));
        expect(p.complete).toBe(false);
      }
      const p = new DevCtxStreamParser(a);
      const head = a === 'packed' ? '01 00 00 00' : `01 ${z(7)}`;
      expect(() => p.feed(hx(`${head} | 00 10 ${z(6)} 00 00 00 80 00 00 00 00`))).toThrow(DecodeError);
    }
  });

  it('trailing bytes follow decodeDevCtx: up to 7 zero bytes, anything with allowTrailing', () => {
    const bytes = encodeDevCtx(TWO_FIELDS, 'packed');
    const p = new DevCtxStreamParser('packed');
    p.feed(bytes);
    p.feed(new Uint8Array(7));
    expect(p.complete).toBe(true);
    expect(() => p.feed(new Uint8Array(1))).toThrow(DecodeError);
    const q = new DevCtxStreamParser('packed');
    q.feed(bytes);
    expect(() => q.feed(hx('01'))).toThrow(DecodeError);
    const r = new DevCtxStreamParser('packed', { allowTrailing: true });
    r.feed(bytes);
    r.feed(new Uint8Array(64).fill(0xff));
    expect(r.complete).toBe(true);
    expect(r.fields.length).toBe(2);
  });

  it('split anywhere, yields exactly the fields of decodeDevCtx; complete exactly at the end (property)', () => {
    fc.assert(
      fc.property(arbCtx, arbAlignment, fc.array(fc.nat(), { maxLength: 12 }), (ctx, a, cuts) => {
        const bytes = encodeDevCtx(ctx, a);
        const whole = decodeDevCtx(bytes, a);
        const p = new DevCtxStreamParser(a);
        let fed = 0;
        for (const c of splitAt(bytes, cuts)) {
          p.feed(c);
          fed += c.length;
          expect(p.complete).toBe(fed === bytes.length);
          expect(p.bytesReceived).toBe(fed);
        }
        expect(p.complete).toBe(true);
        expect(plain(p.fields)).toEqual(plain(whole.fields));
      }),
      { numRuns: 400 },
    );
  });

  it('a prefix of a valid stream is never complete and never an error (property)', () => {
    fc.assert(
      fc.property(arbCtx, arbAlignment, fc.nat(), (ctx, a, cut) => {
        const bytes = encodeDevCtx(ctx, a);
        const n = cut % bytes.length;
        const p = new DevCtxStreamParser(a);
        p.feed(bytes.subarray(0, n));
        expect(p.complete).toBe(false);
        expect(p.fields.length).toBeLessThanOrEqual(ctx.fields.length);
      }),
    );
  });

  it('on hostile bytes in random chunks throws only DecodeError, and agrees with decodeDevCtx when complete (property)', () => {
    const valid = fc.tuple(arbCtx, arbAlignment).map(([ctx, a]) => ({ ctx, a, bytes: encodeDevCtx(ctx, a) }));
    const input = fc.oneof(
      fc.tuple(fc.uint8Array({ maxLength: 96 }), arbAlignment).map(([bytes, a]) => ({ bytes, a, offsets: [] as number[] })),
      valid.chain((v) =>
        hostileBytes(fc.constant(v.bytes), () => tlvOffsets(v.ctx, v.a)).map((bytes) => ({ bytes, a: v.a, offsets: tlvOffsets(v.ctx, v.a) })),
      ),
    );
    const opts = fc.record({ allowReservedTypes: fc.boolean(), allowTrailing: fc.boolean() }) as fc.Arbitrary<DecodeDevCtxOptions>;
    fc.assert(
      fc.property(input, opts, fc.array(fc.nat(), { maxLength: 8 }), ({ bytes, a }, o, cuts) => {
        const wholeOutcome = onlyDecodeError(() => decodeDevCtx(bytes, a, o));
        const p = new DevCtxStreamParser(a, o);
        const streamOutcome = onlyDecodeError(() => feedAll(p, splitAt(bytes, cuts)));
        if (streamOutcome === 'ok' && p.complete) {
          // Everything the parser accepted as a whole context, the whole-buffer decoder accepts the same way.
          expect(wholeOutcome).toBe('ok');
          expect(plain(p.fields)).toEqual(plain(decodeDevCtx(bytes, a, o).fields));
        }
        if (wholeOutcome === 'ok') {
          // A valid whole context is never rejected by the parser; packed, it is also complete. (Natural:
          // decodeDevCtx tolerates a missing pad after the last value, the parser waits for it.)
          expect(streamOutcome).toBe('ok');
          if (a === 'packed') expect(p.complete).toBe(true);
        }
      }),
      { numRuns: 600 },
    );
  });

  it('decodeDevCtx throws only DecodeError on hostile bytes, all option combinations (property)', () => {
    const valid = fc.tuple(arbCtx, arbAlignment).map(([ctx, a]) => ({ ctx, a, bytes: encodeDevCtx(ctx, a) }));
    fc.assert(
      fc.property(
        valid.chain((v) => hostileBytes(fc.constant(v.bytes), () => tlvOffsets(v.ctx, v.a)).map((bytes) => ({ bytes, a: v.a }))),
        fc.boolean(),
        fc.boolean(),
        ({ bytes, a }, allowReservedTypes, allowTrailing) => {
          onlyDecodeError(() => decodeDevCtx(bytes, a, { allowReservedTypes, allowTrailing }));
          onlyDecodeError(() => decodeDevCtx(bytes, a === 'packed' ? 'natural' : 'packed', { allowReservedTypes, allowTrailing }));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('parses a 65,535-queue context (~196k fields) fed in 4 KiB chunks in linear time', () => {
    const fields: VirtioDevCtxFieldTlv[] = [];
    for (let q = 0; q < 65535; q++) {
      fields.push({ type: 2, value: encodePciVqCfg({ vqIndex: q, queueSize: 256, queueMsixVector: q, queueDesc: 0x1000n, queueDriver: 0x2000n, queueDevice: 0x3000n }, 'packed') });
      fields.push({ type: 3, value: encodeVqSplitRuntime({ vqIndex: q, devAvailIdx: q, enabled: 1 }) });
      fields.push({ type: 4, value: encodeVqSplitDevDescs({ vqIndex: q, descIdx: [q & 0xff] }) });
    }
    for (const a of ['packed', 'natural'] as const) {
      const bytes = encodeDevCtx({ fields }, a);
      const t = performance.now();
      const p = new DevCtxStreamParser(a);
      let earlyComplete = false;
      for (let o = 0; o < bytes.length; o += 4096) {
        p.feed(bytes.subarray(o, o + 4096));
        if (o + 4096 < bytes.length && p.complete) earlyComplete = true;
      }
      const ms = performance.now() - t;
      expect(earlyComplete).toBe(false);
      expect(p.complete).toBe(true);
      expect(p.fields.length).toBe(3 * 65535);
      expect(p.fields[3 * 65534 + 1].value[0]).toBe(0xfe);
      expect(ms).toBeLessThan(2500);
    }
  });

  it('a single 8 MiB field fed in 256-byte chunks does not copy the buffer per chunk', () => {
    const value = new Uint8Array(8 << 20).fill(0x5a);
    const bytes = encodeDevCtx({ fields: [{ type: 0x1000, value }] }, 'natural');
    const t = performance.now();
    const p = new DevCtxStreamParser('natural');
    for (let o = 0; o < bytes.length; o += 256) p.feed(bytes.subarray(o, o + 256));
    expect(p.complete).toBe(true);
    expect(p.fields[0].value.length).toBe(8 << 20);
    expect(performance.now() - t).toBeLessThan(2500);
  });

  it('never throws on fields of any defined type fed one byte at a time (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ type: arbU16, value: fc.uint8Array({ maxLength: 9 }) }), { maxLength: 4 }), arbAlignment, (fields, a) => {
        const bytes = encodeDevCtx({ fields }, a);
        const p = new DevCtxStreamParser(a, { allowReservedTypes: true });
        for (let i = 0; i < bytes.length; i++) p.feed(bytes.subarray(i, i + 1));
        expect(p.complete).toBe(true);
        expect(p.fields.map((f) => f.type)).toEqual(fields.map((f) => f.type));
      }),
      { numRuns: 100 },
    );
  });
});
