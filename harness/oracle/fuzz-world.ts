/**
 * What a property-based run acts on: the admin client and member ports of the device under test, the
 * oracle judging every command, and the guest workloads. One world lives for a whole property; each
 * fast-check run starts with `begin()` (the session baseline, a fresh per-run model) and ends with
 * `finish()` (the member back to Active, every request given the chance to complete, write records
 * drained), so a lost request or a lost dirty page is caught even when the run ends early.
 *
 * A violation of a MUST ends the run (fast-check then shrinks the command sequence); SHOULDs and
 * findings are collected and reported once.
 */
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeWriteRecordsReadResult, DeviceMode, recordsCapacity } from '../../protocol/commands.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { Status } from '../../protocol/status.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import type { ProfileSettings } from '../../spec/profile-settings.ts';
import type { AdminClient } from '../admin-client.ts';
import { waitForDevice } from '../wait.ts';
import type { GuestDriverInit } from '../guest/guest-driver.ts';
import { Oracle } from './oracle.ts';
import { type AdminCall, describeCall, describeEvent, describeOutcome, formatViolation, type MemberEvent, type Violation } from './types.ts';
import { GuestWorkload, RecycledPort, type WorkloadProblem } from './workload.ts';

export interface FuzzEnv {
  admin: AdminClient;
  wire: WireOptions;
  settings: ProfileSettings;
  /** Members the world acts on (the first is the one the state machines drive). */
  members: number[];
  /** The member port of a member, when the transport has one. */
  port?: (m: number) => MemberPort;
  sets: { context: boolean; fieldsQuery: boolean; writeRecords: boolean };
  inUse?: ReadonlySet<number>;
  /** Brings members back to the session baseline (harness/session Session.baseline). */
  baseline(members: readonly number[]): Promise<void>;
}

/** A MUST the device broke: ends the fast-check run so it can be shrunk. */
export class PropertyViolation extends Error {
  override name = 'PropertyViolation';
  constructor(readonly violations: Violation[]) {
    super(violations.map((v) => `[${v.rule}] ${formatViolation(v)}`).join('; '));
  }
}

/** One thing a run did: an admin command with its outcome, or a member action / note. */
interface Entry {
  note?: string;
  call?: AdminCall;
  response?: AdminCommandResponse;
  /** Text in the command sequence (member actions). */
  seq?: string;
  /** Text in the step list. */
  step?: string;
}

/** What the last failing run did, for the report. */
export interface FailureRecord {
  /** The commands and member actions of the run, as sent (`MODE_SET(1, Stop)`). */
  sequence: string[];
  steps: string[];
  violations: Violation[];
  /** The admin log's sequence numbers of the run (its wire trace). */
  seqFrom: number;
  seqTo: number;
}

export class FuzzWorld {
  readonly oracle: Oracle;
  readonly workloads = new Map<number, GuestWorkload>();
  readonly ports = new Map<number, RecycledPort>();
  /** The transport reports every device access (DMA log): write-record knowledge is exact. */
  readonly exact: boolean;
  /** What the current run did, kept raw and rendered only for a report (the hot path builds no strings). */
  private entries: Entry[] = [];
  /** SHOULD violations and findings, first occurrence of each rule, with the sequence that showed it. */
  readonly soft = new Map<string, { v: Violation; sequence: string[] }>();
  runs = 0;
  /** Page size and ranges of the last START of the run, per member (READs after STOP aim at them). */
  readonly lastRanges = new Map<number, { pageSize: bigint; ranges: { start: bigint; end: bigint }[] }>();
  private seqFrom = 0;
  /** The run in progress has failed (its record is kept until the next failure replaces it). */
  lastFailure: FailureRecord | undefined;
  /** Requirement ids the test reports; a violation of another rule is a finding, not a failure. */
  listed: ReadonlySet<string> | undefined;
  /** The admin log's next sequence number when the world was made (records before it belong to other tests). */
  readonly firstSeq: number;
  private readonly logLimit: number;

  constructor(
    readonly env: FuzzEnv,
    opts: { guestInit?: GuestDriverInit; workloadMembers?: number[] } = {},
  ) {
    const log = env.admin.log;
    this.firstSeq = log.length ? log[log.length - 1].seq + 1 : 0;
    // The admin log drops its oldest record per command once full (O(limit) each): keep it short while fuzzing.
    this.logLimit = env.admin.logLimit;
    env.admin.logLimit = Math.min(env.admin.logLimit, 2_000);
    const wl = opts.workloadMembers ?? [];
    const withPort = env.port !== undefined && wl.length > 0;
    this.exact = withPort && wl.every((m) => env.port!(m).capabilities.dmaObservation);
    this.oracle = new Oracle({ wire: env.wire, settings: env.settings, inUse: env.inUse, exactWrites: this.exact });
    if (withPort) {
      for (const m of env.members) this.ports.set(m, new RecycledPort(env.port!(m)));
      for (const m of wl) {
        const others = env.members.filter((x) => x !== m).map((x) => this.ports.get(x)!);
        const w = new GuestWorkload(this.ports.get(m)!, others);
        w.init = opts.guestInit ?? {};
        this.workloads.set(m, w);
      }
    }
  }

  /** Gives the admin client its log limit back (end of the test). */
  release(): void {
    this.env.admin.logLimit = this.logLimit;
  }

  mode(m: number): number | undefined {
    const c = this.oracle.member(m).ctx;
    return c.modeKnown ? c.mode : undefined;
  }

  /** Starts a run: the session baseline on every member, the models reset. */
  async begin(): Promise<void> {
    this.runs++;
    await this.env.baseline(this.env.members);
    for (const p of this.ports.values()) {
      p.takeDmaLog();
      p.takeEvents();
    }
    for (const w of this.workloads.values()) w.reset();
    this.held.clear();
    this.oracle.baseline(this.env.members);
    this.lastRanges.clear();
    this.entries = [];
    const log = this.env.admin.log;
    this.seqFrom = log.length ? log[log.length - 1].seq + 1 : 0;
  }

  /** Steps of the current run with their outcomes (`MODE_SET(1, Stop) -> OK`). */
  get steps(): string[] {
    const out: string[] = [];
    for (const e of this.entries) {
      if (e.call) out.push(`${e.note}${describeCall(e.call)} -> ${describeOutcome(e.response!)}${detail(e.call, e.response!, this.env.wire)}`);
      else if (e.step !== undefined) out.push(e.step);
    }
    return out;
  }

  /** The command sequence of the current run, as sent (`MODE_SET(1, Stop)`, `GUEST_IO(1, ...)`). */
  get sequence(): string[] {
    const out: string[] = [];
    for (const e of this.entries) {
      if (e.call) out.push(describeCall(e.call));
      else if (e.seq !== undefined) out.push(e.seq);
    }
    return out;
  }

  /** A line of the step list (not part of the command sequence). */
  note(step: string): void {
    this.entries.push({ step });
  }

  /** A member action: in the command sequence as `seq`, in the step list as `step`. */
  action(seq: string, step: string = seq): void {
    this.entries.push({ seq, step });
  }

  /** Records violations: MUSTs end the run, SHOULDs and findings are kept once per rule. */
  judge(violations: Violation[]): void {
    if (violations.length === 0) return;
    if (this.listed) {
      const listed = this.listed;
      violations = violations.map((v) => (v.severity !== 'finding' && !listed.has(v.rule) ? { ...v, severity: 'finding' as const, observed: `${v.observed} (a rule this test does not report on)` } : v));
    }
    const hard = violations.filter((v) => v.severity === 'fail');
    for (const v of violations) {
      if (v.severity === 'fail') continue;
      const key = `${v.severity}:${v.rule}`;
      if (!this.soft.has(key)) this.soft.set(key, { v, sequence: this.sequence });
    }
    if (!hard.length) return;
    for (const v of hard) this.note(`  ^ [${v.rule}] allowed ${v.allowed}; observed ${v.observed}`);
    const log = this.env.admin.log;
    this.lastFailure = { sequence: this.sequence, steps: this.steps, violations: hard, seqFrom: this.seqFrom, seqTo: log.length ? log[log.length - 1].seq : 0 };
    throw new PropertyViolation(hard);
  }

  /** Workload problems as violations. */
  problems(ps: WorkloadProblem[], command: string): void {
    this.judge(ps.map((p) => ({ rule: p.rule, severity: p.severity, command, allowed: 'the request completes once, in Active, with the right data', observed: p.message })));
  }

  event(e: MemberEvent, render = true): void {
    const v = this.oracle.event(e);
    if (render) this.note(describeEvent(e));
    this.judge(v);
  }

  /** Hands the oracle what the member's DMA log holds (exact transports). */
  drainDma(m: number, during?: AdminCall['op']): void {
    if (!this.exact) return;
    const p = this.ports.get(m);
    if (!p) return;
    const log = p.takeDmaLog();
    if (log.length) this.event({ event: 'DMA', member: m, accesses: log, exact: true, during }, false);
  }

  /** Sends one admin command, judges its outcome and advances the model. */
  async call(c: AdminCall, note = ''): Promise<AdminCommandResponse> {
    this.drainDma(c.member);
    const w = this.workloads.get(c.member);
    if (!this.exact && w && c.op === 'RECORDS_READ') {
      const pages = w.mayWritePages();
      if (pages.length) this.event({ event: 'MAY_WRITE', member: c.member, pages }, false);
    }
    const a = this.env.admin;
    let r: AdminCommandResponse;
    switch (c.op) {
      case 'MODE_GET':
        r = await a.modeGet(c.member);
        break;
      case 'MODE_SET':
        r = await a.modeSet(c.member, c.mode);
        break;
      case 'SIZE_GET':
        r = await a.sizeGet(c.member, c.freezeMode);
        break;
      case 'CTX_READ':
        r = await a.ctxRead(c.member, c.capacity);
        break;
      case 'CTX_WRITE':
        r = await a.ctxWrite(c.member, c.data);
        break;
      case 'FIELDS_QUERY':
        r = await a.fieldsQuery(c.member, c.capacity);
        break;
      case 'DISCARD':
        r = await a.discard(c.member);
        break;
      case 'CAP_QUERY':
        r = await a.capQuery(c.member);
        break;
      case 'RECORDS_START':
        r = await a.recordsStart(c.member, { pageSize: c.pageSize, entries: c.entries, count: c.count });
        break;
      case 'RECORDS_STOP':
        r = await a.recordsStop(c.member);
        break;
      case 'RECORDS_READ':
        r = await a.recordsRead(c.member, c.pageAddress, c.length, c.capacity);
        break;
    }
    this.drainDma(c.member, c.op);
    this.entries.push({ note, call: c, response: r });
    this.judge(this.oracle.observe(c, r));
    return r;
  }

  /**
   * Ends a run: the member back in Active (so outstanding requests can complete), every outstanding
   * request given its chance, write records drained (a short READ must hold every dirty page), and
   * recording stopped. Each step is judged like any command.
   */
  async finish(): Promise<void> {
    for (const m of this.env.members) {
      const w = this.workloads.get(m);
      const x = this.oracle.member(m);
      const busy = (w && w.alive && w.outstanding.size > 0) || x.rec.active;
      if (!busy) continue;
      if (this.env.sets.context && x.ctx.modeKnown && x.ctx.mode !== DeviceMode.ACTIVE) await this.toActive(m);
      // Every request gets its chance: a backend the run stalled goes on.
      if (this.held.get(m)) await this.hold(m, false);
      if (w && w.alive && w.outstanding.size > 0 && this.mode(m) === DeviceMode.ACTIVE) {
        // Queues with requests never notified get their kick now (a driver would); those notified are not kicked again.
        const unkicked = new Set([...w.outstanding.values()].filter((r) => !r.kicked).map((r) => r.queue));
        for (const q of unkicked) await w.kick(q, DeviceMode.ACTIVE);
        await this.drain(m, '(end of run) ');
        if (w.alive) this.problems(w.lost(), '(end of run) outstanding requests');
      }
      if (this.oracle.member(m).rec.active) {
        const rec = this.oracle.member(m).rec;
        for (const range of [...rec.ranges]) {
          for (let i = 0; i < 64; i++) {
            const cap = 4096;
            const r = await this.call({ op: 'RECORDS_READ', member: m, pageAddress: range.start, length: range.end - range.start, capacity: cap }, '(end of run) ');
            if (r.status !== Status.OK) break;
            let count = 0;
            try {
              count = decodeWriteRecordsReadResult(r.output, r.result, this.env.wire).length;
            } catch {
              break;
            }
            if (count < recordsCapacity(cap, this.env.wire)) break;
          }
        }
        await this.call({ op: 'RECORDS_STOP', member: m }, '(end of run) ');
      }
    }
  }

  /**
   * Brings a member back to Active the way a driver would at the end of a run: DISCARD what is partial
   * or pending, MODE_SET Active; if a rejected context is still pending (E21 allows the refusal at the
   * mode change and the catalog lets a complete context survive DISCARD), the member's own context of
   * this Freeze period is written over it first.
   */
  async toActive(m: number): Promise<void> {
    const ctx = () => this.oracle.member(m).ctx;
    const from = ctx().mode;
    if (ctx().read !== 'none' || ctx().writePartial || ctx().pending.size) await this.call({ op: 'DISCARD', member: m }, '(end of run) ');
    const applied = new Set(ctx().pending);
    let r = await this.call({ op: 'MODE_SET', member: m, mode: DeviceMode.ACTIVE }, '(end of run) ');
    const own = ctx().freezeContext;
    if (r.status !== Status.OK && ctx().modeKnown && ctx().mode === DeviceMode.FREEZE && own) {
      for (let at = 0; at < own.length; at += 4096) await this.call({ op: 'CTX_WRITE', member: m, data: own.subarray(at, at + 4096), label: `own context ${at}..${Math.min(own.length, at + 4096)}` }, '(end of run) ');
      applied.clear();
      for (const k of ctx().pending) applied.add(k);
      r = await this.call({ op: 'MODE_SET', member: m, mode: DeviceMode.ACTIVE }, '(end of run) ');
    }
    if (r.status === Status.OK) this.afterModeChange(m, DeviceMode.ACTIVE, from, applied);
  }

  /** Lets time pass (the quiet period the transport declares; the simulator returns once idle), reaps completions and judges them. */
  async settle(m: number, note = ''): Promise<void> {
    const w = this.workloads.get(m);
    if (!w || !w.alive) return;
    await w.port.settle(w.port.timing.quietMs);
    this.reap(m, this.mode(w.port.id) ?? DeviceMode.ACTIVE, `${note}SETTLE(${w.port.id})`);
  }

  /** Stalls the member's backend or lets it go on (the hold-requests stimulus); the guest takes no note: a held request is just slow. */
  async hold(m: number, on: boolean): Promise<void> {
    const p = this.ports.get(m);
    await p?.stimuli?.holdRequests?.(on);
    this.held.set(m, on);
    this.action(`HOLD_REQUESTS(${m}, ${on ? 'on' : 'off'})`);
  }

  /** Members whose backend a run stalled (released before the end-of-run drain). */
  private readonly held = new Map<number, boolean>();

  /** Reaps and judges completions until no request of the guest is outstanding or the declared completion time has passed. */
  async drain(m: number, note = ''): Promise<void> {
    const w = this.workloads.get(m);
    if (!w || !w.alive) return;
    await waitForDevice(
      w.port,
      () => {
        if (w.alive) this.reap(m, this.mode(w.port.id) ?? DeviceMode.ACTIVE, `${note}DRAIN(${w.port.id})`, true);
        return w.outstanding.size === 0 || !w.alive;
      },
      w.port.timing.completionMs,
    );
  }

  /**
   * Completions that reached the used ring before a MODE_SET that left Active completed belong to
   * Active (SD11b: the device finishes its transactions before completing MODE_SET).
   */
  reapBeforePause(m: number): void {
    const w = this.workloads.get(m);
    if (w && w.alive) this.reap(m, DeviceMode.ACTIVE, `REAP(${m}) before the mode change`, true);
  }

  /** Reaps the completions of the guest that started on member `m` (it may drive another member since a migration). */
  private reap(m: number, mode: number, what: string, quietWhenEmpty = false): void {
    const w = this.workloads.get(m)!;
    const on = w.port.id;
    const { problems, writes, count } = w.reap(mode);
    if (count || !quietWhenEmpty) this.note(`${what} -> ${count} completion(s)`);
    // Without a DMA log a completion says only that its writes happened since the request was made
    // available, possibly before a READ that already returned their records, or before START: allowed, not required.
    if (!this.exact && writes.length) this.event({ event: 'MAY_WRITE', member: on, pages: writes.map((x) => ({ addr: x.addr, len: x.len })) }, false);
    this.drainDma(on);
    this.problems(problems, what);
  }

  /** Bus address of the guest arena of member `m` (write-record ranges are laid out from it). */
  arenaBase(m: number): bigint {
    return this.ports.get(m)?.memory.regionBase() ?? 0x1_0000_0000n;
  }

  /**
   * Once per property, before the first run: the baseline and what every run relies on knowing of the
   * device kind (CAP_QUERY: the write-record page sizes and range count). Judged like any command.
   */
  async prepare(): Promise<void> {
    await this.begin();
    if (this.env.sets.writeRecords) for (const m of this.env.members) await this.call({ op: 'CAP_QUERY', member: m }, '(setup) ');
  }

  /**
   * Bookkeeping after a successful mode change of member `m` to `to` (called by the commands): the
   * workload learns that its requests were paused, or that a written context replaced the member's
   * state. `from` and `applied` are what the model held before the command.
   */
  afterModeChange(m: number, to: number, from?: number, applied?: ReadonlySet<string>): void {
    const w = this.workloads.get(m);
    if (!w || !w.alive) return;
    if (to !== DeviceMode.ACTIVE) w.notePaused();
    if (from === DeviceMode.FREEZE && applied && applied.size) {
      if ([...applied].every((k) => k === 'self' || k === 'none')) w.noteMigrated();
      else w.abandon();
    }
  }
}

/** The interesting part of an outcome, for the step list. */
function detail(c: AdminCall, r: AdminCommandResponse, wire: WireOptions): string {
  if (r.status !== Status.OK) return '';
  const u32 = (b: Uint8Array) => (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  switch (c.op) {
    case 'MODE_GET':
      return r.result.length ? ` mode ${r.result[0]}` : '';
    case 'SIZE_GET':
      return r.result.length >= 8 ? ` size ${new DataView(r.result.buffer, r.result.byteOffset, 8).getBigUint64(0, true)}` : '';
    case 'CTX_READ':
      return ` context_len ${u32(r.output)}`;
    case 'RECORDS_READ':
      return wire.writeRecordsCount === 'command_specific_output' ? ` count ${u32(r.output)}` : '';
    default:
      return '';
  }
}
