import { hex } from './bytes.ts';
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
  decodeWriteRecordsStartDataStrict,
  modeName,
  pageSizesOf,
} from './commands.ts';
import { DecodeError } from './decode-error.ts';
import { devCtxTypeName, TLV_HEADER_SIZE } from './device-context.ts';
import { commandName, FIRST_RESERVED_OPCODE, type CommandName } from './opcodes.ts';
import { qualifierName, Status, statusName } from './status.ts';
import type { WireOptions } from './wire-options.ts';

/**
 * One-line, human-readable renderings of admin commands and their completions, for the wire trace
 * every failure carries (DESIGN.md "Every failure carries a wire trace"). Rendering never throws:
 * bytes that do not decode show as `<undecodable: reason>`, so a broken device still gets a trace.
 *
 *   DEV_MODE_SET(0x8) member=2 mode=Stop                      -> OK used=8
 *   DEV_CTX_READ(0xa) member=2 result_capacity=4096           -> OK context_len=4096 data=4096 bytes
 *   DEV_WRITE_RECORDS_START(0x10) member=1 page_size=4096 ranges=[0x100000000+16 pages]
 *   DEV_WRITE_RECORDS_READ(0x12) member=1 page_address=0x100000000 length=65536
 *                                                             -> OK count=3 [0x100000000, 0x100003000, 0x100005000]
 *   DEV_MODE_SET(0x8) member=2 mode=reserved(0x7)             -> EINVAL/INVALID_FIELD used=8
 */

/** The request as the harness sent it (AdminCommandRequest fits). */
export interface TraceCommand {
  opcode: number;
  groupType: number;
  memberId: bigint;
  data: Uint8Array;
  /** command_specific_result bytes offered; rendered for the commands whose result size varies. */
  resultCapacity?: number;
}

/** The completion as the driver decoded it (AdminCommandResponse / VirtioAdminCmdResult fits). */
export interface TraceCompletion {
  status: number;
  qualifier: number;
  output: Uint8Array;
  result: Uint8Array;
  usedLength: number;
}

export interface DescribeOptions {
  /**
   * Where in the device context stream this command's context bytes start (DEV_CTX_READ result,
   * DEV_CTX_WRITE data). At 0 the chunk begins with field_count and its TLVs are summarized
   * (`field_count=12 types=PCI_COMMON_CFG,DEV_FEATURES,PCI_VQ_CFGx2,...`); otherwise, or when
   * unknown (undefined), only the byte count is shown: a mid-stream chunk has no TLV boundaries.
   */
  streamOffset?: number;
}

/** Longest list (addresses, ranges, fields, type groups) rendered before eliding with `...`. */
export const TRACE_LIST_LIMIT = 8;

/** One admin command and its outcome in a failure's wire trace. */
export interface TraceEntry {
  /** Position in the run's command order. */
  seq: number;
  /** Milliseconds since the start of the test (or run) when the command was submitted. */
  tMs: number;
  memberId: bigint;
  opcode: number;
  /** describeCommand() output. */
  request: string;
  /** describeCompletion() output; empty when the command did not complete (see error). */
  response: string;
  status?: number;
  qualifier?: number;
  /** Transport error (timeout, closed, aborted) when the command did not complete. */
  error?: string;
}

// ---- helpers ------------------------------------------------------------------------------------

function reason(e: unknown): string {
  if (e instanceof DecodeError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  try {
    return String(e);
  } catch {
    return 'unprintable error';
  }
}

function undecodable(e: unknown): string {
  return `<undecodable: ${oneLine(reason(e))}>`;
}

/** Runs a renderer; anything it throws becomes `<undecodable: ...>`. */
function safe(f: () => string): string {
  try {
    return f();
  } catch (e) {
    return undecodable(e);
  }
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ');
}

function num(n: unknown): string {
  return typeof n === 'number' || typeof n === 'bigint' ? String(n) : '?';
}

function hexOf(n: unknown): string {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? hex(n) : typeof n === 'bigint' && n >= 0n ? hex(n) : String(n);
}

function elide<T>(items: readonly T[], show: (t: T) => string, total = items.length): string {
  const shown = items.slice(0, TRACE_LIST_LIMIT).map(show);
  const more = total - shown.length;
  if (more > 0) shown.push(`... +${more} more`);
  return shown.join(', ');
}

function bytesHex(b: Uint8Array, max = 16): string {
  const head = Array.from(b.subarray(0, max), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return b.length > max ? `${head} ...` : head;
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** 4096 -> 4KiB, 2097152 -> 2MiB, 1 << 43 -> 8TiB; other values in bytes. */
export function formatSize(bytes: bigint): string {
  const units = ['TiB', 'GiB', 'MiB', 'KiB'];
  for (let i = 0; i < units.length; i++) {
    const unit = 1n << BigInt(40 - 10 * i);
    if (bytes >= unit && bytes % unit === 0n) return `${bytes / unit}${units[i]}`;
  }
  return `${bytes}`;
}

/** Opcode set as hex ranges: 0x0-0x1,0x7-0xd,0xf-0x12. */
function opcodeRanges(ops: Set<number>): string {
  const sorted = [...ops].sort((a, b) => a - b);
  if (sorted.length === 0) return 'none';
  const parts: string[] = [];
  let start = sorted[0];
  let prev = start;
  for (const op of [...sorted.slice(1), Number.NaN]) {
    if (op === prev + 1) {
      prev = op;
      continue;
    }
    parts.push(start === prev ? hex(start) : `${hex(start)}-${hex(prev)}`);
    start = op;
    prev = op;
  }
  return parts.join(',');
}

function nameOf(opcode: number, wire: WireOptions): CommandName | undefined {
  return commandName(wire.opcodes, opcode);
}

/** `DEV_MODE_SET(0x8)`; `UNKNOWN(0xe)` for an unassigned opcode, `RESERVED(0x8000)` from 0x8000 on. */
export function opcodeLabel(opcode: number, wire: WireOptions): string {
  const name = safe(() => nameOf(opcode, wire) ?? (opcode >= FIRST_RESERVED_OPCODE ? 'RESERVED' : 'UNKNOWN'));
  return `${name}(${hexOf(opcode)})`;
}

function shortTypeName(type: number): string {
  return devCtxTypeName(type).replace(/^VIRTIO_DEV_CTX_/, '');
}

/**
 * Summary of a device context chunk that starts at stream offset 0: field_count and the types of the
 * TLVs whose headers lie in the chunk, runs of one type compressed (`PCI_VQ_CFGx2`). `...` marks
 * fields beyond the chunk or beyond the rendering limit. Never throws.
 */
export function summarizeDevCtxChunk(chunk: Uint8Array, alignment: WireOptions['ctxStreamAlignment']): string {
  return safe(() => {
    const head = alignment === 'natural' ? 8 : 4;
    if (chunk.length < 4) throw new DecodeError('virtio_dev_ctx', 0, `field_count needs 4 bytes, ${chunk.length} in the chunk`);
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const count = dv.getUint32(0, true);
    const types: number[] = [];
    let pos = head;
    // Set when the chunk ends inside a field (its header or value): there are no bytes after the fields.
    let inField = false;
    while (types.length < count) {
      if (pos + 2 > chunk.length) break;
      types.push(dv.getUint16(pos, true));
      if (pos + TLV_HEADER_SIZE > chunk.length) {
        inField = true;
        break;
      }
      const span = BigInt(TLV_HEADER_SIZE) + dv.getBigUint64(pos + 8, true);
      const padded = alignment === 'natural' ? (span + 7n) & ~7n : span;
      if (BigInt(pos) + padded > BigInt(chunk.length)) {
        inField = true;
        break;
      }
      pos += Number(padded);
    }
    const cut = types.length < count;
    const groups: string[] = [];
    for (let i = 0; i < types.length; ) {
      let j = i;
      while (j < types.length && types[j] === types[i]) j++;
      groups.push(j - i > 1 ? `${shortTypeName(types[i])}x${j - i}` : shortTypeName(types[i]));
      i = j;
    }
    const shown = groups.slice(0, TRACE_LIST_LIMIT);
    if (groups.length > shown.length || cut) shown.push('...');
    let s = `field_count=${count}`;
    if (count > 0) s += ` types=${shown.join(',')}`;
    if (!cut && !inField && pos < chunk.length) s += ` +${chunk.length - pos} bytes after the fields`;
    return s;
  });
}

function ctxData(chunk: Uint8Array, wire: WireOptions, opts: DescribeOptions): string {
  let s = `data=${chunk.length} bytes`;
  if (opts.streamOffset === 0 && chunk.length > 0) s += ` ${summarizeDevCtxChunk(chunk, wire.ctxStreamAlignment)}`;
  return s;
}

// ---- requests -----------------------------------------------------------------------------------

const VARIABLE_RESULT: ReadonlySet<CommandName> = new Set(['LIST_QUERY', 'DEV_CTX_READ', 'DEV_CTX_FIELDS_QUERY', 'DEV_WRITE_RECORDS_READ']);

function commandDetails(name: CommandName | undefined, data: Uint8Array, wire: WireOptions, opts: DescribeOptions): string {
  switch (name) {
    case 'LIST_USE':
      return `opcodes=${opcodeRanges(decodeOpcodeBitmap(data))}`;
    case 'DEV_MODE_SET':
      return data.length === 0 ? 'mode=<missing>' : `mode=${modeName(decodeModeSetData(data).mode)}`;
    case 'DEV_CTX_SIZE_GET':
      return data.length === 0 ? 'freeze_mode=<missing>' : `freeze_mode=${decodeSizeGetData(data).freezeMode}`;
    case 'DEV_CTX_WRITE':
      return ctxData(decodeCtxWriteData(data, wire), wire, opts);
    case 'DEV_WRITE_RECORDS_START': {
      const s = decodeWriteRecordsStartDataStrict(data);
      const ranges = elide(s.entries, (e) => `${hex(e.pageAddress)}+${e.pageCount} page${e.pageCount === 1n ? '' : 's'}`);
      return `page_size=${s.pageSize} ranges=[${ranges}]`;
    }
    case 'DEV_WRITE_RECORDS_READ': {
      if (data.length < 16) throw new DecodeError('virtio_admin_cmd_write_records_read_data', data.length, `needs 16 bytes, ${data.length} sent`);
      const d = decodeWriteRecordsReadData(data);
      return `page_address=${hex(d.pageAddress)} length=${d.length}`;
    }
    case undefined:
      return data.length ? `data=${data.length} bytes [${bytesHex(data)}]` : '';
    default:
      // No command_specific_data: anything but zero padding is worth seeing.
      return allZero(data) ? '' : `data=${data.length} bytes [${bytesHex(data)}]`;
  }
}

/** One line for a request, e.g. `DEV_MODE_SET(0x8) member=2 mode=Stop`. Never throws. */
export function describeCommand(req: TraceCommand, wire: WireOptions, opts: DescribeOptions = {}): string {
  try {
    const name = nameOf(req.opcode, wire);
    const parts = [opcodeLabel(req.opcode, wire)];
    if (req.groupType !== 1) parts.push(`group=${hexOf(req.groupType)}`);
    const listCmd = name === 'LIST_QUERY' || name === 'LIST_USE';
    if (!listCmd || req.memberId !== 0n) parts.push(`member=${num(req.memberId)}`);
    const details = safe(() => commandDetails(name, req.data, wire, opts));
    if (details) parts.push(details);
    if (name && VARIABLE_RESULT.has(name) && req.resultCapacity !== undefined) parts.push(`result_capacity=${num(req.resultCapacity)}`);
    return parts.join(' ');
  } catch (e) {
    return `${safe(() => opcodeLabel(req?.opcode, wire))} ${undecodable(e)}`;
  }
}

// ---- completions --------------------------------------------------------------------------------

function okDetails(name: CommandName | undefined, resp: TraceCompletion, wire: WireOptions, opts: DescribeOptions): string | undefined {
  switch (name) {
    case 'LIST_QUERY':
      return `opcodes=${opcodeRanges(decodeOpcodeBitmap(resp.result))}`;
    case 'DEV_MODE_GET':
      return `mode=${modeName(decodeModeGetResult(resp.result))}`;
    case 'DEV_CTX_SIZE_GET':
      return `size=${decodeSizeGetResult(resp.result)}`;
    case 'DEV_CTX_READ':
      return `context_len=${decodeCtxReadOutput(resp.output)} ${ctxData(resp.result, wire, opts)}`;
    case 'DEV_CTX_FIELDS_QUERY': {
      const fields = decodeFieldsQueryResult(resp.result);
      return `fields=[${elide(fields, (f) => `${shortTypeName(f.type)}:${f.length}`)}]`;
    }
    case 'DEV_WRITE_RECORD_CAP_QUERY': {
      const c = decodeWriteRecordCapResult(resp.result);
      const sizes = pageSizesOf(c.supportedPageSizeBitmap).map(formatSize);
      return `page_sizes=${sizes.length ? sizes.join(',') : 'none'} (bitmap=${hex(c.supportedPageSizeBitmap)}) supported_ranges=${c.supportedRanges}`;
    }
    case 'DEV_WRITE_RECORDS_READ': {
      const addrs = decodeWriteRecordsReadResult(resp.output, resp.result, wire);
      return `count=${addrs.length} [${elide(addrs, (a) => hex(a))}]`;
    }
    default:
      return undefined;
  }
}

/** Commands whose command_specific_output carries data (E8, E19); for the rest non-zero output is shown (E32). */
function usesOutput(name: CommandName | undefined, wire: WireOptions): boolean {
  return name === 'DEV_CTX_READ' || (name === 'DEV_WRITE_RECORDS_READ' && wire.writeRecordsCount === 'command_specific_output');
}

/**
 * One line for a completion: `-> OK used=8`, `-> EINVAL/INVALID_FIELD used=8`,
 * `-> OK context_len=4096 data=4096 bytes`, `-> OK count=3 [0x100000000, ...]`. Never throws.
 */
export function describeCompletion(opcode: number, resp: TraceCompletion, wire: WireOptions, opts: DescribeOptions = {}): string {
  try {
    let cmd: CommandName | undefined;
    try {
      cmd = nameOf(opcode, wire);
    } catch {
      cmd = undefined;
    }
    let head = `-> ${statusName(resp.status)}`;
    if (resp.status !== Status.OK || resp.qualifier !== 0) head += `/${qualifierName(resp.qualifier)}`;
    const parts = [head];
    const used = `used=${num(resp.usedLength)}`;
    if (resp.status === Status.OK) {
      const details = safe(() => okDetails(cmd, resp, wire, opts) ?? '');
      if (!details) {
        parts.push(used);
      } else {
        parts.push(details);
        // With a decoded payload the used length is shown only when it says something more: the
        // payload did not decode, or the device wrote less than the 8-byte header.
        if (details.startsWith('<undecodable') || resp.usedLength < 8) parts.push(used);
      }
    } else {
      parts.push(used);
      if (resp.result && resp.result.length > 0) parts.push(`result=${resp.result.length} bytes`);
    }
    if (!usesOutput(cmd, wire) && resp.output && !allZero(resp.output)) parts.push(`output=[${bytesHex(resp.output)}]`);
    return parts.join(' ');
  } catch (e) {
    return `-> ${undecodable(e)}`;
  }
}

// ---- trace entries ------------------------------------------------------------------------------

/** Builds a trace entry from a request and its completion or transport error. Never throws. */
export function makeTraceEntry(a: {
  seq: number;
  tMs: number;
  request: TraceCommand;
  response?: TraceCompletion;
  error?: unknown;
  wire: WireOptions;
  /** Stream offsets of the context bytes of this command's data and result (see DescribeOptions). */
  streamOffset?: number;
}): TraceEntry {
  const opts: DescribeOptions = { streamOffset: a.streamOffset };
  const e: TraceEntry = {
    seq: a.seq,
    tMs: a.tMs,
    memberId: typeof a.request?.memberId === 'bigint' ? a.request.memberId : 0n,
    opcode: typeof a.request?.opcode === 'number' ? a.request.opcode : -1,
    request: describeCommand(a.request, a.wire, opts),
    response: a.response ? describeCompletion(a.request?.opcode, a.response, a.wire, opts) : '',
  };
  if (a.response) {
    e.status = a.response.status;
    e.qualifier = a.response.qualifier;
  }
  if (a.error !== undefined) e.error = oneLine(reason(a.error));
  return e;
}

/**
 * `#12 +35.2ms DEV_MODE_SET(0x8) member=2 mode=Stop -> OK used=8`; a command that did not complete
 * renders `-> no completion: <error>`. Never throws, always one line.
 */
export function renderTraceEntry(e: TraceEntry): string {
  try {
    const t = typeof e.tMs === 'number' && Number.isFinite(e.tMs) ? `+${e.tMs.toFixed(1)}ms` : '+?ms';
    let line = `#${num(e.seq)} ${t} ${e.request || `${hexOf(e.opcode)} member=${num(e.memberId)}`}`;
    if (e.response) line += ` ${e.response}`;
    if (e.error) line += e.response ? ` !! ${e.error}` : ` -> no completion: ${e.error}`;
    else if (!e.response) line += ' -> no completion';
    return oneLine(line);
  } catch (err) {
    return `#? ${undecodable(err)}`;
  }
}
