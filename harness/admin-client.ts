import type { AdminCommandResponse, AdminExecOptions, AdminFrame, AdminFrameCompletion, AdminTransport } from '../protocol/admin-transport.ts';
import { decodeAdminCmdAsDevice, decodeAdminCmdResult, WRITABLE_HEADER_SIZE } from '../protocol/admin-frame.ts';
import {
  decodeCtxReadOutput,
  decodeFieldsQueryResult,
  decodeModeGetResult,
  decodeOpcodeBitmap,
  decodeSizeGetResult,
  decodeWriteRecordCapResult,
  decodeWriteRecordsReadResult,
  encodeCtxWriteData,
  encodeModeSetData,
  encodeOpcodeBitmap,
  encodeSizeGetData,
  encodeWriteRecordsReadData,
  encodeWriteRecordsStartData,
  recordsCapacity,
  type VirtioAdminCmdDevCtxSupportedField,
  type VirtioAdminCmdDevWriteRecordCapResult,
  type VirtioAdminCmdWriteRecordStartData,
} from '../protocol/commands.ts';
import type { CommandName } from '../protocol/opcodes.ts';
import { GroupType, Qualifier, qualifierName, Status, statusName } from '../protocol/status.ts';
import type { WireOptions } from '../protocol/wire-options.ts';

/** One command as the client sent it and what came back (or the error instead). */
export interface WireRecord {
  seq: number;
  tMs: number;
  command: CommandName | 'RAW';
  opcode: number;
  groupType: number;
  memberId: bigint;
  data: Uint8Array;
  resultCapacity: number;
  response?: AdminCommandResponse;
  error?: string;
}

/** A command completed with a status other than OK where the caller needed OK. */
export class AdminStatusError extends Error {
  override name = 'AdminStatusError';
  constructor(
    readonly command: string,
    readonly status: number,
    readonly qualifier: number,
  ) {
    super(`${command} failed: ${statusName(status)}/${qualifierName(qualifier)}`);
  }
}

export interface CommandOptions extends AdminExecOptions {
  /** Bytes of command_specific_result to offer (defaults per command). */
  resultCapacity?: number;
  groupType?: number;
}

/** Read chunk size of readContext: a multiple of 8 (VR3). */
export const DEFAULT_READ_CHUNK = 4096;

/**
 * Typed group administration commands over an AdminTransport, with the active profile's opcodes and
 * layouts. Every command is recorded (for the wire trace of a failing test). Methods named after a
 * command return the raw response; `*Ok` helpers also require status OK and decode the result.
 */
export class AdminClient {
  private seq = 0;
  private readonly t0 = performance.now();
  /** Every command sent, in order; the harness keeps the tail of it per test. */
  readonly log: WireRecord[] = [];
  /** Longest log kept (older records are dropped). */
  logLimit = 10_000;

  constructor(
    readonly transport: AdminTransport,
    readonly wire: WireOptions,
    private readonly defaults: AdminExecOptions = {},
  ) {}

  async send(
    command: CommandName,
    memberId: bigint | number,
    data: Uint8Array = new Uint8Array(0),
    opts: CommandOptions & { unpadded?: boolean } = {},
  ): Promise<AdminCommandResponse> {
    return this.sendOpcode(this.wire.opcodes[command], memberId, data, opts, command);
  }

  /** Any opcode, for probes of unsupported, reserved or disabled commands. */
  async sendOpcode(
    opcode: number,
    memberId: bigint | number,
    data: Uint8Array = new Uint8Array(0),
    opts: CommandOptions & { unpadded?: boolean } = {},
    command: CommandName | 'RAW' = 'RAW',
  ): Promise<AdminCommandResponse> {
    const rec: WireRecord = {
      seq: ++this.seq,
      tMs: performance.now() - this.t0,
      command,
      opcode,
      groupType: opts.groupType ?? GroupType.SRIOV,
      memberId: BigInt(memberId),
      data,
      resultCapacity: opts.resultCapacity ?? 8,
    };
    this.log.push(rec);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    try {
      rec.response = await this.transport.exec(
        { opcode, groupType: rec.groupType, memberId: rec.memberId, data, resultCapacity: rec.resultCapacity, unpadded: opts.unpadded },
        { timeoutMs: opts.timeoutMs ?? this.defaults.timeoutMs, signal: opts.signal ?? this.defaults.signal },
      );
      return rec.response;
    } catch (e) {
      rec.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      throw e;
    }
  }

  /**
   * Records a raw frame a test sent with transport.execFrame (short, long or unpadded probes), so it
   * appears in the wire trace like every other command. `completion` or `error` is what came back.
   */
  recordFrame(frame: AdminFrame, outcome: { completion?: AdminFrameCompletion; error?: unknown }): void {
    const cmd = decodeAdminCmdAsDevice(frame.readable);
    const rec: WireRecord = {
      seq: ++this.seq,
      tMs: performance.now() - this.t0,
      command: 'RAW',
      opcode: cmd.opcode,
      groupType: cmd.groupType,
      memberId: cmd.memberId,
      data: cmd.data,
      resultCapacity: Math.max(0, frame.writableLength - WRITABLE_HEADER_SIZE),
    };
    if (outcome.completion) {
      try {
        rec.response = decodeAdminCmdResult(outcome.completion.writable, outcome.completion.usedLength);
      } catch (e) {
        rec.error = `undecodable completion: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    if (outcome.error !== undefined) rec.error = outcome.error instanceof Error ? `${outcome.error.name}: ${outcome.error.message}` : String(outcome.error);
    this.log.push(rec);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }

  private static ok(command: string, r: AdminCommandResponse): AdminCommandResponse {
    if (r.status !== Status.OK) throw new AdminStatusError(command, r.status, r.qualifier);
    return r;
  }

  // ---- base ----------------------------------------------------------------------------------------

  async listQuery(opts: CommandOptions = {}): Promise<Set<number>> {
    const r = AdminClient.ok('LIST_QUERY', await this.send('LIST_QUERY', 0, undefined, { resultCapacity: 64, ...opts }));
    return decodeOpcodeBitmap(r.result);
  }

  async listUse(opcodes: Iterable<number>, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('LIST_USE', 0, encodeOpcodeBitmap(opcodes), { resultCapacity: 0, ...opts });
  }

  /** LIST_QUERY, then LIST_USE of everything offered that this profile knows (GR2, GR4, GR5). */
  async enableAll(opts: CommandOptions = {}): Promise<Set<number>> {
    const offered = await this.listQuery(opts);
    const known = new Set(Object.values(this.wire.opcodes));
    const use = [...offered].filter((o) => known.has(o));
    AdminClient.ok('LIST_USE', await this.listUse(use, opts));
    return new Set(use);
  }

  // ---- modes ---------------------------------------------------------------------------------------

  modeGet(member: number, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_MODE_GET', member, undefined, { resultCapacity: 8, ...opts });
  }

  async modeGetOk(member: number, opts: CommandOptions = {}): Promise<number> {
    return decodeModeGetResult(AdminClient.ok('DEV_MODE_GET', await this.modeGet(member, opts)).result);
  }

  modeSet(member: number, mode: number, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_MODE_SET', member, encodeModeSetData(mode), { resultCapacity: 0, ...opts });
  }

  async modeSetOk(member: number, mode: number, opts: CommandOptions = {}): Promise<void> {
    AdminClient.ok('DEV_MODE_SET', await this.modeSet(member, mode, opts));
  }

  // ---- device context ------------------------------------------------------------------------------

  sizeGet(member: number, freezeMode = 0, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_CTX_SIZE_GET', member, encodeSizeGetData(freezeMode), { resultCapacity: 8, ...opts });
  }

  async sizeGetOk(member: number, freezeMode = 0, opts: CommandOptions = {}): Promise<bigint> {
    return decodeSizeGetResult(AdminClient.ok('DEV_CTX_SIZE_GET', await this.sizeGet(member, freezeMode, opts)).result);
  }

  ctxRead(member: number, capacity = DEFAULT_READ_CHUNK, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_CTX_READ', member, undefined, { ...opts, resultCapacity: capacity });
  }

  /** One READ: context_len and the bytes (result cut to context_len). */
  async ctxReadOk(member: number, capacity = DEFAULT_READ_CHUNK, opts: CommandOptions = {}): Promise<{ contextLen: number; data: Uint8Array; response: AdminCommandResponse }> {
    const r = AdminClient.ok('DEV_CTX_READ', await this.ctxRead(member, capacity, opts));
    const contextLen = decodeCtxReadOutput(r.output);
    return { contextLen, data: r.result.subarray(0, Math.min(contextLen, r.result.length)), response: r };
  }

  /** Reads until the stream ends (context_len 0 or short, E19); returns the whole stream. */
  async readContext(member: number, chunk = DEFAULT_READ_CHUNK, opts: CommandOptions & { maxBytes?: number } = {}): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    const max = opts.maxBytes ?? 1 << 30;
    for (;;) {
      const { contextLen, data } = await this.ctxReadOk(member, chunk, opts);
      if (contextLen > chunk) throw new AdminStatusError(`DEV_CTX_READ returned context_len ${contextLen} for a ${chunk}-byte buffer`, 0, 0);
      parts.push(data.slice());
      total += data.length;
      if (total > max) throw new Error(`device context exceeds ${max} bytes`);
      if (contextLen < chunk) break;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  ctxWrite(member: number, chunk: Uint8Array, opts: CommandOptions & { unpadded?: boolean } = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_CTX_WRITE', member, encodeCtxWriteData(chunk, this.wire), { resultCapacity: 0, ...opts });
  }

  /** Writes a whole context in chunks of `chunk` bytes (a multiple of 8; only the last is padded, S1). */
  async writeContext(member: number, stream: Uint8Array, chunk = DEFAULT_READ_CHUNK, opts: CommandOptions = {}): Promise<void> {
    if (chunk % 8) throw new RangeError('context write chunks must be a multiple of 8 bytes (VR3, S1)');
    for (let at = 0; at < stream.length; at += chunk) {
      AdminClient.ok('DEV_CTX_WRITE', await this.ctxWrite(member, stream.subarray(at, at + chunk), opts));
    }
  }

  fieldsQuery(member: number, capacity = 256, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_CTX_FIELDS_QUERY', member, undefined, { ...opts, resultCapacity: capacity });
  }

  async fieldsQueryOk(member: number, capacity = 256, opts: CommandOptions = {}): Promise<VirtioAdminCmdDevCtxSupportedField[]> {
    return decodeFieldsQueryResult(AdminClient.ok('DEV_CTX_FIELDS_QUERY', await this.fieldsQuery(member, capacity, opts)).result);
  }

  discard(member: number, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_CTX_DISCARD', member, undefined, { resultCapacity: 0, ...opts });
  }

  async discardOk(member: number, opts: CommandOptions = {}): Promise<void> {
    AdminClient.ok('DEV_CTX_DISCARD', await this.discard(member, opts));
  }

  // ---- write recording -----------------------------------------------------------------------------

  capQuery(member: number, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_WRITE_RECORD_CAP_QUERY', member, undefined, { resultCapacity: 8, ...opts });
  }

  async capQueryOk(member: number, opts: CommandOptions = {}): Promise<VirtioAdminCmdDevWriteRecordCapResult> {
    return decodeWriteRecordCapResult(AdminClient.ok('DEV_WRITE_RECORD_CAP_QUERY', await this.capQuery(member, opts)).result);
  }

  recordsStart(member: number, d: VirtioAdminCmdWriteRecordStartData, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_WRITE_RECORDS_START', member, encodeWriteRecordsStartData(d), { resultCapacity: 0, ...opts });
  }

  async recordsStartOk(member: number, d: VirtioAdminCmdWriteRecordStartData, opts: CommandOptions = {}): Promise<void> {
    AdminClient.ok('DEV_WRITE_RECORDS_START', await this.recordsStart(member, d, opts));
  }

  recordsStop(member: number, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_WRITE_RECORDS_STOP', member, undefined, { resultCapacity: 0, ...opts });
  }

  async recordsStopOk(member: number, opts: CommandOptions = {}): Promise<void> {
    AdminClient.ok('DEV_WRITE_RECORDS_STOP', await this.recordsStop(member, opts));
  }

  recordsRead(member: number, pageAddress: bigint, length: bigint, capacity = 4096, opts: CommandOptions = {}): Promise<AdminCommandResponse> {
    return this.send('DEV_WRITE_RECORDS_READ', member, encodeWriteRecordsReadData({ pageAddress, length }), { ...opts, resultCapacity: capacity });
  }

  async recordsReadOk(member: number, pageAddress: bigint, length: bigint, capacity = 4096, opts: CommandOptions = {}): Promise<bigint[]> {
    const r = AdminClient.ok('DEV_WRITE_RECORDS_READ', await this.recordsRead(member, pageAddress, length, capacity, opts));
    return decodeWriteRecordsReadResult(r.output, r.result, this.wire);
  }

  /** Reads records of a range until the device returns fewer than fit (E28: the driver loops). */
  async drainRecords(member: number, pageAddress: bigint, length: bigint, capacity = 4096, opts: CommandOptions = {}): Promise<bigint[]> {
    const out: bigint[] = [];
    const fit = recordsCapacity(capacity, this.wire);
    for (let rounds = 0; rounds < 1_000_000; rounds++) {
      const got = await this.recordsReadOk(member, pageAddress, length, capacity, opts);
      out.push(...got);
      if (got.length < fit || got.length === 0) return out;
    }
    throw new Error('write records never drained');
  }
}

export { Qualifier, Status };
