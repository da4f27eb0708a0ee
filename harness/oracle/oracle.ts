/**
 * The permissive oracle of the property-based tests: given everything that happened so far (admin
 * commands with their outcomes, member events), the set of outcomes the draft allows for the next
 * admin command, as constraints each tagged with the catalog requirement it comes from. Where the
 * draft allows several answers (estimates, P5 qualifiers, E21 error at WRITE or at MODE_SET, a device
 * that MAY update its context in Stop) every one of them is allowed; the model then follows the answer
 * the device chose.
 *
 * Readings common to all commands (seed-errata.md):
 * - Base GD2/GD3 with P4/P5: OK is status 0 with qualifier 0 (admin.ok-qualifier-zero); a required
 *   failure is any status other than OK, EINVAL with the preferred qualifier being a finding.
 * - GD10: an opcode outside the in-use list fails with EINVAL + Q_INVALID_OPCODE.
 * - E32: command_specific_output of commands other than DEV_CTX_READ and WRITE_RECORDS_READ reads
 *   zero (SHOULD by default; profile unusedOutputZero).
 * - GD4: a command that failed changed nothing; the model keeps its state, so a side effect shows up
 *   as a violation of whichever rule the changed state breaks later.
 * - SD11a/SD12a with E35: outside Active the member accesses no memory (judged only with the DMA log;
 *   accesses logged while a MODE_SET runs belong to the mode it leaves or enters, SD11b).
 *
 * Per-command readings are documented in context-model.ts and records-model.ts.
 */
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { DeviceMode, modeName } from '../../protocol/commands.ts';
import type { CommandName } from '../../protocol/opcodes.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import type { ProfileSettings } from '../../spec/profile-settings.ts';
import { ContextModel } from './context-model.ts';
import { RecordsModel } from './records-model.ts';
import { type AdminCall, type AdminOp, Check, type Constraint, describeCall, describeEvent, type HistoryEntry, type MemberEvent, type Violation } from './types.ts';

export const COMMAND_OF_OP: Record<AdminOp, CommandName> = {
  MODE_GET: 'DEV_MODE_GET',
  MODE_SET: 'DEV_MODE_SET',
  SIZE_GET: 'DEV_CTX_SIZE_GET',
  CTX_READ: 'DEV_CTX_READ',
  CTX_WRITE: 'DEV_CTX_WRITE',
  FIELDS_QUERY: 'DEV_CTX_FIELDS_QUERY',
  DISCARD: 'DEV_CTX_DISCARD',
  CAP_QUERY: 'DEV_WRITE_RECORD_CAP_QUERY',
  RECORDS_START: 'DEV_WRITE_RECORDS_START',
  RECORDS_STOP: 'DEV_WRITE_RECORDS_STOP',
  RECORDS_READ: 'DEV_WRITE_RECORDS_READ',
};

export interface OracleConfig {
  wire: WireOptions;
  settings: Pick<ProfileSettings, 'fieldLengthMismatchAt' | 'failureQualifierMismatch' | 'unusedOutputZero'>;
  /** The in-use opcode list (LIST_USE); commands outside it must fail with Q_INVALID_OPCODE. Default: all. */
  inUse?: ReadonlySet<number>;
  /** Device writes are reported from the transport's DMA log: every write is known. */
  exactWrites?: boolean;
}

/** Every requirement id the oracle can name in a violation (tests that run it list these). */
export const ORACLE_RULES = {
  /** Judged from admin commands alone. */
  owner: [
    'admin.ok-qualifier-zero',
    'admin.unused-output-zero',
    'admin.gd10-unlisted-opcode-invalid-opcode',
    'admin.gd4-einval-no-side-effects',
    'mode.get-returns-valid-mode',
    'mode.set-applies-mode',
    'mode.set-same-mode-succeeds',
    'mode.set-reserved-mode-fails',
    'mode.set-failure-keeps-mode',
    'mode.set-fails-while-read-partial',
    'mode.set-fails-while-write-partial',
    'mode.any-transition-allowed',
    'mode.freeze-context-unchanged',
    'ctx-size.current-mode-remaining-estimate',
    'ctx-size.freeze-mode-estimate',
    'ctx-size.freeze-mode-invalid-fails',
    'ctx-size.estimate-not-growing-in-freeze',
    'ctx-size.zero-after-stream-end',
    'ctx-read.supported-in-every-mode',
    'ctx-read.context-len-reports-returned-bytes',
    'ctx-read.short-read-only-at-stream-end',
    'ctx-read.zero-len-after-stream-end',
    'ctx-read.read-data-cleared',
    'ctx-read.mode-change-starts-new-stream',
    'ctx-discard.discards-partial-read',
    'ctx-discard.read-restarts-after-discard',
    'ctx-discard.size-restarts-after-discard',
    'ctx-discard.discards-partial-write',
    'ctx-discard.write-starts-new-context',
    'ctx-write.fails-unless-freeze',
    'ctx-write.complete-context-multiple-times',
    'ctx-write.multi-command-stream',
    'ctx-write.data-is-raw-stream',
    'ctx-write.field-length-mismatch-fails',
    'ctx-format.stream-layout',
    'ctx-format.defined-types-only',
    'ctx-format.pci-common-cfg-field',
    'ctx-format.dev-features-layout',
    'ctx-format.pci-vq-cfg-layout',
    'ctx-format.split-runtime-layout',
    'ctx-format.dev-own-desc-layout',
  ],
  fieldsQuery: ['ctx-fields.one-entry-per-supported-type', 'ctx-fields.entry-format', 'ctx-fields.lists-every-read-type', 'ctx-fields.length-matches-read'],
  writeRecordsOwner: [
    'wr.cap-page-size-bitmap-nonzero',
    'wr.cap-supported-ranges-nonzero',
    'wr.page-size-bit-encoding',
    'wr.start-accepts-up-to-supported-ranges',
    'wr.start-over-supported-ranges-fails',
    'wr.start-unadvertised-page-size-fails',
    'wr.start-unaligned-address-fails',
    'wr.read-count-in-output',
    'wr.read-fails-when-not-started',
    'wr.read-after-stop-fails',
    'wr.stop-succeeds-when-not-recording',
  ],
  /** Judged with a member port (device writes the suite caused, FLR, reset). */
  writeRecordsMember: [
    'wr.start-records-writes-in-range',
    'wr.record-is-page-address',
    'wr.read-returns-records-in-range',
    'wr.read-clears-returned-records',
    'wr.rewrite-reported-again',
    'wr.read-partial-when-buffer-small',
    'wr.flr-keeps-recording',
    'wr.flr-keeps-records',
  ],
  member: ['member.flr-keeps-mode', 'member.reset-keeps-mode'],
  /** Judged only with the DMA log. */
  dma: ['member.no-pci-transaction-outside-active'],
} as const;

const USES_OUTPUT = new Set<AdminOp>(['CTX_READ', 'RECORDS_READ']);

const NOT_IN_USE = new Check(
  'admin.gd10-unlisted-opcode-invalid-opcode',
  'EINVAL with Q_INVALID_OPCODE (the opcode is not in the in-use list)',
  (o) => (o.status === Status.EINVAL && o.qualifier === Qualifier.INVALID_OPCODE ? undefined : `status ${o.status}, qualifier ${o.qualifier}`),
  'fail',
  true,
);
const QUALIFIER_ZERO = new Check('admin.ok-qualifier-zero', 'status_qualifier 0 with status OK', (o) => (o.qualifier === 0 ? undefined : `qualifier ${o.qualifier}`));
const outputZero = (o: AdminCommandResponse) => (o.output.every((b) => b === 0) ? undefined : `output ${[...o.output].join(' ')}`);
const OUTPUT_ZERO_WARN = new Check('admin.unused-output-zero', 'command_specific_output 0 (E32)', outputZero, 'warn');
const OUTPUT_ZERO_FAIL = new Check('admin.unused-output-zero', 'command_specific_output 0 (E32)', outputZero, 'fail');

interface MemberModels {
  ctx: ContextModel;
  rec: RecordsModel;
}

export class Oracle {
  private readonly models = new Map<number, MemberModels>();
  /** Every admin command and member event judged so far (since the last baseline). */
  readonly history: HistoryEntry[] = [];
  /** Per member: the previous command, when it failed with EINVAL. */
  private readonly lastRefused = new Map<number, AdminCall>();

  constructor(readonly config: OracleConfig) {}

  /** The models of a member, created in the baseline state (Active, nothing read or written, not recording). */
  member(m: number): MemberModels {
    let x = this.models.get(m);
    if (!x) {
      const s = { wire: this.config.wire, settings: this.config.settings };
      x = { ctx: new ContextModel(s), rec: new RecordsModel(s, {}, this.config.exactWrites ?? false) };
      this.models.set(m, x);
    }
    return x;
  }

  /**
   * The session baseline was restored (DISCARD, write recording stopped, Active, member reset): the
   * per-run state starts over; what was learned about the device kind (field lengths, write-record
   * capabilities) is kept.
   */
  baseline(members?: readonly number[]): void {
    for (const m of members ?? [...this.models.keys()]) {
      const x = this.member(m);
      this.models.set(m, { ctx: x.ctx.fresh(), rec: x.rec.fresh() });
    }
    this.history.length = 0;
    this.lastRefused.clear();
  }

  /** The outcomes the draft allows for `call` now, as constraints (an empty list allows anything). */
  allowed(call: AdminCall): Constraint[] {
    const out: Constraint[] = [];
    const opcode = this.config.wire.opcodes[COMMAND_OF_OP[call.op]];
    if (this.config.inUse && !this.config.inUse.has(opcode)) return [NOT_IN_USE];
    out.push(QUALIFIER_ZERO);
    const zero = this.config.settings.unusedOutputZero;
    if (!USES_OUTPUT.has(call.op) && zero !== 'off') out.push(zero === 'fail' ? OUTPUT_ZERO_FAIL : OUTPUT_ZERO_WARN);
    const x = this.member(call.member);
    switch (call.op) {
      case 'CAP_QUERY':
      case 'RECORDS_START':
      case 'RECORDS_STOP':
      case 'RECORDS_READ':
        out.push(...x.rec.constraints(call));
        break;
      default:
        out.push(...x.ctx.constraints(call));
    }
    return out;
  }

  /** Judges `response` against what the draft allows, then advances the model with it. */
  observe(call: AdminCall, response: AdminCommandResponse): Violation[] {
    const constraints = this.allowed(call);
    const violations: Violation[] = [];
    const command = ''; // filled in below, only when something is wrong (rendering costs on the hot path)
    for (const c of constraints) {
      if (c.group) {
        for (const p of c.group(response)) violations.push({ rule: p.rule, severity: c.severity, command, allowed: c.allowed, observed: p.observed });
        continue;
      }
      const observed = c.test(response);
      if (observed !== undefined) violations.push({ rule: c.rule, severity: c.severity, command, allowed: c.allowed, observed });
    }
    if (violations.length) {
      const text = describeCall(call);
      for (const v of violations) v.command = text;
    }
    // GD4: a wrong state right after a command this member refused with EINVAL points at that refusal.
    const prev = this.lastRefused.get(call.member);
    if (prev && violations.some((v) => v.severity === 'fail' && v.rule !== 'admin.ok-qualifier-zero')) {
      violations.push({ rule: 'admin.gd4-einval-no-side-effects', severity: 'fail', command: describeCall(call), allowed: `the state before ${describeCall(prev)}, which failed with EINVAL (GD4)`, observed: violations.map((v) => `[${v.rule}] ${v.observed}`).join('; ') });
    }
    if (response.status === Status.EINVAL) this.lastRefused.set(call.member, call);
    else this.lastRefused.delete(call.member);
    const x = this.member(call.member);
    const opcode = this.config.wire.opcodes[COMMAND_OF_OP[call.op]];
    if (!this.config.inUse || this.config.inUse.has(opcode)) {
      switch (call.op) {
        case 'CAP_QUERY':
        case 'RECORDS_START':
        case 'RECORDS_STOP':
        case 'RECORDS_READ':
          x.rec.apply(call, response);
          break;
        default:
          x.ctx.apply(call, response);
      }
    }
    this.history.push({ call, response });
    return violations;
  }

  /** A member event: updates the model; returns violations the event itself shows (DMA outside Active). */
  event(e: MemberEvent): Violation[] {
    const x = this.member(e.member);
    const out: Violation[] = [];
    if (e.event === 'FLR' || e.event === 'RESET') this.lastRefused.delete(e.member);
    switch (e.event) {
      case 'FLR':
        x.ctx.memberReset('flr');
        x.rec.flr();
        break;
      case 'RESET':
        x.ctx.memberReset('reset');
        x.rec.memberReset();
        break;
      case 'DMA': {
        const mode = x.ctx.mode;
        const during = e.during === 'MODE_SET';
        if (e.exact && x.ctx.modeKnown && mode !== DeviceMode.ACTIVE && !during && e.accesses.length) {
          const a = e.accesses[0];
          out.push({
            rule: 'member.no-pci-transaction-outside-active',
            severity: 'fail',
            command: describeEvent(e),
            allowed: `no device access to memory in ${modeName(mode)}`,
            observed: `${e.accesses.length} access(es), first a ${a.len}-byte ${a.kind} at 0x${a.addr.toString(16)}`,
          });
        }
        for (const a of e.accesses) if (a.kind === 'write') x.rec.deviceWrite(a.addr, a.len);
        break;
      }
      case 'MAY_WRITE':
        for (const p of e.pages) x.rec.mayWrite(p.addr, p.len);
        break;
    }
    this.history.push(e);
    return out;
  }
}

/**
 * The oracle as a function: replays `history` from the baseline, then judges `outcome` of `call`.
 * Returns the violations, each naming the requirement it breaks and what the draft allowed.
 */
export function check(history: readonly HistoryEntry[], call: AdminCall, outcome: AdminCommandResponse, config: OracleConfig): Violation[] {
  const o = new Oracle(config);
  for (const h of history) {
    if ('call' in h) o.observe(h.call, h.response);
    else o.event(h);
  }
  return o.observe(call, outcome);
}
