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
  const fields = ctx.fields;
  const out = new Uint8Array(encodedDevCtxSize(ctx, a));
  // Hot path (a 65,535-queue context has ~200,000 fields): one DataView, no bigint unless a
  // negative test overrides a length, header stores as 32-bit words, values copied with set().
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint32(0, ctx.fieldCountOverride ?? fields.length, true);
  let p = firstTlvOffset(a);
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    const len = f.value.length;
    dv.setUint32(p, f.type & 0xffff, true);
    if (f.lengthOverride === undefined) dv.setUint32(p + 8, len, true);
    else dv.setBigUint64(p + 8, BigInt.asUintN(64, f.lengthOverride), true);
    out.set(f.value, p + TLV_HEADER_SIZE);
    p += tlvSpan(len, a);
  }
  return out;
}

export interface DecodeDevCtxOptions {
  /** Accept types in the reserved ranges (E34: reported, not judged). Default false: DecodeError. */
  allowReservedTypes?: boolean;
  /** Accept bytes after the last TLV (default: only up to 7 zero bytes of driver padding). */
  allowTrailing?: boolean;
}

/**
 * The structure of a context stream without an object per field: type, value offset and value
 * length of every TLV in typed arrays, validated as decodeDevCtx validates. Reusable: parse() into
 * the same index again allocates nothing once it is large enough. For streams of many small fields
 * (one pair per virtqueue) this is the decoder that keeps up with the bytes.
 */
export class DevCtxIndex {
  count = 0;
  types = new Uint16Array(64);
  offsets = new Uint32Array(64);
  lengths = new Uint32Array(64);
  bytes: Uint8Array = new Uint8Array(0);

  /** Parses `bytes`; on any problem throws the same DecodeError decodeDevCtx would. */
  parse(bytes: Uint8Array, a: Alignment, opts?: DecodeDevCtxOptions): this {
    const n = bytes.length;
    const head = firstTlvOffset(a);
    if (n < head) return this.slow(bytes, a, opts);
    const dv = this.viewOf(bytes);
    const count = dv.getUint32(0, true);
    if (count > (n - head) / TLV_HEADER_SIZE) return this.slow(bytes, a, opts);
    this.reserve(count);
    const { types, offsets, lengths } = this;
    const natural = a === 'natural';
    const reservedOk = opts?.allowReservedTypes === true;
    let p = head;
    for (let i = 0; i < count; i++) {
      if (p + TLV_HEADER_SIZE > n) return this.slow(bytes, a, opts);
      const type = dv.getUint16(p, true);
      if (!reservedOk && type > 4 && type !== 0x1000) return this.slow(bytes, a, opts);
      const len = dv.getUint32(p + 8, true);
      if (dv.getUint32(p + 12, true) !== 0 || len > n - p - TLV_HEADER_SIZE) return this.slow(bytes, a, opts);
      types[i] = type;
      offsets[i] = p + TLV_HEADER_SIZE;
      lengths[i] = len;
      p += TLV_HEADER_SIZE + len;
      if (natural) p = Math.min(n, p + ((8 - (p & 7)) & 7));
    }
    if (p < n && !opts?.allowTrailing) {
      const rest = n - p;
      if (rest >= 8) return this.slow(bytes, a, opts);
      for (let k = p; k < n; k++) if (bytes[k] !== 0) return this.slow(bytes, a, opts);
    }
    this.count = count;
    this.bytes = bytes;
    return this;
  }

  private dv: DataView | undefined;

  /** A DataView over `bytes`, kept while the same bytes are parsed again. */
  private viewOf(bytes: Uint8Array): DataView {
    const dv = this.dv;
    if (dv && dv.buffer === bytes.buffer && dv.byteOffset === bytes.byteOffset && dv.byteLength === bytes.byteLength) return dv;
    return (this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  /** Field i's value, a view into the parsed bytes. */
  value(i: number): Uint8Array {
    return this.bytes.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]);
  }

  field(i: number): VirtioDevCtxFieldTlv {
    return { type: this.types[i], value: this.value(i), offset: this.offsets[i] - TLV_HEADER_SIZE };
  }

  private reserve(count: number): void {
    if (count <= this.types.length) return;
    let cap = this.types.length;
    while (cap < count) cap *= 2;
    this.types = new Uint16Array(cap);
    this.offsets = new Uint32Array(cap);
    this.lengths = new Uint32Array(cap);
  }

  /** Anything unusual goes through the reader-based decoder, which throws the precise DecodeError. */
  private slow(bytes: Uint8Array, a: Alignment, opts: DecodeDevCtxOptions = {}): this {
    const ctx = decodeDevCtxSlow(bytes, a, opts);
    this.reserve(ctx.fields.length);
    ctx.fields.forEach((f, i) => {
      this.types[i] = f.type;
      this.offsets[i] = (f.offset ?? 0) + TLV_HEADER_SIZE;
      this.lengths[i] = f.value.length;
    });
    this.count = ctx.fields.length;
    this.bytes = bytes;
    return this;
  }
}

/** Decodes a whole context stream. Values are views into `bytes`, not copies. */
export function decodeDevCtx(bytes: Uint8Array, a: Alignment, opts: DecodeDevCtxOptions = {}): VirtioDevCtx {
  const idx = new DevCtxIndex().parse(bytes, a, opts);
  const fields: VirtioDevCtxFieldTlv[] = new Array(idx.count);
  for (let i = 0; i < idx.count; i++) fields[i] = idx.field(i);
  return { fields };
}

function decodeDevCtxSlow(bytes: Uint8Array, a: Alignment, opts: DecodeDevCtxOptions): VirtioDevCtx {
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
