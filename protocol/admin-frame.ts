import { alignUp, Reader } from './bytes.ts';

/**
 * struct virtio_admin_cmd after patch 2/8: a 24-byte device-readable header (opcode, group_type,
 * reserved1[12], group_member_id) followed by command_specific_data, then an 8-byte device-writable
 * header (status, status_qualifier, command_specific_output[4]) followed by command_specific_result.
 */
export const READABLE_HEADER_SIZE = 24;
export const WRITABLE_HEADER_SIZE = 8;
export const OUTPUT_SIZE = 4;

/** The device-readable part, decoded. */
export interface VirtioAdminCmd {
  opcode: number;
  groupType: number;
  memberId: bigint;
  /** command_specific_data as sent, padding included. */
  data: Uint8Array;
  /** reserved1 was all zero (a driver rule; a device ignores it). */
  reserved1Zero?: boolean;
}

/** The device-writable part, decoded. */
export interface VirtioAdminCmdResult {
  status: number;
  qualifier: number;
  /** command_specific_output[4]. */
  output: Uint8Array;
  /** command_specific_result: the bytes the device wrote past the 8-byte header (used length - 8). */
  result: Uint8Array;
  /** Bytes the device reported as written to the writable part (the used length). */
  usedLength: number;
}

/**
 * Encodes the device-readable part. The data is padded with zeros to a multiple of 8 bytes, as the
 * driver rule VR3 asks; `pad: false` sends it unpadded (for tests that probe the device's tolerance).
 */
export function encodeAdminCmd(cmd: VirtioAdminCmd, pad = true): Uint8Array {
  const dataLen = pad ? alignUp(cmd.data.length, 8) : cmd.data.length;
  // Byte stores, not a DataView: a header this small lives on the V8 heap, and asking for its
  // ArrayBuffer (as a DataView does) copies it out first. This is the admin command hot path.
  const b = new Uint8Array(READABLE_HEADER_SIZE + dataLen);
  putU16(b, 0, cmd.opcode);
  putU16(b, 2, cmd.groupType);
  putU64(b, 16, cmd.memberId);
  if (cmd.data.length) b.set(cmd.data, READABLE_HEADER_SIZE);
  return b;
}

function putU16(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
}

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** le64 of BigInt.asUintN(64, v), as Writer.u64 writes it. */
function putU64(b: Uint8Array, at: number, v: bigint): void {
  if (typeof v === 'bigint' && v >= 0n && v <= 0xffffffffn) {
    putU32(b, at, Number(v));
    putU32(b, at + 4, 0);
    return;
  }
  const u = BigInt.asUintN(64, v);
  putU32(b, at, Number(u & 0xffffffffn));
  putU32(b, at + 4, Number(u >> 32n));
}

function getU32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function getU64(b: Uint8Array, at: number): bigint {
  const lo = getU32(b, at);
  const hi = getU32(b, at + 4);
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * Decodes the device-readable part the way a device must (VD1a): bytes past the buffer read as zero,
 * so a short buffer is never an error. Anything past the header is command_specific_data.
 */
export function decodeAdminCmdAsDevice(readable: Uint8Array): VirtioAdminCmd {
  let header = readable;
  if (readable.length < READABLE_HEADER_SIZE) {
    header = new Uint8Array(READABLE_HEADER_SIZE);
    header.set(readable);
  }
  let reserved1Zero = true;
  for (let i = 4; i < 16; i++) if (header[i] !== 0) reserved1Zero = false;
  return {
    opcode: header[0] | (header[1] << 8),
    groupType: header[2] | (header[3] << 8),
    memberId: getU64(header, 16),
    data: readable.length > READABLE_HEADER_SIZE ? readable.subarray(READABLE_HEADER_SIZE) : new Uint8Array(0),
    reserved1Zero,
  };
}

/** Strict decode of a readable part (driver-side tools, trace rendering): a short header is a DecodeError. */
export function decodeAdminCmd(readable: Uint8Array): VirtioAdminCmd {
  const r = new Reader(readable, 'virtio_admin_cmd');
  const opcode = r.u16('opcode');
  const groupType = r.u16('group_type');
  const reserved = r.take(12, 'reserved1');
  const memberId = r.u64('group_member_id');
  return { opcode, groupType, memberId, data: r.take(r.remaining, 'command_specific_data'), reserved1Zero: reserved.every((b) => b === 0) };
}

/**
 * Writes a completion into a writable buffer of `capacity` bytes the way a device must: what does not
 * fit is dropped (VD1b), nothing is written past the structure (VD2b). Returns the buffer and the used
 * length (bytes actually written, header included).
 */
export function encodeAdminCmdResult(
  c: { status: number; qualifier: number; output?: Uint8Array; result?: Uint8Array },
  capacity: number,
): { writable: Uint8Array; usedLength: number } {
  const writable = new Uint8Array(capacity);
  const usedLength = Math.min(capacity, WRITABLE_HEADER_SIZE + (c.result?.length ?? 0));
  // Only the bytes that fit are written; the rest of the buffer stays zero.
  const head = Math.min(usedLength, WRITABLE_HEADER_SIZE);
  if (head > 0) writable[0] = c.status & 0xff;
  if (head > 1) writable[1] = (c.status >>> 8) & 0xff;
  if (head > 2) writable[2] = c.qualifier & 0xff;
  if (head > 3) writable[3] = (c.qualifier >>> 8) & 0xff;
  if (c.output) for (let i = 0; i < OUTPUT_SIZE && i < c.output.length && 4 + i < head; i++) writable[4 + i] = c.output[i];
  const n = usedLength - WRITABLE_HEADER_SIZE;
  if (c.result && n > 0) {
    // A short result is copied byte by byte: cheaper than a subarray and a native set().
    if (n <= 32) for (let i = 0; i < n; i++) writable[WRITABLE_HEADER_SIZE + i] = c.result[i];
    else writable.set(c.result.subarray(0, n), WRITABLE_HEADER_SIZE);
  }
  return { writable, usedLength };
}

/**
 * Decodes a writable part as a driver must (VR5): bytes past the used length read as zero. A used
 * length beyond the buffer is a DecodeError (the device claims to have written what it could not).
 */
export function decodeAdminCmdResult(writable: Uint8Array, usedLength: number): VirtioAdminCmdResult {
  if (!Number.isInteger(usedLength) || usedLength < 0 || usedLength > writable.length) {
    new Reader(writable, 'virtio_admin_cmd (writable part)').fail(`used length ${usedLength} outside the ${writable.length}-byte writable buffer`);
  }
  // Header bytes past the used length read as zero.
  const head = Math.min(usedLength, WRITABLE_HEADER_SIZE);
  const output = new Uint8Array(OUTPUT_SIZE);
  for (let i = 4; i < head; i++) output[i - 4] = writable[i];
  return {
    status: (head > 0 ? writable[0] : 0) | (head > 1 ? writable[1] << 8 : 0),
    qualifier: (head > 2 ? writable[2] : 0) | (head > 3 ? writable[3] << 8 : 0),
    output,
    result: usedLength > WRITABLE_HEADER_SIZE ? writable.slice(WRITABLE_HEADER_SIZE, usedLength) : new Uint8Array(0),
    usedLength,
  };
}
