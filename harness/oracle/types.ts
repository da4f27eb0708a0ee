/**
 * Vocabulary of the permissive oracle (harness/oracle): the admin commands and member events it
 * judges, the constraints it derives from the draft for the next command, and the violations it
 * reports. Every constraint names the catalog requirement (spec/catalog/*.json) it stands for, so a
 * failing fuzz run names the rule the device broke, not merely "model mismatch".
 *
 * The oracle is written from the draft's rules as the seed-v2 profile reads them
 * (../shared/reference/seed-errata.md), never from the reference device in device/.
 */
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { modeName } from '../../protocol/commands.ts';
import type { DmaAccess } from '../../protocol/guest-memory.ts';
import { Qualifier, qualifierName, Status, statusName } from '../../protocol/status.ts';

/** One group administration command, as the oracle sees it (concrete bytes where the draft judges bytes). */
export type AdminCall =
  | { op: 'MODE_GET'; member: number }
  | { op: 'MODE_SET'; member: number; mode: number }
  | { op: 'SIZE_GET'; member: number; freezeMode: number }
  | { op: 'CTX_READ'; member: number; capacity: number }
  /** `label` says where the bytes came from (trace only); the oracle judges the bytes. */
  | { op: 'CTX_WRITE'; member: number; data: Uint8Array; label?: string }
  | { op: 'FIELDS_QUERY'; member: number; capacity: number }
  | { op: 'DISCARD'; member: number }
  | { op: 'CAP_QUERY'; member: number }
  | { op: 'RECORDS_START'; member: number; pageSize: bigint; entries: { pageAddress: bigint; pageCount: bigint }[]; count?: number }
  | { op: 'RECORDS_STOP'; member: number }
  | { op: 'RECORDS_READ'; member: number; pageAddress: bigint; length: bigint; capacity: number };

export type AdminOp = AdminCall['op'];

/** Something that happened on the member side, which changes what the draft allows next. */
export type MemberEvent =
  /** A PCIe Function Level Reset of the member completed. */
  | { event: 'FLR'; member: number }
  /** The member's driver reset the virtio device (device_status 0) and the reset completed. */
  | { event: 'RESET'; member: number }
  /**
   * Device accesses to guest memory. `exact`: the list is the transport's DMA log, every access the
   * device made; otherwise it lists only writes the suite knows the device made (buffers of completed
   * requests and the used ring). `during`: the accesses happened while `during` was executing.
   */
  | { event: 'DMA'; member: number; accesses: Pick<DmaAccess, 'kind' | 'addr' | 'len'>[]; exact: boolean; during?: AdminOp }
  /** Pages the device may write without the suite seeing it (buffers of requests in flight, rings): allowed in records. */
  | { event: 'MAY_WRITE'; member: number; pages: { addr: bigint; len: number }[] };

export type HistoryEntry = { call: AdminCall; response: AdminCommandResponse } | MemberEvent;

/** fail: a MUST broken (FAIL); warn: a SHOULD unmet (WARN); finding: recorded, no verdict (P5 preferences, E22 readings). */
export type Severity = 'fail' | 'warn' | 'finding';

/**
 * One condition the draft puts on the next outcome. `test` returns undefined when the outcome meets
 * it, or a short description of what was observed instead.
 */
export interface Constraint {
  rule: string;
  severity: Severity;
  /** What the draft allows, in words ("status != OK", "context_len 0"). */
  allowed: string;
  test(o: AdminCommandResponse): string | undefined;
  /**
   * A group of related rules judged from one decoding of the outcome (a whole context stream, the
   * pages a READ of write records left out): each problem names its own rule. When present it is
   * used instead of `test`; `rule` is then the group's first rule.
   */
  group?(o: AdminCommandResponse): { rule: string; observed: string }[];
}

/** A constraint the device's outcome broke. */
export interface Violation {
  rule: string;
  severity: Severity;
  /** The command (or event) that showed it, rendered like `MODE_SET(1, Stop)`. */
  command: string;
  allowed: string;
  observed: string;
}

export function formatViolation(v: Violation): string {
  return `${v.command}: allowed ${v.allowed}; observed ${v.observed}`;
}

// ---- rendering ------------------------------------------------------------------------------------

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** `MODE_SET(1, Stop)`, `CTX_READ(1, 8)`, `RECORDS_READ(1, 0x100000000+0x4000, 64)`. */
export function describeCall(c: AdminCall): string {
  switch (c.op) {
    case 'MODE_GET':
    case 'DISCARD':
    case 'CAP_QUERY':
    case 'RECORDS_STOP':
      return `${c.op}(${c.member})`;
    case 'MODE_SET':
      return `MODE_SET(${c.member}, ${modeName(c.mode)})`;
    case 'SIZE_GET':
      return `SIZE_GET(${c.member}, freeze_mode ${c.freezeMode})`;
    case 'CTX_READ':
      return `CTX_READ(${c.member}, ${c.capacity})`;
    case 'FIELDS_QUERY':
      return `FIELDS_QUERY(${c.member}, ${c.capacity})`;
    case 'CTX_WRITE':
      return `CTX_WRITE(${c.member}, ${c.data.length} bytes${c.label ? `: ${c.label}` : ''})`;
    case 'RECORDS_START': {
      const e = c.entries.map((x) => `${hex(x.pageAddress)}x${x.pageCount}`).join(' ');
      return `RECORDS_START(${c.member}, page ${c.pageSize}${c.count !== undefined && c.count !== c.entries.length ? `, count ${c.count}` : ''}, [${e}])`;
    }
    case 'RECORDS_READ':
      return `RECORDS_READ(${c.member}, ${hex(c.pageAddress)}+${hex(c.length)}, ${c.capacity})`;
  }
}

export function describeEvent(e: MemberEvent): string {
  switch (e.event) {
    case 'FLR':
      return `FLR(${e.member})`;
    case 'RESET':
      return `RESET(${e.member})`;
    case 'DMA':
      return `DMA(${e.member}, ${e.accesses.length} access${e.accesses.length === 1 ? '' : 'es'}${e.during ? ` during ${e.during}` : ''})`;
    case 'MAY_WRITE':
      return `MAY_WRITE(${e.member}, ${e.pages.length} range(s))`;
  }
}

export function describeOutcome(r: AdminCommandResponse): string {
  return r.status === Status.OK && r.qualifier === Qualifier.OK ? 'OK' : `${statusName(r.status)}/${qualifierName(r.qualifier)}`;
}

// ---- constraint builders ----------------------------------------------------------------------------
// Constraints are class instances with prototype methods, and the per-command closures are passed as
// plain arguments: the fuzz loop builds thousands of them per second, and a closure stored under a
// name would get its `name` redefined by the TypeScript loader (keepNames) every time.

/** A condition on the outcome; unless `always`, it holds trivially when the command failed. */
export class Check implements Constraint {
  constructor(
    readonly rule: string,
    readonly allowed: string,
    private readonly fn: (o: AdminCommandResponse) => string | undefined,
    readonly severity: Severity = 'fail',
    private readonly always = false,
  ) {}
  test(o: AdminCommandResponse): string | undefined {
    return this.always || o.status === Status.OK ? this.fn(o) : undefined;
  }
}

/** Several rules judged from one decoding of a successful outcome. */
export class GroupCheck implements Constraint {
  constructor(
    readonly rule: string,
    readonly allowed: string,
    private readonly fn: (o: AdminCommandResponse) => { rule: string; observed: string }[],
    readonly severity: Severity = 'fail',
  ) {}
  test(): string | undefined {
    return undefined;
  }
  group(o: AdminCommandResponse): { rule: string; observed: string }[] {
    return o.status === Status.OK ? this.fn(o) : [];
  }
}

function notOk(o: AdminCommandResponse): string | undefined {
  return o.status === Status.OK ? undefined : describeOutcome(o);
}

function notFailed(o: AdminCommandResponse): string | undefined {
  return o.status !== Status.OK ? undefined : 'OK';
}

export function mustSucceed(rule: string, severity: Severity = 'fail', allowed = 'status OK'): Constraint {
  return new Check(rule, allowed, notOk, severity, true);
}

export function mustFail(rule: string, severity: Severity = 'fail'): Constraint {
  return new Check(rule, 'status != OK', notFailed, severity, true);
}

/** A condition on a successful outcome (holds trivially when the command failed). */
export function onSuccess(rule: string, allowed: string, test: (o: AdminCommandResponse) => string | undefined, severity: Severity = 'fail'): Constraint {
  return new Check(rule, allowed, test, severity);
}
