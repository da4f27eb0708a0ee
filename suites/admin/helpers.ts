/**
 * Helpers shared by the admin, avq, cmdset and mode suites (not a suite file: no tests here).
 * Everything goes through what a transport offers (AdminClient, execFrame, OwnerPort, SriovControl), nothing
 * reaches into the simulator.
 */
import { decodeAdminCmdResult, encodeAdminCmd, type VirtioAdminCmdResult } from '../../protocol/admin-frame.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import {
  DeviceMode,
  encodeModeSetData,
  encodeSizeGetData,
  encodeWriteRecordsReadData,
  encodeWriteRecordsStartData,
  modeName,
  pageSizesOf,
} from '../../protocol/commands.ts';
import { type CommandName, CONTEXT_GROUP, FIRST_RESERVED_OPCODE, WRITE_RECORD_GROUP } from '../../protocol/opcodes.ts';
import { GroupType, Qualifier, qualifierName, Status, statusName } from '../../protocol/status.ts';
import { describeStatus, type ConformanceContext } from '../../harness/ctest.ts';
import { pollUntil } from '../../harness/wait.ts';
import type { SriovState } from '../../protocol/sriov-control.ts';

export { describeStatus };

/** Commands that address a member (every migration command; not LIST_QUERY / LIST_USE). */
export const MEMBER_COMMANDS: readonly CommandName[] = [...CONTEXT_GROUP, 'DEV_CTX_FIELDS_QUERY', ...WRITE_RECORD_GROUP];

/** Whether the session put this command in the in-use list (it was offered by LIST_QUERY). */
export function inUse(t: ConformanceContext, name: CommandName): boolean {
  return t.session.inUse.has(t.opcodes[name]);
}

/** Migration commands the session uses, by name (the text numbering's 0xd goes to DEV_CTX_DISCARD). */
export function memberCommandsInUse(t: ConformanceContext): CommandName[] {
  const seen = new Set<number>();
  const out: CommandName[] = [];
  for (const n of MEMBER_COMMANDS) {
    const op = t.opcodes[n];
    if (seen.has(op) || !t.session.inUse.has(op)) continue;
    if (n === 'DEV_WRITE_RECORD_CAP_QUERY' && op === t.opcodes.DEV_CTX_DISCARD) continue;
    seen.add(op);
    out.push(n);
  }
  return out;
}

/**
 * Data that makes a member command well formed and harmless (used where the command must be refused
 * for another reason: bad group, member or opcode). MODE_SET carries Active, WRITE one zero word.
 */
export function benignData(name: CommandName): Uint8Array {
  switch (name) {
    case 'DEV_MODE_SET':
      return encodeModeSetData(DeviceMode.ACTIVE);
    case 'DEV_CTX_SIZE_GET':
      return encodeSizeGetData(0);
    case 'DEV_CTX_WRITE':
      return new Uint8Array(8);
    case 'DEV_WRITE_RECORDS_START':
      return encodeWriteRecordsStartData({ pageSize: BENIGN_RANGE.pageSize, entries: [{ pageAddress: BENIGN_RANGE.pageAddress, pageCount: BENIGN_RANGE.pageCount }] });
    case 'DEV_WRITE_RECORDS_READ':
      return encodeWriteRecordsReadData({ pageAddress: BENIGN_RANGE.pageAddress, length: BENIGN_RANGE.pageSize });
    default:
      return new Uint8Array(0);
  }
}

/** The range benignData's DEV_WRITE_RECORDS_START names. */
export const BENIGN_RANGE = { pageSize: 4096n, pageAddress: 0x10_0000n, pageCount: 1n } as const;

/**
 * Sends a member command with benign data, for probes the device must refuse. When the device runs
 * it anyway, the test undoes what the command started, so the harness leaves no partial read and no
 * recording behind (driver rules SR1, SR7): a READ or WRITE is discarded, a START drained and stopped.
 * The undo goes to the same member id and group type, as the device took them.
 */
export async function probeCommand(
  t: ConformanceContext,
  name: CommandName,
  member: bigint | number,
  opts: { groupType?: number; data?: Uint8Array } = {},
): Promise<AdminCommandResponse> {
  const a = t.admin;
  const groupType = opts.groupType ?? GroupType.SRIOV;
  const r = await a.send(name, member, opts.data ?? benignData(name), { groupType, resultCapacity: resultRoom(name) });
  if (r.status !== Status.OK) return r;
  if (name === 'DEV_CTX_READ' || name === 'DEV_CTX_WRITE') {
    await a.send('DEV_CTX_DISCARD', member, undefined, { groupType, resultCapacity: 0 });
  } else if (name === 'DEV_WRITE_RECORDS_START' && !opts.data) {
    const rd = encodeWriteRecordsReadData({ pageAddress: BENIGN_RANGE.pageAddress, length: BENIGN_RANGE.pageSize * BENIGN_RANGE.pageCount });
    for (let i = 0; i < 64; i++) {
      const x = await a.send('DEV_WRITE_RECORDS_READ', member, rd, { groupType, resultCapacity: 4096 });
      if (x.status !== Status.OK || x.usedLength < 8 + 4096) break;
    }
    await a.send('DEV_WRITE_RECORDS_STOP', member, undefined, { groupType, resultCapacity: 0 });
  }
  return r;
}

/** Result buffer to offer a command (enough for its structure). */
export function resultRoom(name: CommandName): number {
  return name === 'DEV_CTX_READ' || name === 'DEV_CTX_FIELDS_QUERY' || name === 'DEV_WRITE_RECORDS_READ' ? 256 : name === 'LIST_QUERY' ? 64 : 8;
}

/** NumVFs: from the host's SR-IOV control when the transport has one, else the member ids the transport reports (1..NumVFs). */
export async function numVfs(t: ConformanceContext): Promise<number> {
  const tr = t.session.transport;
  if (tr.capabilities.sriovControl && tr.sriov) return (await tr.sriov().state()).numVfs;
  return Math.max(0, ...tr.memberIds());
}

/** Member ids outside 1..NumVFs: 0, NumVFs+1, a 32-bit alias of a valid id, 2^63 and 2^64-1. */
export function outOfRangeMembers(n: number, valid: number): bigint[] {
  const ids = [0n, BigInt(n) + 1n, (1n << 32n) + BigInt(valid), 1n << 63n, (1n << 64n) - 1n];
  return [...new Set(ids)].filter((m) => m === 0n || m > BigInt(n));
}

/** Opcodes the device does not support (from the probe list: legacy, unassigned, reserved 0x8000+). */
export function unsupportedOpcodes(t: ConformanceContext): number[] {
  const probes = [0x2, 0x3, 0x4, 0x5, 0x6, 0xe, 0x13, 0x20, 0x3f, 0x40, 0x7fff, FIRST_RESERVED_OPCODE, 0x8001, 0xc000, 0xfffe, 0xffff];
  return probes.filter((o) => !t.session.supported.has(o));
}

/** "EINVAL/INVALID_OPCODE" style rendering. */
export function statusText(status: number, qualifier: number): string {
  return `${statusName(status)}/${qualifierName(qualifier)}`;
}

export function memberText(m: bigint | number): string {
  const b = BigInt(m);
  return b > 0xffffn ? `0x${b.toString(16)}` : String(b);
}

/** Hex of a few bytes, for messages. */
export function hex(b: Uint8Array, max = 32): string {
  const s = Array.from(b.subarray(0, max), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return b.length > max ? `${s} … (${b.length} bytes)` : s;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** First index at which two byte strings differ (or the shorter length). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** MODE_GET that must succeed; returns the mode byte or ends the test (the harness cannot go on without it). */
export async function modeOf(t: ConformanceContext, member: number, req?: string): Promise<number> {
  const r = await t.admin.modeGet(member);
  t.require(req, r.status === Status.OK && r.result.length >= 1, `member ${member}: DEV_MODE_GET failed (${describeStatus(r)}, ${r.result.length} result bytes)`);
  return r.result[0];
}

export { modeName };

/** Whether a response is EINVAL with the given qualifier. */
export function isEinval(r: Pick<AdminCommandResponse, 'status' | 'qualifier'>, qualifier: number): boolean {
  return r.status === Status.EINVAL && r.qualifier === qualifier;
}

// ---- raw frames -------------------------------------------------------------------------------------

export interface RawCommand {
  opcode: number;
  groupType?: number;
  memberId?: bigint | number;
  data?: Uint8Array;
}

export interface RawOutcome {
  readable: Uint8Array;
  writableLength: number;
  /** The buffer as the transport returned it and the used length the device reported. */
  writable: Uint8Array;
  usedLength: number;
  /** Decoded as a driver must (bytes past the used length read as zero); the used length is clipped to the buffer. */
  response: VirtioAdminCmdResult;
}

/** The device-readable bytes of a command: 24-byte header and data (unpadded: the caller decides the length). */
export function readableOf(c: RawCommand): Uint8Array {
  return encodeAdminCmd({ opcode: c.opcode, groupType: c.groupType ?? GroupType.SRIOV, memberId: BigInt(c.memberId ?? 0), data: c.data ?? new Uint8Array(0) }, false);
}

/** Sends one descriptor chain as given (capability raw-frames). */
export async function rawFrame(t: ConformanceContext, readable: Uint8Array, writableLength: number): Promise<RawOutcome> {
  const done = await t.session.transport.execFrame({ readable, writableLength }, { timeoutMs: t.plan.timeouts.commandMs });
  const room = Math.min(writableLength, done.writable.length);
  const response = decodeAdminCmdResult(done.writable.length > room ? done.writable.subarray(0, room) : done.writable, Math.min(done.usedLength, room));
  return { readable, writableLength, writable: done.writable, usedLength: done.usedLength, response };
}

// ---- owner SR-IOV settings ------------------------------------------------------------------------

/** The owner's SR-IOV settings, or NOT_TESTED when the transport cannot change them or VF Enable is clear. */
export async function ownerSriov(t: ConformanceContext): Promise<SriovState> {
  const s = await t.sriov().state();
  if (!s.vfEnable) t.notTested('VF Enable is clear when the test starts');
  return s;
}

/**
 * Clears VF Enable (NumVFs 0 through the host's SR-IOV control), runs `fn` with the settings it found,
 * and restores them (the SR-IOV group torn down and built again). The caller is breaking driver rule
 * admin.gr10-vf-enable-while-outstanding on purpose when it sends commands inside.
 */
export async function withVfDisabled<T>(t: ConformanceContext, fn: (s: SriovState) => Promise<T>): Promise<T> {
  const sriov = t.sriov();
  const s = await ownerSriov(t);
  try {
    await sriov.setNumVfs(0);
    return await fn(s);
  } finally {
    const now = await sriov.state();
    if (!now.vfEnable || now.numVfs !== s.numVfs) {
      if (now.vfEnable) await sriov.setNumVfs(0);
      await sriov.setNumVfs(s.numVfs);
    }
  }
}

/** The write-record START data for one range of `pages` pages at a page-aligned address in the first advertised page size. */
export function recordStartData(bitmap: number, pages = 4n): { pageSize: bigint; entries: { pageAddress: bigint; pageCount: bigint }[] } {
  const pageSize = pageSizesOf(bitmap)[0] ?? 4096n;
  return { pageSize, entries: [{ pageAddress: pageSize * 256n, pageCount: pages }] };
}

/** Retries a command while it answers EAGAIN (VR7), for up to the completion time the transport declares. */
export async function retryEagain(t: ConformanceContext, send: () => Promise<AdminCommandResponse>): Promise<AdminCommandResponse> {
  let r = await send();
  await pollUntil(async () => r.status !== Status.EAGAIN || (r = await send()).status !== Status.EAGAIN, t.timing.completionMs);
  return r;
}

export { DeviceMode, GroupType, Qualifier, Status };

/** Reads the write records of a whole started range until the device returns fewer than fit (drains it before a STOP). */
export async function drainRange(t: ConformanceContext, member: number, d: { pageSize: bigint; entries: { pageAddress: bigint; pageCount: bigint }[] }): Promise<AdminCommandResponse> {
  let r: AdminCommandResponse | undefined;
  for (const e of d.entries) {
    for (let i = 0; i < 64; i++) {
      r = await t.admin.recordsRead(member, e.pageAddress, d.pageSize * e.pageCount, 4096);
      if (r.status !== Status.OK || r.usedLength < 8 + 4096) break;
    }
  }
  return r!;
}

/** DEV_WRITE_RECORD_CAP_QUERY is in use and has an opcode of its own (not text numbering's 0xd, which is DEV_CTX_DISCARD, E2). */
export function capQueryUsable(t: ConformanceContext): boolean {
  return inUse(t, 'DEV_WRITE_RECORD_CAP_QUERY') && t.opcodes.DEV_WRITE_RECORD_CAP_QUERY !== t.opcodes.DEV_CTX_DISCARD;
}

/** START, STOP and READ of the write-record commands are in use. */
export function recordingUsable(t: ConformanceContext): boolean {
  return inUse(t, 'DEV_WRITE_RECORDS_START') && inUse(t, 'DEV_WRITE_RECORDS_STOP') && inUse(t, 'DEV_WRITE_RECORDS_READ');
}

/** The advertised page sizes (CAP_QUERY), or 4 KiB alone where CAP_QUERY cannot be sent. */
export async function pageSizeBitmap(t: ConformanceContext, member = t.src): Promise<number> {
  if (!capQueryUsable(t)) return 1;
  return (await t.admin.capQueryOk(member)).supportedPageSizeBitmap || 1;
}
