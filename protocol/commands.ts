import { alignUp, Reader, safeLength, Writer } from './bytes.ts';
import { DecodeError } from './decode-error.ts';
import { OUTPUT_SIZE } from './admin-frame.ts';
import type { WireOptions } from './wire-options.ts';

/**
 * command_specific_data / _output / _result codecs of every command of the draft (patches 4 and 7)
 * and of the base LIST_QUERY / LIST_USE, with the layouts of seed-errata.md "Seed structure layouts".
 *
 * Device-side decoders of command_specific_data read short data as zero (VD1a: never an error);
 * driver-side decoders of results are strict and throw DecodeError on a truncated structure.
 */

/** Device migration modes (patch 1/8 mode table); 0x03..0xFF are reserved. */
export const DeviceMode = { ACTIVE: 0x0, STOP: 0x1, FREEZE: 0x2 } as const;
export type DeviceModeValue = (typeof DeviceMode)[keyof typeof DeviceMode];

export function modeName(m: number): string {
  return m === 0 ? 'Active' : m === 1 ? 'Stop' : m === 2 ? 'Freeze' : `reserved(0x${m.toString(16)})`;
}

export function isValidMode(m: number): m is DeviceModeValue {
  return m === 0 || m === 1 || m === 2;
}

/** `data` extended with zeros to at least n bytes (device-side reads past the buffer are zero, VD1a). */
export function zeroFilled(data: Uint8Array, n: number): Uint8Array {
  if (data.length >= n) return data;
  const out = new Uint8Array(n);
  out.set(data);
  return out;
}

function strict(result: Uint8Array, what: string): Reader {
  return new Reader(result, what);
}

// ---- DEV_MODE_GET (0x7): no data; result u8 mode -------------------------------------------------

export function encodeModeGetResult(mode: number): Uint8Array {
  return Uint8Array.of(mode);
}

export function decodeModeGetResult(result: Uint8Array): number {
  return strict(result, 'virtio_admin_cmd_dev_mode_get_result').u8('mode');
}

// ---- DEV_MODE_SET (0x8): data u8 mode; no result --------------------------------------------------

export function encodeModeSetData(mode: number): Uint8Array {
  return Uint8Array.of(mode);
}

export function decodeModeSetData(data: Uint8Array): { mode: number } {
  return { mode: zeroFilled(data, 1)[0] };
}

// ---- DEV_CTX_SIZE_GET (0x9): data u8 freeze_mode; result le64 size --------------------------------

export function encodeSizeGetData(freezeMode: number): Uint8Array {
  return Uint8Array.of(freezeMode);
}

export function decodeSizeGetData(data: Uint8Array): { freezeMode: number } {
  return { freezeMode: zeroFilled(data, 1)[0] };
}

export function encodeSizeGetResult(size: bigint): Uint8Array {
  return Writer.of(8).u64(size).bytes;
}

export function decodeSizeGetResult(result: Uint8Array): bigint {
  return strict(result, 'virtio_admin_cmd_dev_ctx_size_get_result').u64('size');
}

// ---- DEV_CTX_READ (0xa): no data; output le32 context_len; result u8 data[] -----------------------

export function encodeCtxReadOutput(contextLen: number): Uint8Array {
  return Writer.of(OUTPUT_SIZE).u32(contextLen).bytes;
}

export function decodeCtxReadOutput(output: Uint8Array): number {
  return strict(output, 'virtio_admin_cmd_dev_ctx_rd_len').u32('context_len');
}

// ---- DEV_CTX_WRITE (0xb): data = context stream bytes (E7) ----------------------------------------

/** Legacy reading of E7: struct virtio_admin_cmd_legacy_common_cfg_wr_data = u8 offset, u8 reserved[7], data. */
const LEGACY_WR_HEADER = 8;

export function encodeCtxWriteData(chunk: Uint8Array, wire: Pick<WireOptions, 'ctxWriteData'>): Uint8Array {
  if (wire.ctxWriteData === 'raw') return chunk;
  const out = new Uint8Array(LEGACY_WR_HEADER + chunk.length);
  out.set(chunk, LEGACY_WR_HEADER);
  return out;
}

/**
 * Device side. `data` is the readable part past the header, driver padding included: a device cannot
 * tell padding from context bytes, which is why the suite's driver only pads when the profile says so.
 */
export function decodeCtxWriteData(data: Uint8Array, wire: Pick<WireOptions, 'ctxWriteData'>): Uint8Array {
  if (wire.ctxWriteData === 'raw') return data;
  return data.length > LEGACY_WR_HEADER ? data.subarray(LEGACY_WR_HEADER) : new Uint8Array(0);
}

// ---- DEV_CTX_FIELDS_QUERY (0xc): no data; result array of {le16 type, u8 reserved[6], le64 length} --

export interface VirtioAdminCmdDevCtxSupportedField {
  type: number;
  length: bigint;
}

export const SUPPORTED_FIELD_SIZE = 16;

export function encodeFieldsQueryResult(fields: readonly VirtioAdminCmdDevCtxSupportedField[]): Uint8Array {
  const w = Writer.of(fields.length * SUPPORTED_FIELD_SIZE);
  for (const f of fields) w.u16(f.type).zero(6).u64(f.length);
  return w.bytes;
}

export function decodeFieldsQueryResult(result: Uint8Array): VirtioAdminCmdDevCtxSupportedField[] {
  const r = strict(result, 'virtio_admin_cmd_dev_ctx_supported_fields_result');
  if (result.length % SUPPORTED_FIELD_SIZE !== 0) {
    throw new DecodeError(r.what, result.length - (result.length % SUPPORTED_FIELD_SIZE), `trailing ${result.length % SUPPORTED_FIELD_SIZE} bytes of a truncated entry`);
  }
  const out: VirtioAdminCmdDevCtxSupportedField[] = [];
  while (r.remaining > 0) {
    const type = r.u16('type');
    r.skip(6);
    out.push({ type, length: r.u64('length') });
  }
  return out;
}

// ---- DEV_WRITE_RECORD_CAP_QUERY: no data; result le32 bitmap, le32 supported_ranges ---------------

export interface VirtioAdminCmdDevWriteRecordCapResult {
  supportedPageSizeBitmap: number;
  supportedRanges: number;
}

export function encodeWriteRecordCapResult(c: VirtioAdminCmdDevWriteRecordCapResult): Uint8Array {
  return Writer.of(8).u32(c.supportedPageSizeBitmap >>> 0).u32(c.supportedRanges >>> 0).bytes;
}

export function decodeWriteRecordCapResult(result: Uint8Array): VirtioAdminCmdDevWriteRecordCapResult {
  const r = strict(result, 'virtio_admin_cmd_dev_write_record_cap_result');
  return { supportedPageSizeBitmap: r.u32('supported_page_size_bitmap'), supportedRanges: r.u32('supported_ranges') };
}

/** E25: bit n of supported_page_size_bitmap stands for 4096 << n bytes. */
export function pageSizesOf(bitmap: number): bigint[] {
  const out: bigint[] = [];
  for (let n = 0; n < 32; n++) if ((bitmap >>> n) & 1) out.push(4096n << BigInt(n));
  return out;
}

export function pageSizeBit(pageSize: bigint): number | undefined {
  for (let n = 0; n < 32; n++) if (4096n << BigInt(n) === pageSize) return n;
  return undefined;
}

// ---- DEV_WRITE_RECORDS_START: data le64 page_size, le32 count, u8 reserved[4], entries ------------

export interface VirtioAdminCmdWriteRecordStartEntry {
  pageAddress: bigint;
  pageCount: bigint;
}

export interface VirtioAdminCmdWriteRecordStartData {
  pageSize: bigint;
  /** The count field; defaults to entries.length when encoding (set it to probe a mismatch). */
  count?: number;
  entries: VirtioAdminCmdWriteRecordStartEntry[];
}

export const START_HEADER_SIZE = 16;
export const START_ENTRY_SIZE = 16;

export function encodeWriteRecordsStartData(d: VirtioAdminCmdWriteRecordStartData): Uint8Array {
  const w = Writer.of(START_HEADER_SIZE + d.entries.length * START_ENTRY_SIZE);
  w.u64(d.pageSize).u32(d.count ?? d.entries.length).zero(4);
  for (const e of d.entries) w.u64(e.pageAddress).u64(e.pageCount);
  return w.bytes;
}

/**
 * Device side. Entries past the data read as zero (VD1a); a count larger than `maxEntries` is not
 * expanded (the device rejects it by count before looking at entries).
 */
export function decodeWriteRecordsStartData(
  data: Uint8Array,
  maxEntries: number,
): { pageSize: bigint; count: number; entries: VirtioAdminCmdWriteRecordStartEntry[] } {
  const head = new Reader(zeroFilled(data, START_HEADER_SIZE), 'virtio_admin_cmd_write_record_start_data');
  const pageSize = head.u64('page_size');
  const count = head.u32('count');
  if (count > maxEntries) return { pageSize, count, entries: [] };
  const r = new Reader(zeroFilled(data, START_HEADER_SIZE + count * START_ENTRY_SIZE), 'virtio_admin_cmd_write_record_start_data', START_HEADER_SIZE);
  const entries: VirtioAdminCmdWriteRecordStartEntry[] = [];
  for (let i = 0; i < count; i++) entries.push({ pageAddress: r.u64('page_address'), pageCount: r.u64('page_count') });
  return { pageSize, count, entries };
}

/** Strict driver-side decode of START data (trace rendering): the entries must all be present. */
export function decodeWriteRecordsStartDataStrict(data: Uint8Array): VirtioAdminCmdWriteRecordStartData {
  const r = new Reader(data, 'virtio_admin_cmd_write_record_start_data');
  const pageSize = r.u64('page_size');
  const count = r.u32('count');
  r.skip(4);
  if (count * START_ENTRY_SIZE > r.remaining) r.fail(`count ${count} needs ${count * START_ENTRY_SIZE} bytes of entries, ${r.remaining} left`);
  const entries: VirtioAdminCmdWriteRecordStartEntry[] = [];
  for (let i = 0; i < count; i++) entries.push({ pageAddress: r.u64('page_address'), pageCount: r.u64('page_count') });
  return { pageSize, count, entries };
}

// ---- DEV_WRITE_RECORDS_READ: data le64 page_address, le64 length; count + le64 address_entries[] --

export interface VirtioAdminCmdWriteRecordsReadData {
  pageAddress: bigint;
  length: bigint;
}

export function encodeWriteRecordsReadData(d: VirtioAdminCmdWriteRecordsReadData): Uint8Array {
  return Writer.of(16).u64(d.pageAddress).u64(d.length).bytes;
}

export function decodeWriteRecordsReadData(data: Uint8Array): VirtioAdminCmdWriteRecordsReadData {
  const r = new Reader(zeroFilled(data, 16), 'virtio_admin_cmd_write_records_read_data');
  return { pageAddress: r.u64('page_address'), length: r.u64('length') };
}

/**
 * With the count in command_specific_output (E8 default) the result is the address array. With the
 * count in command_specific_result, the result starts with le32 count, 4 reserved bytes, then the array.
 */
const RESULT_COUNT_HEADER = 8;

/** How many address records fit a result buffer of `capacity` bytes. */
export function recordsCapacity(capacity: number, wire: Pick<WireOptions, 'writeRecordsCount'>): number {
  const room = wire.writeRecordsCount === 'command_specific_output' ? capacity : capacity - RESULT_COUNT_HEADER;
  return Math.max(0, Math.floor(room / 8));
}

export function encodeWriteRecordsReadResult(
  addresses: readonly bigint[],
  wire: Pick<WireOptions, 'writeRecordsCount'>,
): { output: Uint8Array; result: Uint8Array } {
  const inOutput = wire.writeRecordsCount === 'command_specific_output';
  const w = Writer.of((inOutput ? 0 : RESULT_COUNT_HEADER) + addresses.length * 8);
  if (!inOutput) w.u32(addresses.length).zero(4);
  for (const a of addresses) w.u64(a);
  const output = inOutput ? Writer.of(OUTPUT_SIZE).u32(addresses.length).bytes : new Uint8Array(OUTPUT_SIZE);
  return { output, result: w.bytes };
}

export function decodeWriteRecordsReadResult(
  output: Uint8Array,
  result: Uint8Array,
  wire: Pick<WireOptions, 'writeRecordsCount'>,
): bigint[] {
  let r: Reader;
  let count: number;
  if (wire.writeRecordsCount === 'command_specific_output') {
    count = new Reader(output, 'virtio_admin_cmd_dev_write_records_cnt').u32('count');
    r = strict(result, 'virtio_admin_cmd_dev_write_records_result');
  } else {
    r = strict(result, 'virtio_admin_cmd_dev_write_records_result');
    count = r.u32('count');
    r.skip(4);
  }
  if (count * 8 > r.remaining) r.fail(`count ${count} needs ${count * 8} bytes of address_entries, ${r.remaining} written`);
  const out: bigint[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = r.u64('address_entries');
  return out;
}

// ---- LIST_QUERY (0x0) / LIST_USE (0x1): struct virtio_admin_cmd_list, le64 bitmap words -----------

/** Encodes opcodes as le64 words: bit b of word w is opcode 64*w + b. Length ceil((max+1)/64) words (B2). */
export function encodeOpcodeBitmap(opcodes: Iterable<number>, minWords = 1): Uint8Array {
  const list = [...opcodes];
  // A loop, not Math.max(...list): spreading a long list overflows the call stack (RangeError).
  let max = -1;
  for (const op of list) if (op > max) max = op;
  const words = Math.max(minWords, Math.ceil((max + 1) / 64));
  const out = new Uint8Array(words * 8);
  for (const op of list) out[op >> 3] |= 1 << (op & 7);
  return out;
}

/** Decodes any number of bytes (a trailing partial word reads as zero-extended, VD1a). */
export function decodeOpcodeBitmap(bytes: Uint8Array): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0) continue;
    for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) out.add(i * 8 + bit);
  }
  return out;
}

/** Bytes of result buffer needed for a LIST_QUERY answer covering opcodes up to `maxOpcode`. */
export function opcodeBitmapSize(maxOpcode: number): number {
  return alignUp(Math.ceil((maxOpcode + 1) / 64) * 8, 8);
}

export { safeLength };
