import { decodeAdminCmdAsDevice, decodeAdminCmdResult, READABLE_HEADER_SIZE, WRITABLE_HEADER_SIZE } from '../../protocol/admin-frame.ts';
import type {
  AdminCommandRequest,
  AdminCommandResponse,
  AdminExecOptions,
  AdminFrame,
  AdminFrameCompletion,
  AdminTransport,
  DeviceIdentity,
  TransportCapabilities,
} from '../../protocol/admin-transport.ts';
import { alignUp } from '../../protocol/bytes.ts';
import {
  decodeCtxReadOutput,
  decodeCtxWriteData,
  decodeOpcodeBitmap,
  decodeWriteRecordsReadData,
  DeviceMode,
  isValidMode,
  modeName,
  recordsCapacity,
  START_ENTRY_SIZE,
  START_HEADER_SIZE,
  zeroFilled,
} from '../../protocol/commands.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { type CommandName, commandName, CONTEXT_GROUP, WRITE_RECORD_GROUP } from '../../protocol/opcodes.ts';
import { PciCapId, VirtioPciCap } from '../../protocol/pci.ts';
import { configReaderOf, walkCapabilities } from '../../protocol/pci-capabilities.ts';
import { CommonCfg, DeviceStatus, PciCapType } from '../../protocol/pci-common-cfg.ts';
import { GroupType, Status } from '../../protocol/status.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import type { SriovControl, SriovState } from '../../protocol/sriov-control.ts';
import { type MemberAccess, type MemberAccessSink, MonitoredMemberPort } from './member-port.ts';
import { ADMIN_RULES, END_OF_TEST_RULES, MEMBER_RULES, OWNER_RULES, Rule, RULE_COMMAND_SET, type RuleId } from './rules.ts';
import { RecordingTracker, type Span, WriteStreamTracker } from './streams.ts';

/** The harness broke a driver rule of the draft or the base (our fault: the test is a HARNESS_ERROR). */
export interface DriverRuleViolation {
  /** Catalog id of the driver rule (role owner-driver or member-driver). */
  rule: string;
  message: string;
}

/** How a test ended, as far as the end-of-test obligations care. */
export interface EndTestInfo {
  /** The test body ran to its end (no failure, skip or error cut it short). */
  bodyCompleted: boolean;
}


/** A command as the device receives it, whichever way the harness sent it. */
interface CommandView {
  opcode: number;
  groupType: number;
  memberId: bigint;
  /** command_specific_data as the device receives it (VR3 padding included). */
  data: Uint8Array;
  /** Bytes of command_specific_data the harness meant, before padding (raw frames: all of them). */
  meantLength: number;
  readableLength: number;
  writableLength: number;
}

function viewOfRequest(cmd: AdminCommandRequest): CommandView {
  const n = cmd.data.length;
  const padded = cmd.unpadded ? n : alignUp(n, 8);
  let data = cmd.data;
  if (padded !== n) {
    data = new Uint8Array(padded);
    data.set(cmd.data);
  }
  return {
    opcode: cmd.opcode,
    groupType: cmd.groupType,
    memberId: cmd.memberId,
    data,
    meantLength: n,
    readableLength: READABLE_HEADER_SIZE + padded,
    writableLength: WRITABLE_HEADER_SIZE + alignUp(cmd.resultCapacity, 8),
  };
}

function viewOfFrame(frame: AdminFrame): CommandView {
  const c = decodeAdminCmdAsDevice(frame.readable);
  return {
    opcode: c.opcode,
    groupType: c.groupType,
    memberId: c.memberId,
    data: c.data,
    meantLength: c.data.length,
    readableLength: frame.readable.length,
    writableLength: frame.writableLength,
  };
}


/** Where a member's PCI_CFG window and device configuration sit (from its capability list). */
interface MemberLayout {
  pciCfg?: { at: number; len: number };
  deviceCfg?: { bar: number; offset: number; length: number };
}

/**
 * Watches everything the harness sends, as owner driver and as member driver, for breaches of the
 * driver rules (catalog entries with testability suite-obligation). `transport` wraps the real
 * transport: every admin command (exec and execFrame), every access through a member port it hands
 * out and every SR-IOV change (SriovControl) is checked before it goes out, and the
 * completions update what the monitor knows (in-use list, member modes, context streams, write
 * recording). A test that breaks a rule on purpose to probe the device names it in `breaks`; any other
 * breach makes the test a HARNESS_ERROR, and a rule enforced here with no breach in the run rolls up
 * PASSED.
 */
export class DriverRuleMonitor {
  readonly transport: AdminTransport;
  private allowed = new Set<string>();
  private violations: DriverRuleViolation[] = [];
  /** beginTest count: which test started a stream or a recording. */
  private testSeq = 0;
  /** endTest was given how the body ended at least once: the end-of-test obligations are checked. */
  private endOfTestChecks = false;

  // ---- owner driver state ----------------------------------------------------------------------------
  private outstanding = 0;
  private listUseOk = false;
  private readonly queried = new Map<number, Set<number>>();
  private readonly inUse = new Map<number, Set<number>>();
  private readonly known: Set<number>;
  /** VF Enable and NumVFs as SriovControl last reported them (undefined: the transport has no SR-IOV control). */
  private sriovState: SriovState | undefined;
  private sriovInit: Promise<void> | undefined;

  // ---- per member --------------------------------------------------------------------------------------
  /** Mode from the last MODE_SET or MODE_GET that completed OK. */
  readonly modes = new Map<number, number>();
  private readonly writeStreams = new Map<number, WriteStreamTracker>();
  /** Members whose write stream holds bytes, with the test that sent the first of them. */
  private readonly writeSince = new Map<number, number>();
  /** Members whose context read is partial, with the test that began it. */
  private readonly readPartial = new Map<number, number>();
  /** Members whose context stream ended in the current mode (a READ came back short or empty). */
  private readonly readEnded = new Set<number>();
  private readonly recordings = new Map<number, RecordingTracker>();
  /**
   * False while the member's virtio device is reset (0 written to device_status, or FLR) and DRIVER_OK
   * has not been set since: such a device uses no virtqueue and writes no memory, so it has nothing
   * to record. Absent: it may be working.
   */
  private readonly mayWork = new Map<number, boolean>();
  /**
   * Members that accepted a complete context in the current Freeze, and whether its device_status has
   * DRIVER_OK (undefined: unknown): applied on leaving Freeze, it decides whether the member may work.
   */
  private readonly contextWritten = new Map<number, boolean | undefined>();
  /** Member port accesses in progress, per member. */
  private readonly portBusy = new Map<number, number>();
  private readonly ports = new Map<number, MonitoredMemberPort>();
  private readonly layouts = new Map<number, Promise<MemberLayout>>();

  constructor(
    readonly inner: AdminTransport,
    readonly wire: WireOptions,
  ) {
    this.known = new Set(Object.values(wire.opcodes));
    this.transport = this.wrapTransport(inner);
  }

  /**
   * Rule ids this monitor checks on this transport and device: the owner rules only where the
   * transport changes SR-IOV settings (SriovControl), the member rules only with a member port, the rules of an optional
   * command set only when LIST_QUERY reported that set, the end-of-test obligations only once the
   * harness tells endTest how test bodies ended.
   */
  get enforced(): readonly string[] {
    const caps = this.inner.capabilities;
    const reported = this.queried.get(GroupType.SRIOV) ?? new Set<number>();
    const offers = (names: readonly CommandName[]) => names.some((n) => reported.has(this.wire.opcodes[n]));
    const sets = { context: offers(CONTEXT_GROUP), 'write-record': offers(WRITE_RECORD_GROUP) };
    return [
      ...ADMIN_RULES,
      ...(caps.sriovControl && this.inner.sriov ? OWNER_RULES : []),
      ...(caps.memberPort ? MEMBER_RULES : []),
      ...(this.endOfTestChecks ? END_OF_TEST_RULES : []),
    ].filter((r) => {
      const set = RULE_COMMAND_SET[r];
      return set === undefined || sets[set];
    });
  }

  beginTest(allowed: readonly string[]): void {
    this.allowed = new Set(allowed);
    this.violations = [];
    this.testSeq++;
  }

  /**
   * Breaches since beginTest that the test did not declare. With `info.bodyCompleted`, also what the
   * test left behind: a partial context read or write, or write recording it started and did not stop.
   */
  endTest(info?: EndTestInfo): DriverRuleViolation[] {
    if (info) this.endOfTestChecks = true;
    if (info?.bodyCompleted) this.checkLeftovers();
    // Recording still running when its test ended is the next baseline's to stop: that STOP is cleanup.
    for (const r of this.recordings.values()) r.orphaned = true;
    const v = this.violations.filter((x) => !this.allowed.has(x.rule));
    this.violations = [];
    this.allowed = new Set();
    return v;
  }

  protected report(rule: RuleId | string, message: string): void {
    this.violations.push({ rule, message });
  }

  private checkLeftovers(): void {
    for (const [m, since] of this.readPartial) {
      if (since === this.testSeq) this.report(Rule.READ_COMPLETE, `member ${m}: the test ended with its device context read partial (neither read to the end of the stream nor discarded)`);
    }
    for (const [m, since] of this.writeSince) {
      if (since === this.testSeq && this.writeStream(m).partial) {
        this.report(Rule.WRITE_COMPLETE, `member ${m}: the test ended with its device context write partial (${this.writeStream(m).bytesReceived} bytes of an incomplete context, not discarded)`);
      }
    }
    for (const [m, r] of this.recordings) {
      if (!r.orphaned && r.startedIn === this.testSeq) this.report(Rule.STOP_RECORDING, `member ${m}: the test started write recording and ended without WRITE_RECORDS_STOP`);
    }
  }

  // ---- the wrapped transport ---------------------------------------------------------------------------

  private wrapTransport(inner: AdminTransport): AdminTransport {
    const owner = inner.owner ? () => inner.owner!() : undefined;
    const sriov = inner.sriov ? () => this.wrapSriov(inner.sriov!()) : undefined;
    return {
      name: inner.name,
      capabilities: inner.capabilities as TransportCapabilities,
      timing: inner.timing,
      exec: (cmd, opts) => this.exec(cmd, opts),
      execFrame: (frame, opts) => this.execFrame(frame, opts),
      identity: (): Promise<DeviceIdentity> => inner.identity(),
      memberIds: () => inner.memberIds(),
      member: (id) => this.member(id),
      ...(owner ? { owner } : {}),
      ...(sriov ? { sriov } : {}),
      recover: async () => {
        const ok = await inner.recover();
        // An owner reset: the in-use list is {LIST_QUERY, LIST_USE} again (GD8), so GR2 starts over.
        // What LIST_QUERY reported stays supported (GD11).
        if (ok) {
          this.listUseOk = false;
          this.inUse.clear();
        }
        return ok;
      },
      close: () => inner.close(),
    };
  }

  private async exec(cmd: AdminCommandRequest, opts?: AdminExecOptions): Promise<AdminCommandResponse> {
    if (!this.sriovInit) await this.readSriov();
    else await this.sriovInit;
    const v = viewOfRequest(cmd);
    this.beforeCommand(v);
    this.outstanding++;
    try {
      const r = await this.inner.exec(cmd, opts);
      this.afterCommand(v, r);
      return r;
    } finally {
      this.outstanding--;
    }
  }

  private async execFrame(frame: AdminFrame, opts?: AdminExecOptions): Promise<AdminFrameCompletion> {
    if (!this.sriovInit) await this.readSriov();
    else await this.sriovInit;
    const v = viewOfFrame(frame);
    this.beforeCommand(v);
    this.outstanding++;
    try {
      const done = await this.inner.execFrame(frame, opts);
      let r: AdminCommandResponse | undefined;
      try {
        r = decodeAdminCmdResult(done.writable, done.usedLength);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
      if (r) this.afterCommand(v, r);
      return done;
    } finally {
      this.outstanding--;
    }
  }

  member(id: number): MemberPort {
    let p = this.ports.get(id);
    if (!p) {
      const sink: MemberAccessSink = { beforeAccess: (inner, a) => this.beforeAccess(inner, a), afterAccess: (inner, a) => this.afterAccess(inner, a) };
      p = new MonitoredMemberPort(this.inner.member(id), sink);
      this.ports.set(id, p);
    }
    return p;
  }

  // ---- owner (SR-IOV control) -----------------------------------------------------------------------

  private readSriov(): Promise<void> {
    this.sriovInit ??= (async () => {
      const inner = this.inner;
      if (!inner.capabilities.sriovControl || !inner.sriov) return;
      this.sriovState = await inner.sriov().state();
    })();
    return this.sriovInit;
  }

  /**
   * SriovControl as the monitor sees it: a change of NumVFs / VF Enable while commands are outstanding
   * breaks GR10; a change of VF Enable makes the VFs new functions, so nothing known of them holds.
   * (VF Migration stays clear: the suite has no means to set it.)
   */
  private wrapSriov(c: SriovControl): SriovControl {
    return {
      state: () => c.state(),
      setNumVfs: async (n) => {
        await this.readSriov();
        if (this.outstanding > 0) this.report(Rule.VF_ENABLE, `NumVFs / VF Enable were changed (to ${n} VFs) while ${this.outstanding} group administration command(s) were outstanding`);
        const before = this.sriovState;
        try {
          await c.setNumVfs(n);
        } finally {
          this.sriovState = await c.state();
          if (before?.vfEnable !== this.sriovState.vfEnable || before?.numVfs !== this.sriovState.numVfs) this.forgetMembers();
        }
      },
    };
  }

  private forgetMembers(): void {
    this.modes.clear();
    this.writeStreams.clear();
    this.writeSince.clear();
    this.readPartial.clear();
    this.readEnded.clear();
    this.recordings.clear();
    this.mayWork.clear();
    this.contextWritten.clear();
  }

  // ---- admin commands ------------------------------------------------------------------------------

  private name(v: CommandView): string {
    return commandName(this.wire.opcodes, v.opcode) ?? `opcode 0x${v.opcode.toString(16)}`;
  }

  private describe(v: CommandView): string {
    return `${this.name(v)} (group_type ${v.groupType}, member ${v.memberId})`;
  }

  /** Bytes of command_specific_data the command's structure has (VR2). */
  private structureSize(v: CommandView): number {
    const t = this.wire.opcodes;
    switch (v.opcode) {
      case t.DEV_MODE_SET:
      case t.DEV_CTX_SIZE_GET:
        return 1;
      case t.DEV_WRITE_RECORDS_READ:
        return 16;
      case t.DEV_WRITE_RECORDS_START: {
        const count = v.data.length >= 12 ? new DataView(v.data.buffer, v.data.byteOffset + 8, 4).getUint32(0, true) : 0;
        return START_HEADER_SIZE + count * START_ENTRY_SIZE;
      }
      default:
        return 0;
    }
  }

  /**
   * The member a command addresses, when it addresses one that exists: SR-IOV group type, VF Enable
   * set, group_member_id in 1..NumVFs. Commands outside that are probes of the device's checks (GR10
   * breaches they declare); what a faulty device does with them is no state of a member.
   */
  private memberNumber(v: CommandView): number | undefined {
    if (v.groupType !== GroupType.SRIOV) return undefined;
    if (this.sriovState && !this.sriovState.vfEnable) return undefined;
    return v.memberId >= 1n && v.memberId <= BigInt(this.numVfs()) ? Number(v.memberId) : undefined;
  }

  private numVfs(): number {
    if (this.sriovState) return this.sriovState.numVfs;
    let max = 0;
    for (const id of this.inner.memberIds()) if (id > max) max = id;
    return max;
  }

  private writeStream(m: number): WriteStreamTracker {
    let w = this.writeStreams.get(m);
    if (!w) {
      w = new WriteStreamTracker(this.wire.ctxStreamAlignment);
      this.writeStreams.set(m, w);
    }
    return w;
  }

  private ctxWriteChunk(v: CommandView): { chunk: Uint8Array; meant: number } {
    const chunk = decodeCtxWriteData(v.data, this.wire);
    const header = v.data.length - chunk.length;
    return { chunk, meant: Math.max(0, v.meantLength - header) };
  }

  private beforeCommand(v: CommandView): void {
    const t = this.wire.opcodes;
    const what = this.describe(v);
    if (v.readableLength === 0 || v.writableLength === 0) {
      this.report(Rule.PARTS_NON_EMPTY, `${what}: device-readable part of ${v.readableLength} bytes, device-writable part of ${v.writableLength} bytes`);
    }
    if (v.readableLength % 8 !== 0 || v.writableLength % 8 !== 0) {
      this.report(Rule.PARTS_ALIGNED, `${what}: device-readable part of ${v.readableLength} bytes, device-writable part of ${v.writableLength} bytes (not both multiples of 8)`);
    }
    const need = READABLE_HEADER_SIZE + this.structureSize(v);
    if (v.readableLength < need) this.report(Rule.READABLE_COVERS, `${what}: device-readable part of ${v.readableLength} bytes, the command's structure needs ${need}`);

    const isList = v.opcode === t.LIST_QUERY || v.opcode === t.LIST_USE;
    if (!isList && !this.listUseOk) this.report(Rule.LIST_USE_FIRST, `${what} sent before any LIST_USE completed with OK`);
    const inUse = this.inUse.get(v.groupType) ?? new Set([t.LIST_QUERY, t.LIST_USE]);
    // A device whose LIST_QUERY leaves out LIST_QUERY or LIST_USE (they are always supported) made the
    // harness's LIST_USE, which asks only for what was reported (GR5), leave them out too: using them
    // is then the device's doing, not a choice to stop their use (GR7).
    const unreported = isList && this.queried.has(v.groupType) && !this.queried.get(v.groupType)!.has(v.opcode);
    if (!inUse.has(v.opcode) && !unreported) this.report(Rule.IN_USE_ONLY, `${what}: opcode 0x${v.opcode.toString(16)} is not in the list the last LIST_USE for group type ${v.groupType} set`);
    if (v.opcode === t.LIST_USE) this.checkListUse(v, what);

    if (v.groupType === GroupType.SRIOV) {
      if (!isList) {
        const n = this.numVfs();
        if (v.memberId < 1n || v.memberId > BigInt(n)) this.report(Rule.MEMBER_IN_RANGE, `${what}: group_member_id ${v.memberId} is outside 1..NumVFs (${n})`);
      }
      if (this.sriovState && !this.sriovState.vfEnable) this.report(Rule.VF_ENABLE, `${what} sent while the owner's VF Enable is clear`);
    }

    // The command's own fields, whatever it addresses.
    if (v.opcode === t.DEV_MODE_SET) {
      const mode = zeroFilled(v.data, 1)[0];
      if (!isValidMode(mode)) this.report(Rule.MODE_VALID, `${what}: mode ${mode} is not Active (0), Stop (1) or Freeze (2)`);
    } else if (v.opcode === t.DEV_CTX_SIZE_GET) {
      const fm = zeroFilled(v.data, 1)[0];
      if (fm > 1) this.report(Rule.FREEZE_MODE_VALID, `${what}: freeze_mode ${fm} is not 0 or 1`);
    } else if (v.opcode === t.DEV_WRITE_RECORDS_START) this.checkStart(v, what);

    // What the member's state allows.
    const m = this.memberNumber(v);
    if (m === undefined) return;
    switch (v.opcode) {
      case t.DEV_MODE_SET: {
        const mode = zeroFilled(v.data, 1)[0];
        if ((mode === DeviceMode.STOP || mode === DeviceMode.ACTIVE) && this.writeStream(m).partial) {
          this.report(Rule.NO_LEAVE_PARTIAL, `${what}: MODE_SET ${modeName(mode)} while the context write is partial (${this.writeStream(m).bytesReceived} bytes of an incomplete context)`);
        }
        const busy = this.portBusy.get(m) ?? 0;
        if (mode === DeviceMode.FREEZE && busy > 0) this.report(Rule.FREEZE_AFTER_QUIET, `${what}: MODE_SET Freeze while ${busy} access(es) to the member were in progress`);
        break;
      }
      case t.DEV_CTX_WRITE: {
        const { chunk, meant } = this.ctxWriteChunk(v);
        if (meant % 8 !== 0 && this.writeStream(m).completedBy(chunk, meant) === false) {
          this.report(Rule.WRITE_CHUNKS, `${what}: a ${meant}-byte chunk (not a multiple of 8) that does not end the context; only the final chunk may be padded`);
        }
        break;
      }
      case t.DEV_WRITE_RECORDS_READ: {
        const rec = this.recordings.get(m);
        if (!rec) break; // READ without recording probes the device (SD18); no range to judge it by
        const { pageAddress, length } = decodeWriteRecordsReadData(v.data);
        if (length === 0n || length % rec.pageSize !== 0n) this.report(Rule.RECORDS_READ_LENGTH, `${what}: length ${length} is not a non-zero multiple of the started page size ${rec.pageSize}`);
        if (!rec.inside({ start: pageAddress, end: pageAddress + length })) {
          this.report(Rule.RECORDS_READ_RANGE, `${what}: [0x${pageAddress.toString(16)}, +${length}) is not inside a range given to WRITE_RECORDS_START`);
        }
        break;
      }
      case t.DEV_WRITE_RECORDS_STOP: {
        const rec = this.recordings.get(m);
        if (!rec || rec.orphaned) break;
        const left = rec.undrained();
        if (left.length) {
          this.report(
            Rule.DRAIN_BEFORE_STOP,
            `${what}: write records of ${left.map((r) => `[0x${r.start.toString(16)}, 0x${r.end.toString(16)})`).join(', ')} were not read until a WRITE_RECORDS_READ returned fewer records than fit since the member could last write memory`,
          );
        }
        break;
      }
    }
  }

  private checkListUse(v: CommandView, what: string): void {
    if (this.outstanding > 0) this.report(Rule.LIST_USE_IDLE, `${what} sent while ${this.outstanding} other command(s) were outstanding`);
    const bits = decodeOpcodeBitmap(v.data);
    const unknown = [...bits].filter((o) => !this.known.has(o));
    if (unknown.length) this.report(Rule.LIST_USE_KNOWN, `${what} sets bits for opcodes the suite does not know: ${unknown.map((o) => `0x${o.toString(16)}`).join(', ')}`);
    const supported = this.queried.get(v.groupType) ?? new Set<number>();
    const unsupported = [...bits].filter((o) => !supported.has(o));
    if (unsupported.length) {
      this.report(
        Rule.LIST_USE_SUPPORTED,
        `${what} asks for opcodes ${this.queried.has(v.groupType) ? 'LIST_QUERY did not report' : 'before any LIST_QUERY for this group type completed'}: ${unsupported.map((o) => `0x${o.toString(16)}`).join(', ')}`,
      );
    }
  }

  private startSpans(v: CommandView): { pageSize: bigint; spans: (Span & { address: bigint; count: bigint })[] } {
    const src = zeroFilled(v.data, START_HEADER_SIZE);
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const pageSize = dv.getBigUint64(0, true);
    const count = dv.getUint32(8, true);
    const n = Math.min(count, 4096);
    const all = zeroFilled(v.data, START_HEADER_SIZE + n * START_ENTRY_SIZE);
    const ev = new DataView(all.buffer, all.byteOffset, all.byteLength);
    const spans: (Span & { address: bigint; count: bigint })[] = [];
    for (let i = 0; i < n; i++) {
      const address = ev.getBigUint64(START_HEADER_SIZE + i * START_ENTRY_SIZE, true);
      const pages = ev.getBigUint64(START_HEADER_SIZE + i * START_ENTRY_SIZE + 8, true);
      spans.push({ address, count: pages, start: address, end: address + pages * pageSize });
    }
    return { pageSize, spans };
  }

  private checkStart(v: CommandView, what: string): void {
    const { spans } = this.startSpans(v);
    for (let i = 0; i < spans.length; i++) {
      for (let j = i + 1; j < spans.length; j++) {
        const a = spans[i];
        const b = spans[j];
        if (a.address === b.address && a.count === b.count) this.report(Rule.START_UNIQUE, `${what}: entries ${i} and ${j} name the same range (0x${a.address.toString(16)}, ${a.count} pages)`);
        if (a.start < b.end && b.start < a.end) this.report(Rule.START_NO_OVERLAP, `${what}: the ranges of entries ${i} and ${j} overlap`);
      }
    }
  }

  private afterCommand(v: CommandView, r: AdminCommandResponse): void {
    if (r.status !== Status.OK) return;
    const t = this.wire.opcodes;
    if (v.opcode === t.LIST_QUERY) {
      // GD11: what LIST_QUERY reported once stays supported; the driver may go on asking for it (GR5).
      const all = this.queried.get(v.groupType) ?? new Set<number>();
      for (const o of decodeOpcodeBitmap(r.result)) all.add(o);
      this.queried.set(v.groupType, all);
      return;
    }
    if (v.opcode === t.LIST_USE) {
      this.listUseOk = true;
      this.inUse.set(v.groupType, decodeOpcodeBitmap(v.data));
      return;
    }
    const m = this.memberNumber(v);
    if (m === undefined) return;
    switch (v.opcode) {
      case t.DEV_MODE_GET: {
        const mode = r.result[0];
        if (r.result.length >= 1 && isValidMode(mode)) this.modes.set(m, mode);
        break;
      }
      case t.DEV_MODE_SET:
        this.modeChanged(m, zeroFilled(v.data, 1)[0]);
        break;
      case t.DEV_CTX_READ: {
        let len: number;
        try {
          len = decodeCtxReadOutput(r.output);
        } catch {
          break;
        }
        const cap = v.writableLength - WRITABLE_HEADER_SIZE;
        if (len > 0 && len >= cap) {
          // In Freeze a stream that ended stays ended (SD6, E16): data after the end is the device's
          // breach, not a read the harness left partial. In Active or Stop a new context may follow.
          const stale = this.readEnded.has(m) && this.modes.get(m) === DeviceMode.FREEZE;
          if (!stale && !this.readPartial.has(m)) this.readPartial.set(m, this.testSeq);
        } else if (len < cap) {
          this.readPartial.delete(m);
          this.readEnded.add(m);
        }
        break;
      }
      case t.DEV_CTX_WRITE: {
        // A WRITE accepted outside Freeze is the device's fault (SD10): it starts no stream of ours.
        if (this.modes.get(m) !== DeviceMode.FREEZE) break;
        const w = this.writeStream(m);
        if (!w.partial && !this.writeSince.has(m)) this.writeSince.set(m, this.testSeq);
        const done = w.accept(this.ctxWriteChunk(v).chunk);
        if (done) this.contextWritten.set(m, done.driverOk);
        if (!w.partial) this.writeSince.delete(m);
        break;
      }
      case t.DEV_CTX_DISCARD:
        this.readPartial.delete(m);
        this.readEnded.delete(m);
        this.writeStream(m).reset();
        this.writeSince.delete(m);
        break;
      case t.DEV_WRITE_RECORDS_START: {
        const { pageSize, spans } = this.startSpans(v);
        const rec = new RecordingTracker(pageSize, spans, this.testSeq);
        // A member that is reset cannot have written anything yet: nothing to drain until it may work.
        if (this.mayWork.get(m) === false) for (const s of spans) rec.drainedSpan(s);
        this.recordings.set(m, rec);
        break;
      }
      case t.DEV_WRITE_RECORDS_STOP:
        this.recordings.delete(m);
        break;
      case t.DEV_WRITE_RECORDS_READ: {
        const rec = this.recordings.get(m);
        if (!rec) break;
        const count = this.recordCount(r);
        if (count === undefined) break;
        const fit = recordsCapacity(v.writableLength - WRITABLE_HEADER_SIZE, this.wire);
        if (count < fit) {
          const { pageAddress, length } = decodeWriteRecordsReadData(v.data);
          rec.drainedSpan({ start: pageAddress, end: pageAddress + length });
        }
        break;
      }
    }
  }

  private recordCount(r: AdminCommandResponse): number | undefined {
    const src = this.wire.writeRecordsCount === 'command_specific_output' ? r.output : r.result;
    if (src.length < 4) return undefined;
    return (src[0] | (src[1] << 8) | (src[2] << 16) | (src[3] << 24)) >>> 0;
  }

  /** A MODE_SET that completed OK. */
  private modeChanged(m: number, mode: number): void {
    if (!isValidMode(mode)) return;
    const prev = this.modes.get(m);
    this.modes.set(m, mode);
    if (prev === mode) return;
    // A mode change starts new streams: what was partial is abandoned. Freeze is the one change the
    // device accepts with a partial read (SD5): the harness chose to drop the read. A Stop or Active
    // the device accepted with a partial read or write is the device's breach of SD5 (and SR3 was
    // already judged when the MODE_SET was sent).
    if (this.readPartial.has(m) && mode === DeviceMode.FREEZE) {
      this.report(Rule.READ_COMPLETE, `member ${m}: MODE_SET Freeze completed while the context read was partial (read neither to the end of the stream nor discarded)`);
    }
    this.readPartial.delete(m);
    this.readEnded.delete(m);
    this.writeStream(m).reset();
    this.writeSince.delete(m);
    // A context applied on leaving Freeze sets device_status: the member works again if it has DRIVER_OK.
    if (prev === DeviceMode.FREEZE && this.contextWritten.has(m)) {
      if (this.contextWritten.get(m) === false) this.mayWork.set(m, false);
      else this.mayWork.delete(m);
    }
    this.contextWritten.delete(m);
    // Leaving Active the member finishes its transactions (SD11b); entering Active it may write again.
    if ((prev === undefined || prev === DeviceMode.ACTIVE || mode === DeviceMode.ACTIVE) && this.mayWork.get(m) !== false) this.recordings.get(m)?.dirty();
  }

  // ---- member port accesses --------------------------------------------------------------------------

  private layout(inner: MemberPort): Promise<MemberLayout> {
    let l = this.layouts.get(inner.id);
    if (!l) {
      l = readLayout(inner);
      this.layouts.set(inner.id, l);
    }
    return l;
  }

  private async beforeAccess(inner: MemberPort, a: MemberAccess): Promise<void> {
    const id = inner.id;
    const mode = this.modes.get(id);
    const freeze = mode === DeviceMode.FREEZE;
    const stopped = mode === DeviceMode.STOP || freeze;
    const where = `member ${id} in ${mode === undefined ? 'an unknown mode' : modeName(mode)}`;
    switch (a.kind) {
      case 'common':
        if (freeze) this.report(Rule.NO_VIRTIO_FREEZE, `${where}: common configuration ${a.write ? 'write' : 'read'} at offset ${a.offset}`);
        break;
      case 'device':
        if (freeze) this.report(Rule.NO_VIRTIO_FREEZE, `${where}: device configuration ${a.write ? 'write' : 'read'} at offset ${a.offset}`);
        if (stopped) this.report(Rule.NO_CONFIG_STOP_FREEZE, `${where}: device configuration ${a.write ? 'write' : 'read'} at offset ${a.offset}`);
        break;
      case 'notify':
        if (freeze) this.report(Rule.NO_VIRTIO_FREEZE, `${where}: driver notification of queue ${a.queue}`);
        break;
      case 'isr':
        if (freeze) this.report(Rule.NO_VIRTIO_FREEZE, `${where}: ISR status read`);
        break;
      case 'pci':
        if (stopped) await this.checkPciCfg(inner, a, where, freeze);
        break;
      default:
        break;
    }
    if (a.kind !== 'settle') this.portBusy.set(id, (this.portBusy.get(id) ?? 0) + 1);
  }

  private async checkPciCfg(inner: MemberPort, a: Extract<MemberAccess, { kind: 'pci' }>, where: string, freeze: boolean): Promise<void> {
    const l = await this.layout(inner);
    if (!l.pciCfg) return;
    const cap = l.pciCfg.at;
    const overlaps = (from: number, to: number) => a.offset < to && a.offset + a.width > from;
    if (a.write && freeze && overlaps(cap, cap + l.pciCfg.len)) {
      this.report(Rule.NO_PCI_CFG_WRITE_FREEZE, `${where}: PCI configuration write at 0x${a.offset.toString(16)} (${a.width} bytes) into the VIRTIO_PCI_CAP_PCI_CFG capability at 0x${cap.toString(16)}`);
    }
    const data = cap + VirtioPciCap.EXTRA;
    if (!overlaps(data, data + 4)) return;
    // pci_cfg_data: the access goes through the window to the BAR the capability points at.
    if (freeze) this.report(Rule.NO_VIRTIO_FREEZE, `${where}: ${a.write ? 'write' : 'read'} through the VIRTIO_PCI_CAP_PCI_CFG window`);
    const d = l.deviceCfg;
    if (!d) return;
    const bar = await inner.pciConfigRead(cap + VirtioPciCap.BAR, 1);
    const offset = await inner.pciConfigRead(cap + VirtioPciCap.OFFSET, 4);
    const length = await inner.pciConfigRead(cap + VirtioPciCap.LENGTH, 4);
    if (bar === d.bar && offset < d.offset + d.length && offset + Math.max(length, 1) > d.offset) {
      this.report(Rule.NO_CONFIG_STOP_FREEZE, `${where}: ${a.write ? 'write' : 'read'} of the device configuration through the VIRTIO_PCI_CAP_PCI_CFG window (BAR ${bar} offset 0x${offset.toString(16)})`);
    }
  }

  private afterAccess(inner: MemberPort, a: MemberAccess): void {
    const id = inner.id;
    if (a.kind !== 'settle') this.portBusy.set(id, Math.max(0, (this.portBusy.get(id) ?? 1) - 1));
    if (a.kind === 'flr') this.mayWork.set(id, false);
    if (a.kind === 'common' && a.write && a.offset === CommonCfg.DEVICE_STATUS.offset && a.width === 1) {
      if (a.value === 0) this.mayWork.set(id, false);
      else if ((a.value ?? 0) & DeviceStatus.DRIVER_OK) this.mayWork.delete(id);
    }
    // What may make the member write memory: a write, a notification, time to work, FLR, a power transition.
    const mayWrite = a.kind === 'notify' || a.kind === 'settle' || a.kind === 'flr' || a.kind === 'pm' || ((a.kind === 'common' || a.kind === 'device' || a.kind === 'pci') && a.write);
    if (!mayWrite) return;
    const mode = this.modes.get(id);
    // Outside Active (SD11a) or reset the member writes no memory: nothing new to drain.
    if ((mode === undefined || mode === DeviceMode.ACTIVE) && this.mayWork.get(id) !== false) this.recordings.get(id)?.dirty();
  }
}

/** Where the member's first VIRTIO_PCI_CAP_PCI_CFG and DEVICE_CFG capabilities are (the driver uses the first of each type). */
async function readLayout(p: MemberPort): Promise<MemberLayout> {
  const out: MemberLayout = {};
  if (!p.capabilities.pciConfig) return out;
  const { caps } = await walkCapabilities(configReaderOf(p));
  const pciCfg = caps.find((c) => c.id === PciCapId.VENDOR && c.cfgType === PciCapType.PCI_CFG);
  if (pciCfg) out.pciCfg = { at: pciCfg.at, len: Math.max(await p.pciConfigRead(pciCfg.at + VirtioPciCap.CAP_LEN, 1), VirtioPciCap.EXTRA + 4) };
  const dev = caps.find((c) => c.id === PciCapId.VENDOR && c.cfgType === PciCapType.DEVICE_CFG);
  if (dev) {
    out.deviceCfg = {
      bar: await p.pciConfigRead(dev.at + VirtioPciCap.BAR, 1),
      offset: await p.pciConfigRead(dev.at + VirtioPciCap.OFFSET, 4),
      length: await p.pciConfigRead(dev.at + VirtioPciCap.LENGTH, 4),
    };
  }
  return out;
}
