import { alignUp, Reader, safeLength, Writer } from './bytes.ts';
import { DecodeError } from './decode-error.ts';
import type { WireOptions } from './wire-options.ts';

/**
 * struct virtio_dev_ctx (patch 3/8): le32 field_count, then field_count TLVs
 * (struct virtio_dev_ctx_field_tlv: le16 type, u8 reserved[6], le64 length, u8 value[length]).
 * Layout per E11: packed (first TLV at 4, no padding) or natural (first TLV at 8, each TLV padded to 8).
 */
export const DevCtxType = {
  PCI_COMMON_CFG: 0x0,
  DEV_FEATURES: 0x1,
  PCI_VQ_CFG: 0x2,
  VQ_SPLIT_RUNTIME_CFG: 0x3,
  VQ_SPLIT_DEV_OWN_DESC: 0x4,
  DEV_CFG: 0x1000,
} as const;

export const TLV_HEADER_SIZE = 16;

const TYPE_NAMES = new Map<number, string>(Object.entries(DevCtxType).map(([k, v]) => [v, `VIRTIO_DEV_CTX_${k}`]));

/** Type ranges of the Device Context Fields table with the 16-bit reading of E10. */
export function devCtxTypeClass(type: number): 'defined' | 'reserved-generic' | 'reserved-device' | 'reserved' {
  if (TYPE_NAMES.has(type)) return 'defined';
  if (type <= 0x0fff) return 'reserved-generic';
  if (type <= 0x1fff) return 'reserved-device';
  return 'reserved';
}

export function devCtxTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `${devCtxTypeClass(type)}(0x${type.toString(16)})`;
}

export interface VirtioDevCtxFieldTlv {
  type: number;
  value: Uint8Array;
  /** Byte offset of the TLV in the stream (set by the decoder). */
  offset?: number;
  /** The length field when it differs from value.length (only encoders for negative tests set it). */
  lengthOverride?: bigint;
}

export interface VirtioDevCtx {
  fields: VirtioDevCtxFieldTlv[];
  /** The field_count field when it differs from fields.length (negative tests only). */
  fieldCountOverride?: number;
}

type Alignment = WireOptions['ctxStreamAlignment'];

function firstTlvOffset(a: Alignment): number {
  return a === 'packed' ? 4 : 8;
}

function tlvSpan(valueLen: number, a: Alignment): number {
  return a === 'packed' ? TLV_HEADER_SIZE + valueLen : alignUp(TLV_HEADER_SIZE + valueLen, 8);
}

export function encodedDevCtxSize(ctx: VirtioDevCtx, a: Alignment): number {
  let n = firstTlvOffset(a);
  for (const f of ctx.fields) n += tlvSpan(f.value.length, a);
  return n;
}

export function encodeDevCtx(ctx: VirtioDevCtx, a: Alignment): Uint8Array {
  const w = Writer.of(encodedDevCtxSize(ctx, a));
  w.u32(ctx.fieldCountOverride ?? ctx.fields.length);
  if (a === 'natural') w.zero(4);
  for (const f of ctx.fields) {
    const start = w.pos;
    w.u16(f.type).zero(6).u64(f.lengthOverride ?? BigInt(f.value.length)).put(f.value);
    w.zero(tlvSpan(f.value.length, a) - (w.pos - start));
  }
  return w.bytes;
}

export interface DecodeDevCtxOptions {
  /** Accept types in the reserved ranges (E34: reported, not judged). Default false: DecodeError. */
  allowReservedTypes?: boolean;
  /** Accept bytes after the last TLV (default: only up to 7 zero bytes of driver padding). */
  allowTrailing?: boolean;
}

/** Decodes a whole context stream. Values are views into `bytes`, not copies. */
export function decodeDevCtx(bytes: Uint8Array, a: Alignment, opts: DecodeDevCtxOptions = {}): VirtioDevCtx {
  const r = new Reader(bytes, 'virtio_dev_ctx');
  const count = r.u32('field_count');
  if (a === 'natural') r.skip(4, 'padding');
  const fields: VirtioDevCtxFieldTlv[] = [];
  for (let i = 0; i < count; i++) fields.push(readTlv(r, a, opts));
  checkTrailing(r, opts);
  return { fields };
}

function readTlv(r: Reader, a: Alignment, opts: DecodeDevCtxOptions): VirtioDevCtxFieldTlv {
  const offset = r.pos;
  const type = r.u16('type');
  if (!opts.allowReservedTypes && devCtxTypeClass(type) !== 'defined') {
    throw new DecodeError('virtio_dev_ctx_field_tlv', offset, `type 0x${type.toString(16)} is in a reserved range`);
  }
  r.skip(6, 'reserved');
  const length = safeLength(r.u64('length'), r, 'length');
  const value = r.take(length, `value of ${devCtxTypeName(type)}`);
  if (a === 'natural') {
    const pad = tlvSpan(length, a) - TLV_HEADER_SIZE - length;
    r.skip(Math.min(pad, r.remaining), 'padding');
  }
  return { type, value, offset };
}

function checkTrailing(r: Reader, opts: DecodeDevCtxOptions): void {
  if (opts.allowTrailing || r.remaining === 0) return;
  const rest = r.take(r.remaining);
  if (rest.length >= 8 || rest.some((b) => b !== 0)) {
    throw new DecodeError('virtio_dev_ctx', r.pos - rest.length, `${rest.length} bytes after the last of the fields`);
  }
}

/**
 * Incremental parser of a context stream arriving in chunks (DEV_CTX_WRITE on the device side).
 * It tells whether the stream is complete (field_count TLVs received; E15 "partially written"),
 * keeps the fields, and throws DecodeError as soon as the bytes cannot be a context.
 */
export class DevCtxStreamParser {
  private buf = new Uint8Array(256);
  private len = 0;
  private parsed = 0;
  private fieldCount: number | undefined;
  readonly fields: VirtioDevCtxFieldTlv[] = [];

  constructor(
    private readonly a: Alignment,
    private readonly opts: DecodeDevCtxOptions = {},
  ) {}

  get bytesReceived(): number {
    return this.len;
  }

  get complete(): boolean {
    return this.fieldCount !== undefined && this.fields.length === this.fieldCount;
  }

  /** Nothing received yet (a mode change is not blocked by an empty write stream). */
  get empty(): boolean {
    return this.len === 0;
  }

  feed(chunk: Uint8Array): void {
    if (this.len + chunk.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + chunk.length));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.length;
    this.advance();
  }

  private advance(): void {
    const bytes = this.buf.subarray(0, this.len);
    const head = firstTlvOffset(this.a);
    if (this.fieldCount === undefined) {
      if (this.len < head) return;
      this.fieldCount = new Reader(bytes, 'virtio_dev_ctx').u32('field_count');
      this.parsed = head;
    }
    while (this.fields.length < this.fieldCount) {
      if (this.len - this.parsed < TLV_HEADER_SIZE) return;
      const r = new Reader(bytes, 'virtio_dev_ctx', this.parsed);
      const type = r.u16();
      // A reserved type is known from the header: fail now, not after a (possibly huge) value arrived.
      if (!this.opts.allowReservedTypes && devCtxTypeClass(type) !== 'defined') {
        throw new DecodeError('virtio_dev_ctx_field_tlv', this.parsed, `type 0x${type.toString(16)} is in a reserved range`);
      }
      r.skip(6);
      const length = r.u64();
      if (length > BigInt(0x7fffffff)) throw new DecodeError('virtio_dev_ctx_field_tlv', this.parsed, `length ${length} is not a plausible field length`);
      if (this.len - this.parsed < tlvSpan(Number(length), this.a)) return;
      // Values are views into the buffer: growth copies to a new buffer and never rewrites old bytes.
      const rr = new Reader(bytes, 'virtio_dev_ctx', this.parsed);
      this.fields.push(readTlv(rr, this.a, this.opts));
      this.parsed = rr.pos;
    }
    // Same trailing-bytes rule as decodeDevCtx (checkTrailing), allowTrailing included.
    if (this.len > this.parsed && !this.opts.allowTrailing) {
      const rest = bytes.subarray(this.parsed);
      if (rest.length >= 8 || rest.some((b) => b !== 0)) {
        throw new DecodeError('virtio_dev_ctx', this.parsed, `${rest.length} bytes after the last of ${this.fieldCount} fields`);
      }
    }
  }
}
