import { DecodeError } from './decode-error.ts';

/** A DataView over exactly the bytes of `b` (which may be a subarray of a larger buffer). */
export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Rounds n up to a multiple of `to` (a power of two). Plain arithmetic, not 32-bit bitwise operators:
 * `(n + to - 1) & ~(to - 1)` wraps negative from 2^31 on, which made a TLV length near 2 GiB look
 * like a negative span.
 */
export function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to + 0;
}

/**
 * Bounds-checked little-endian reader. Every read past the end throws DecodeError naming the
 * structure being decoded, so decoders never throw RangeError or read garbage.
 */
export class Reader {
  private readonly dv: DataView;
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
    start = 0,
  ) {
    this.dv = view(bytes);
    this.pos = start;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.bytes.length) {
      throw new DecodeError(this.what, this.pos, `${field} needs ${n} bytes, ${Math.max(0, this.remaining)} left`);
    }
  }

  u8(field = 'u8'): number {
    this.need(1, field);
    return this.dv.getUint8(this.pos++);
  }

  u16(field = 'le16'): number {
    this.need(2, field);
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(field = 'le32'): number {
    this.need(4, field);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(field = 'le64'): bigint {
    this.need(8, field);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A copy-free view of the next n bytes. */
  take(n: number, field = 'bytes'): Uint8Array {
    this.need(n, field);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number, field = 'reserved'): void {
    this.need(n, field);
    this.pos += n;
  }

  fail(detail: string): never {
    throw new DecodeError(this.what, this.pos, detail);
  }
}

/** Little-endian writer over a preallocated buffer. Callers size the buffer; writes past it are a bug (RangeError). */
export class Writer {
  private readonly dv: DataView;
  pos = 0;

  constructor(readonly bytes: Uint8Array) {
    this.dv = view(bytes);
  }

  static of(size: number): Writer {
    return new Writer(new Uint8Array(size));
  }

  u8(v: number): this {
    this.dv.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }

  u16(v: number): this {
    this.dv.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
    return this;
  }

  u64(v: bigint): this {
    this.dv.setBigUint64(this.pos, BigInt.asUintN(64, v), true);
    this.pos += 8;
    return this;
  }

  put(b: Uint8Array): this {
    this.bytes.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  zero(n: number): this {
    this.bytes.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }
}

/** le64 value that must fit a JS number used as a length or index; bigger means the input is bogus. */
export function safeLength(v: bigint, r: Reader, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) r.fail(`${field} ${v} is not a plausible length`);
  return Number(v);
}

export function hex(n: number | bigint, width = 0): string {
  return '0x' + n.toString(16).padStart(width, '0');
}

/** Same length and same bytes; a missing side is never equal. */
export function equalBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
