import { alignUp, Reader, view, Writer } from './bytes.ts';

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
  const w = Writer.of(READABLE_HEADER_SIZE + dataLen);
  w.u16(cmd.opcode).u16(cmd.groupType).zero(12).u64(cmd.memberId).put(cmd.data);
  return w.bytes;
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
  const dv = view(header);
  let reserved1Zero = true;
  for (let i = 4; i < 16; i++) if (header[i] !== 0) reserved1Zero = false;
  return {
    opcode: dv.getUint16(0, true),
    groupType: dv.getUint16(2, true),
    memberId: dv.getBigUint64(16, true),
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
  const resultLen = c.result?.length ?? 0;
  const full = Writer.of(WRITABLE_HEADER_SIZE + resultLen);
  full.u16(c.status).u16(c.qualifier);
  if (c.output) full.put(c.output.subarray(0, OUTPUT_SIZE)).zero(OUTPUT_SIZE - Math.min(OUTPUT_SIZE, c.output.length));
  else full.zero(OUTPUT_SIZE);
  if (c.result) full.put(c.result);
  const usedLength = Math.min(capacity, full.bytes.length);
  const writable = new Uint8Array(capacity);
  writable.set(full.bytes.subarray(0, usedLength));
  return { writable, usedLength };
}

/**
 * Decodes a writable part as a driver must (VR5): bytes past the used length read as zero. A used
 * length beyond the buffer is a DecodeError (the device claims to have written what it could not).
 */
export function decodeAdminCmdResult(writable: Uint8Array, usedLength: number): VirtioAdminCmdResult {
  const r = new Reader(writable, 'virtio_admin_cmd (writable part)');
  if (!Number.isInteger(usedLength) || usedLength < 0 || usedLength > writable.length) {
    r.fail(`used length ${usedLength} outside the ${writable.length}-byte writable buffer`);
  }
  const head = new Uint8Array(WRITABLE_HEADER_SIZE);
  head.set(writable.subarray(0, Math.min(usedLength, WRITABLE_HEADER_SIZE)));
  const dv = view(head);
  return {
    status: dv.getUint16(0, true),
    qualifier: dv.getUint16(2, true),
    output: head.slice(4, 8),
    result: usedLength > WRITABLE_HEADER_SIZE ? writable.slice(WRITABLE_HEADER_SIZE, usedLength) : new Uint8Array(0),
    usedLength,
  };
}
