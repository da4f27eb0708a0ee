/**
 * The oracle's model of one member's migration mode and device context streams, as the owner driver
 * can know them, and the outcomes the draft allows for DEV_MODE_GET/SET, DEV_CTX_SIZE_GET, READ,
 * WRITE, FIELDS_QUERY and DISCARD. Readings taken (../shared/reference/seed-errata.md):
 *
 * - E15 "partially read": a READ returned data in the current mode and the last READ did not end the
 *   stream; "partially written": the bytes written since the last mode change, DISCARD or complete
 *   context do not form a complete context (parsed with protocol DevCtxStreamParser). MODE_SET to
 *   Active/Stop must fail while either holds (SD5); with none pending every transition succeeds.
 *   SD2 (same mode succeeds) and SD5 contradict each other for a same-mode MODE_SET with a partial
 *   read: both answers are allowed. A same-mode MODE_SET is not a mode change (the stream goes on).
 *   MODE_SET to Freeze with a partial read is not covered by SD5: both answers are allowed.
 * - E16: after a stream end, READ returns context_len 0 and SIZE_GET 0 until the mode changes or a
 *   DISCARD; asserted only in Freeze (in Active/Stop the device may start a new context sooner).
 * - E17: after DISCARD both READ and SIZE_GET behave as if no READ happened in this mode; the oracle
 *   asserts READ restarts at the context's first byte (Freeze) and, in Freeze, that SIZE_GET is no
 *   longer 0 once a started stream was discarded (a context is never empty).
 * - E18: SIZE_GET sizes are estimates: any value, except 0 after the end in Freeze; freeze_mode 2..255
 *   fails. In Freeze the estimate should not grow while the stream is read (SHOULD, WARN).
 * - E19: end of stream = context_len 0 or less than the result buffer; context_len <= buffer.
 * - SD11g: in Freeze the context is fixed, so every stream of one Freeze period is the same bytes; the
 *   oracle learns them from the first complete stream and checks every later chunk against them.
 * - E20/E7: WRITE data is the raw stream; the admin client pads each command's data to 8 bytes (VR3),
 *   so the oracle judges the padded bytes (up to 7 zero bytes after a complete context are padding).
 * - E21: a field-length mismatch may be refused at the WRITE or at the MODE_SET that leaves Freeze
 *   (profile fieldLengthMismatchAt); a member must never leave Freeze with it. Field lengths are the
 *   ones the member itself used in contexts it returned (a device of the same kind, E34).
 * - SD9/SD13 and the DISCARD text: a complete context written in Freeze is pending until Freeze ends;
 *   DISCARD drops a partial write; whether it also drops a complete pending one differs between the
 *   catalog wording and the DISCARD paragraph, so after DISCARD both are allowed.
 * - E22: FLR and member reset keep the mode (SHOULD: a WARN via member.flr-keeps-mode /
 *   member.reset-keeps-mode); what they do to a read stream is unstated: partial/ended become unknown.
 * - P5: where the draft only says "fails", EINVAL with Q_INVALID_FIELD or Q_INVALID_COMMAND is
 *   preferred; another failure is a finding (a FAIL when the profile says failureQualifierMismatch: fail).
 */
import { equalBytes } from '../../protocol/bytes.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeCtxReadOutput, decodeFieldsQueryResult, decodeSizeGetResult, DeviceMode, isValidMode, modeName, SUPPORTED_FIELD_SIZE } from '../../protocol/commands.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import { decodeDevCtxEntry } from '../../protocol/dev-ctx-fields.ts';
import { decodeDevCtx, DevCtxStreamParser, DevCtxType, devCtxTypeName, TLV_HEADER_SIZE, type VirtioDevCtxFieldTlv } from '../../protocol/device-context.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import type { ProfileSettings } from '../../spec/profile-settings.ts';
import { type AdminCall, type Constraint, GroupCheck, mustFail, mustSucceed, onSuccess, type Severity } from './types.ts';

export type ReadState = 'none' | 'partial' | 'ended' | 'unknown';

/**
 * What leaving Freeze would apply: the member's own context of this Freeze period, a context read from
 * a member of the same kind (`foreign`, a migration), one with a mismatching field length, another
 * one, or nothing.
 */
export type PendingContext = 'self' | 'foreign' | 'bad' | 'other' | 'none';

type ContextCall = Extract<AdminCall, { op: 'MODE_GET' | 'MODE_SET' | 'SIZE_GET' | 'CTX_READ' | 'CTX_WRITE' | 'FIELDS_QUERY' | 'DISCARD' }>;

/** Why the oracle expects the mode it expects: names the rule a MODE_GET mismatch breaks. */
interface ModeReason {
  rule: string;
  severity: Severity;
  because: string;
}

const PREFERRED_REFUSAL = [Qualifier.INVALID_FIELD, Qualifier.INVALID_COMMAND];

/** Bytes at the start of a stream that tell "the stream restarted" from "the context changed": field_count and the first TLV header. */
const HEAD = 20;

/** Shared empty byte array (never written). */
const EMPTY = new Uint8Array(0);

export interface OracleSettings {
  wire: WireOptions;
  settings: Pick<ProfileSettings, 'fieldLengthMismatchAt' | 'failureQualifierMismatch' | 'unusedOutputZero'>;
}

/** A P5 preference: a refusal other than EINVAL with one of `preferred` qualifiers is a finding (or a FAIL). */
class PreferredRefusal implements Constraint {
  readonly severity: Severity;
  readonly allowed: string;
  constructor(
    readonly rule: string,
    s: OracleSettings['settings'],
    private readonly preferred: readonly number[],
  ) {
    this.severity = s.failureQualifierMismatch === 'fail' ? 'fail' : 'finding';
    this.allowed = `a refusal with EINVAL and ${preferred.map((q) => (q === Qualifier.INVALID_FIELD ? 'Q_INVALID_FIELD' : q === Qualifier.INVALID_COMMAND ? 'Q_INVALID_COMMAND' : `qualifier ${q}`)).join(' or ')} (P5)`;
  }
  test(o: AdminCommandResponse): string | undefined {
    return o.status === Status.OK || (o.status === Status.EINVAL && this.preferred.includes(o.qualifier)) ? undefined : `status ${o.status}, qualifier ${o.qualifier}`;
  }
}

/** A P5 preference as a constraint: a finding (or a FAIL under failureQualifierMismatch: fail). */
export function preferredRefusal(rule: string, s: OracleSettings['settings'], preferred: readonly number[] = PREFERRED_REFUSAL): Constraint {
  return new PreferredRefusal(rule, s, preferred);
}

function fieldsOf(o: AdminCommandResponse): { type: number; length: bigint }[] {
  try {
    return decodeFieldsQueryResult(o.result.subarray(0, o.result.length - (o.result.length % SUPPORTED_FIELD_SIZE)));
  } catch {
    return [];
  }
}

function sizeOf(o: AdminCommandResponse): bigint | undefined {
  return o.result.length >= 8 ? decodeSizeGetResult(o.result) : undefined;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Data as the device receives it: the admin client pads command_specific_data to a multiple of 8 (VR3). */
export function paddedData(data: Uint8Array): Uint8Array {
  if (data.length % 8 === 0) return data;
  const out = new Uint8Array(data.length + (8 - (data.length % 8)));
  out.set(data);
  return out;
}

const readMemo = new WeakMap<AdminCommandResponse, { capacity: number; v: { len: number; data: Uint8Array } | string }>();

/** The outcome of a READ as the owner reads it (E19), or the reason it cannot be read. */
function readOutcome(o: AdminCommandResponse, capacity: number): { len: number; data: Uint8Array } | string {
  const hit = readMemo.get(o);
  if (hit && hit.capacity === capacity) return hit.v;
  let v: { len: number; data: Uint8Array } | string;
  try {
    const len = decodeCtxReadOutput(o.output);
    v = { len, data: o.result.subarray(0, Math.min(len, capacity, o.result.length)) };
  } catch (e) {
    v = e instanceof DecodeError ? e.message : String(e);
  }
  readMemo.set(o, { capacity, v });
  return v;
}

/** Problems of a complete stream, by the rule each breaks (E11 packed or natural per profile). */
function streamProblems(bytes: Uint8Array, wire: WireOptions): { rule: string; message: string }[] {
  const out: { rule: string; message: string }[] = [];
  let fields: VirtioDevCtxFieldTlv[];
  try {
    fields = decodeDevCtx(bytes, wire.ctxStreamAlignment, { allowReservedTypes: true }).fields;
  } catch (e) {
    return [{ rule: 'ctx-format.stream-layout', message: e instanceof DecodeError ? e.message : String(e) }];
  }
  const ruleOfType: Record<number, string> = {
    [DevCtxType.PCI_COMMON_CFG]: 'ctx-format.pci-common-cfg-field',
    [DevCtxType.DEV_FEATURES]: 'ctx-format.dev-features-layout',
    [DevCtxType.PCI_VQ_CFG]: 'ctx-format.pci-vq-cfg-layout',
    [DevCtxType.VQ_SPLIT_RUNTIME_CFG]: 'ctx-format.split-runtime-layout',
    [DevCtxType.VQ_SPLIT_DEV_OWN_DESC]: 'ctx-format.dev-own-desc-layout',
  };
  for (const f of fields) {
    const e = decodeDevCtxEntry(f);
    if ('reserved' in e) out.push({ rule: 'ctx-format.defined-types-only', message: `field of ${devCtxTypeName(f.type)} at byte ${f.offset}` });
  }
  for (const f of fields) {
    const rule = ruleOfType[f.type];
    if (!rule) continue;
    try {
      decodeDevCtxEntry(f);
      if (f.type === DevCtxType.VQ_SPLIT_RUNTIME_CFG && f.value.length < 5) throw new DecodeError('virtio_dev_ctx_vq_split_runtime', f.offset ?? 0, `value is ${f.value.length} bytes`);
    } catch (e) {
      out.push({ rule, message: e instanceof DecodeError ? e.message : String(e) });
    }
  }
  return out;
}

/** `stream` is a prefix of `c`, or all of `c` followed by fewer than 8 zero bytes of padding. */
function prefixOf(stream: Uint8Array, c: Uint8Array): boolean {
  const n = Math.min(stream.length, c.length);
  for (let i = 0; i < n; i++) if (stream[i] !== c[i]) return false;
  if (stream.length <= c.length) return true;
  if (stream.length - c.length >= 8) return false;
  for (let i = c.length; i < stream.length; i++) if (stream[i] !== 0) return false;
  return true;
}

/** TLV headers present in a (possibly partial) written stream: type and length of each. */
function tlvHeaders(bytes: Uint8Array, wire: WireOptions): { type: number; length: bigint; start: number; end: number }[] {
  const out: { type: number; length: bigint; start: number; end: number }[] = [];
  let at = wire.ctxStreamAlignment === 'packed' ? 4 : 8;
  if (bytes.length < 4) return out;
  const count = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count && at + TLV_HEADER_SIZE <= bytes.length; i++) {
    const type = dv.getUint16(at, true);
    const length = dv.getBigUint64(at + 8, true);
    const span = TLV_HEADER_SIZE + Number(length > 0x7fffffffn ? 0x7fffffffn : length);
    const end = at + (wire.ctxStreamAlignment === 'packed' ? span : Math.ceil(span / 8) * 8);
    out.push({ type, length, start: at, end });
    at = end;
  }
  return out;
}

export class ContextModel {
  mode: number = DeviceMode.ACTIVE;
  /** False after an outcome the draft cannot explain (a reserved mode accepted, a MODE_GET mismatch not yet resolved). */
  modeKnown = true;
  modeReason: ModeReason = { rule: 'mode.set-applies-mode', severity: 'fail', because: 'the baseline put the member in Active' };

  // Read stream of the current mode.
  read: ReadState = 'none';
  /** Bytes of the current stream read so far (when the stream's start is known). */
  private chunks: Uint8Array[] = [];
  private pos = 0;
  private posKnown = true;
  /** The current (or next) stream follows a DISCARD in this mode. */
  private readAfterDiscard = false;
  /** A DISCARD in this mode dropped a started stream (SIZE_GET must then report a context again). */
  private discardedStarted = false;
  /** Last SIZE_GET(0) value in the current stream, in Freeze (SHOULD not grow). */
  private lastSize: bigint | undefined;

  /** The last complete stream read in this run, in any mode. */
  lastStream: Uint8Array | undefined;
  /** The context of the current Freeze period once a whole stream was read, and the longest prefix known. */
  freezeContext: Uint8Array | undefined;
  private freezePrefix: Uint8Array = EMPTY;

  // Write stream (Freeze only).
  /** Bytes accepted since the last mode change, DISCARD or complete context. */
  private accepted: Uint8Array = EMPTY;
  private contextsWritten = 0;
  private writeAfterDiscard = false;
  private writeUnknown = false;
  /** What leaving Freeze applies; empty = nothing written. */
  pending = new Set<PendingContext>();
  /** Number of times a context other than the member's own was applied (its state was replaced). */
  replaced = 0;

  /** Contexts read from members of the same kind in this run: writing one must work (E34, a migration). */
  private readonly acceptable: Uint8Array[] = [];
  /** A stream was read to its end in the mode before the current one (the pre-copy flow). */
  private readInPreviousMode = false;
  /** Lengths of field types seen in contexts this member returned (device-kind knowledge, kept across runs). */
  readonly fieldLengths: Map<number, Set<number>>;
  /** Field types seen in contexts this member returned. */
  readonly typesSeen: Set<number>;

  constructor(
    private readonly s: OracleSettings,
    knowledge?: { fieldLengths: Map<number, Set<number>>; typesSeen: Set<number> },
  ) {
    this.fieldLengths = knowledge?.fieldLengths ?? new Map();
    this.typesSeen = knowledge?.typesSeen ?? new Set();
  }

  /**
   * The member as the session baseline leaves it: Active, nothing read or written. What was learned
   * from its contexts starts over too, so a run is judged on what it saw itself and replays alone.
   */
  fresh(): ContextModel {
    return new ContextModel(this.s);
  }

  get writePartial(): boolean {
    return this.accepted.length > 0;
  }

  /** Bytes of the current Freeze context not read yet in the current stream (when known). */
  get freezeRemaining(): number | undefined {
    if (this.mode !== DeviceMode.FREEZE || !this.freezeContext || !this.posKnown || this.read === 'ended' || this.read === 'unknown') return undefined;
    return this.freezeContext.length - this.pos;
  }

  /** Position in the stream being written (bytes accepted since its start). */
  get writeOffset(): number {
    return this.accepted.length;
  }

  private resetRead(): void {
    this.read = 'none';
    this.chunks = [];
    this.pos = 0;
    this.posKnown = true;
    this.lastSize = undefined;
  }

  private enterMode(mode: number): void {
    const from = this.mode;
    if (from === DeviceMode.FREEZE && (this.pending.has('bad') || this.pending.has('other') || this.pending.has('foreign'))) this.replaced++;
    this.readInPreviousMode = this.read === 'ended' || this.read === 'partial';
    this.mode = mode;
    this.resetRead();
    this.readAfterDiscard = false;
    this.discardedStarted = false;
    this.freezeContext = undefined;
    this.freezePrefix = EMPTY;
    this.accepted = EMPTY;
    this.contextsWritten = 0;
    this.writeAfterDiscard = false;
    this.writeUnknown = false;
    this.pending = new Set();
  }

  private fixedLength(type: number): number | undefined {
    if (type === DevCtxType.VQ_SPLIT_DEV_OWN_DESC) return undefined;
    const l = this.fieldLengths.get(type);
    return l && l.size === 1 ? [...l][0] : undefined;
  }

  private learn(stream: Uint8Array): void {
    try {
      for (const f of decodeDevCtx(stream, this.s.wire.ctxStreamAlignment, { allowReservedTypes: true }).fields) {
        this.typesSeen.add(f.type);
        const set = this.fieldLengths.get(f.type) ?? new Set<number>();
        set.add(f.value.length);
        this.fieldLengths.set(f.type, set);
      }
    } catch {
      // A malformed stream teaches nothing (its format violation is reported by the READ's constraints).
    }
  }

  /**
   * A context read from another member of the same kind, which this member must take when written in
   * Freeze (the destination of a migration). Its field lengths count as this member's own.
   */
  accept(context: Uint8Array): void {
    this.acceptable.push(context);
    this.learn(context);
  }

  /** The context the written stream is a prefix of (plus padding at its end): this Freeze period's own, or an acceptable one. */
  private prefixTarget(stream: Uint8Array): Uint8Array | undefined {
    if (this.freezeContext && prefixOf(stream, this.freezeContext)) return this.freezeContext;
    return this.acceptable.find((c) => prefixOf(stream, c));
  }

  /** Which acceptable context `stream` is complete for, if any. */
  private completes(stream: Uint8Array): 'self' | 'foreign' | undefined {
    const full = (c: Uint8Array | undefined) => c !== undefined && stream.length >= c.length && prefixOf(stream, c);
    if (full(this.freezeContext)) return 'self';
    return this.acceptable.some(full) ? 'foreign' : undefined;
  }

  /** TLV headers in `stream` whose length differs from the member's own for that type (E21). */
  private mismatches(stream: Uint8Array): { type: number; length: bigint; start: number; end: number }[] {
    return tlvHeaders(stream, this.s.wire).filter((h) => {
      const want = this.fixedLength(h.type);
      return want !== undefined && h.length !== BigInt(want);
    });
  }

  /** Kind of a complete written context (the padded bytes the device got). */
  private classify(stream: Uint8Array): PendingContext {
    return this.completes(stream) ?? (this.mismatches(stream).length ? 'bad' : 'other');
  }

  // ---- constraints ---------------------------------------------------------------------------------

  constraints(call: ContextCall): Constraint[] {
    switch (call.op) {
      case 'MODE_GET':
        return this.modeGetConstraints();
      case 'MODE_SET':
        return this.modeSetConstraints(call.mode);
      case 'SIZE_GET':
        return this.sizeGetConstraints(call.freezeMode);
      case 'CTX_READ':
        return this.readConstraints(call.capacity);
      case 'CTX_WRITE':
        return this.writeConstraints(call.data);
      case 'FIELDS_QUERY':
        return this.fieldsQueryConstraints();
      case 'DISCARD':
        return this.discardConstraints();
    }
  }

  private modeGetConstraints(): Constraint[] {
    const out: Constraint[] = [
      mustSucceed('mode.get-returns-valid-mode'),
      onSuccess('mode.get-returns-valid-mode', 'one byte holding 0, 1 or 2', (o) => {
        if (o.result.length < 1) return 'no result byte';
        return isValidMode(o.result[0]) ? undefined : `mode ${o.result[0]}`;
      }),
    ];
    if (this.modeKnown) {
      const want = this.mode;
      const why = this.modeReason;
      out.push(
        onSuccess(why.rule, `mode ${modeName(want)} (${why.because})`, (o) => (o.result.length < 1 || o.result[0] === want ? undefined : `mode ${modeName(o.result[0])}`), why.severity),
      );
    }
    return out;
  }

  private modeSetConstraints(mode: number): Constraint[] {
    if (!isValidMode(mode)) return [mustFail('mode.set-reserved-mode-fails'), preferredRefusal('mode.set-reserved-mode-fails', this.s.settings, [Qualifier.INVALID_FIELD])];
    if (!this.modeKnown) return [];
    if (mode === this.mode) {
      // SD2 against SD5: a same-mode MODE_SET while a read is partial may go either way.
      if (mode !== DeviceMode.FREEZE && (this.read === 'partial' || this.read === 'unknown')) return [];
      return [mustSucceed('mode.set-same-mode-succeeds')];
    }
    const out: Constraint[] = [];
    const toRunning = mode === DeviceMode.ACTIVE || mode === DeviceMode.STOP;
    if (toRunning && this.read === 'partial') out.push(mustFail('mode.set-fails-while-read-partial'), preferredRefusal('mode.set-fails-while-read-partial', this.s.settings));
    if (toRunning && this.writePartial && !this.writeUnknown) out.push(mustFail('mode.set-fails-while-write-partial'), preferredRefusal('mode.set-fails-while-write-partial', this.s.settings));
    const leavingFreeze = this.mode === DeviceMode.FREEZE;
    if (leavingFreeze && this.pending.size === 1 && this.pending.has('bad') && !this.writePartial) {
      out.push(mustFail('ctx-write.field-length-mismatch-fails'));
    }
    if (out.length) return out;
    const uncertain =
      (this.read === 'unknown' && toRunning) ||
      (mode === DeviceMode.FREEZE && this.read === 'partial') ||
      (leavingFreeze && (this.writeUnknown || this.pending.has('bad') || this.pending.has('other')));
    return uncertain ? [] : [mustSucceed('mode.any-transition-allowed')];
  }

  private sizeGetConstraints(freezeMode: number): Constraint[] {
    if (freezeMode > 1) return [mustFail('ctx-size.freeze-mode-invalid-fails'), preferredRefusal('ctx-size.freeze-mode-invalid-fails', this.s.settings, [Qualifier.INVALID_FIELD])];
    const rule = freezeMode === 0 ? 'ctx-size.current-mode-remaining-estimate' : 'ctx-size.freeze-mode-estimate';
    const out: Constraint[] = [mustSucceed(rule), onSuccess(rule, 'a le64 size in command_specific_result', (o) => (o.result.length >= 8 ? undefined : `${o.result.length}-byte result`))];
    if (freezeMode !== 0 || !this.modeKnown || this.mode !== DeviceMode.FREEZE) return out;
    if (this.read === 'ended') {
      out.push(onSuccess('ctx-size.zero-after-stream-end', 'size 0 (the stream of this Freeze period has ended, E16)', (o) => {
        const v = sizeOf(o);
        return v === undefined || v === 0n ? undefined : `size ${v}`;
      }));
    } else if (this.read === 'none' && this.discardedStarted) {
      out.push(onSuccess('ctx-discard.size-restarts-after-discard', 'a non-zero size (after DISCARD the context is there to read again, E17)', (o) => (sizeOf(o) === 0n ? 'size 0' : undefined)));
    }
    const last = this.lastSize;
    if (last !== undefined && (this.read === 'partial' || this.read === 'none')) {
      out.push(onSuccess('ctx-size.estimate-not-growing-in-freeze', `size <= ${last} (the previous estimate of this stream)`, (o) => {
        const v = sizeOf(o);
        return v === undefined || v <= last ? undefined : `size ${v}`;
      }, 'warn'));
    }
    return out;
  }

  private readConstraints(capacity: number): Constraint[] {
    const out: Constraint[] = [
      mustSucceed('ctx-read.supported-in-every-mode'),
      onSuccess('ctx-read.context-len-reports-returned-bytes', `context_len <= ${capacity} with that many bytes in the result`, (o) => {
        const r = readOutcome(o, capacity);
        if (typeof r === 'string') return r;
        if (r.len > capacity) return `context_len ${r.len}`;
        if (o.result.length < r.len) return `context_len ${r.len} but ${o.result.length} result bytes (used length ${o.usedLength})`;
        return undefined;
      }),
    ];
    if (!this.modeKnown) return out;
    const freeze = this.mode === DeviceMode.FREEZE;
    if (freeze && this.read === 'ended') {
      out.push(onSuccess('ctx-read.zero-len-after-stream-end', 'context_len 0 (the whole context was read in this Freeze period, E16)', (o) => {
        const r = readOutcome(o, capacity);
        return typeof r === 'string' || r.len === 0 ? undefined : `context_len ${r.len}`;
      }));
      return out;
    }
    if (this.read === 'none' && !this.readAfterDiscard && this.readInPreviousMode) {
      out.push(onSuccess('ctx-read.mode-change-starts-new-stream', 'context data (the mode changed since the last stream, E16)', (o) => {
        const r = readOutcome(o, capacity);
        return typeof r !== 'string' && r.len === 0 ? 'context_len 0' : undefined;
      }));
    }
    const fresh = this.read === 'none' || (this.read === 'ended' && !freeze);
    if (!fresh && (this.read !== 'partial' || !this.posKnown)) return out;
    const afterEnd = this.read === 'ended';
    const pos = fresh ? 0 : this.pos;
    const before = fresh ? [] : this.chunks;
    // Freeze: the bytes of this period's context are fixed (SD11g); check the chunk against what is known.
    if (freeze) {
      const known = this.freezeContext ?? this.freezePrefix;
      const complete = this.freezeContext !== undefined;
      const afterDiscard = this.readAfterDiscard;
      if (known.length > pos || complete) {
        out.push(onSuccess('mode.freeze-context-unchanged', complete ? `bytes ${pos}..${Math.min(known.length, pos + capacity)} of the context this Freeze period already returned` : `bytes matching the ${known.length} already returned`, (o) => {
          const r = readOutcome(o, capacity);
          if (typeof r === 'string') return undefined;
          const want = known.subarray(pos, pos + r.data.length);
          if (complete && r.data.length > want.length) return `${r.data.length - want.length} bytes past the end of the ${known.length}-byte context`;
          const common = Math.min(want.length, r.data.length);
          const d = firstDiff(r.data.subarray(0, common), want.subarray(0, common));
          if (d >= common) return undefined;
          // Returned from the start again instead of going on (or not from the start after DISCARD): other rules.
          if (pos > 0 && equalBytes(r.data.subarray(0, Math.min(r.data.length, known.length)), known.subarray(0, Math.min(r.data.length, known.length)))) return undefined;
          // After DISCARD, a stream that does not start like the context did not restart (its own rule).
          if (pos === 0 && afterDiscard && d < HEAD) return undefined;
          return `byte ${pos + d} differs`;
        }));
        if (pos > 0) {
          out.push(onSuccess('ctx-read.read-data-cleared', `the bytes after ${pos} (each part of a stream is returned once)`, (o) => {
            const r = readOutcome(o, capacity);
            if (typeof r === 'string' || r.data.length === 0) return undefined;
            const want = known.subarray(pos, pos + r.data.length);
            const head = known.subarray(0, r.data.length);
            return !equalBytes(r.data.subarray(0, want.length), want) && equalBytes(r.data.subarray(0, head.length), head) ? 'the stream from its first byte again' : undefined;
          }));
        }
        if (pos === 0 && afterDiscard) {
          out.push(onSuccess('ctx-discard.read-restarts-after-discard', 'the context from its first byte (as if no READ happened in this mode, E17)', (o) => {
            const r = readOutcome(o, capacity);
            if (typeof r === 'string') return undefined;
            const want = known.subarray(0, r.data.length);
            const common = Math.min(want.length, r.data.length);
            if (r.len === 0 && known.length > 0) return 'context_len 0';
            const d = firstDiff(r.data.subarray(0, common), want.subarray(0, common));
            return d >= Math.min(common, HEAD) ? undefined : `byte ${d} differs from the context's first bytes`;
          }));
        }
        if (complete) {
          const remaining = known.length - pos;
          const want = Math.min(capacity, remaining);
          out.push(onSuccess('ctx-read.short-read-only-at-stream-end', `context_len ${want} (${remaining} bytes of the context are left)`, (o) => {
            const r = readOutcome(o, capacity);
            if (typeof r === 'string') return undefined;
            return r.len >= want ? undefined : `context_len ${r.len}`;
          }));
        }
      }
    }
    // A READ that ends the stream completes it: the stream must be a well-formed context.
    const wire = this.s.wire;
    out.push(
      new GroupCheck('ctx-format.stream-layout', 'a complete stream that is a well-formed struct virtio_dev_ctx', (o) => {
        const r = readOutcome(o, capacity);
        if (typeof r === 'string' || r.len >= capacity) return [];
        const whole = concat([...before, r.data]);
        // In Active/Stop an ended stream may or may not be followed by a new one (E16): no bytes, no new context.
        if (afterEnd && whole.length === 0) return [];
        return streamProblems(whole, wire).map((p) => ({ rule: p.rule, observed: p.message }));
      }),
    );
    return out;
  }

  private writeConstraints(data: Uint8Array): Constraint[] {
    if (!this.modeKnown) return [];
    if (this.mode !== DeviceMode.FREEZE) return [mustFail('ctx-write.fails-unless-freeze'), preferredRefusal('ctx-write.fails-unless-freeze', this.s.settings)];
    if (this.writeUnknown) return [];
    const chunk = paddedData(data);
    const stream = concat([this.accepted, chunk]);
    const target = this.prefixTarget(stream);
    if (target) {
      const rule =
        this.contextsWritten > 0
          ? 'ctx-write.complete-context-multiple-times'
          : this.writeAfterDiscard
            ? 'ctx-discard.write-starts-new-context'
            : this.accepted.length > 0 || stream.length < target.length
              ? 'ctx-write.multi-command-stream'
              : 'ctx-write.data-is-raw-stream';
      return [mustSucceed(rule)];
    }
    if (this.s.settings.fieldLengthMismatchAt === 'write') {
      const at = this.accepted.length;
      if (this.mismatches(stream).some((h) => h.start >= at && h.end <= stream.length)) return [mustFail('ctx-write.field-length-mismatch-fails')];
    }
    return [];
  }

  private fieldsQueryConstraints(): Constraint[] {
    const seen = [...this.typesSeen];
    const lengths = new Map<number, number>();
    for (const t of [DevCtxType.PCI_VQ_CFG, DevCtxType.VQ_SPLIT_RUNTIME_CFG]) {
      const l = this.fieldLengths.get(t);
      if (l && l.size === 1) lengths.set(t, [...l][0]);
    }
    return [
      mustSucceed('ctx-fields.one-entry-per-supported-type'),
      onSuccess('ctx-fields.entry-format', '16-byte entries with zero reserved bytes', (o) => {
        if (o.result.length % SUPPORTED_FIELD_SIZE) return `${o.result.length}-byte result`;
        for (let at = 0; at < o.result.length; at += SUPPORTED_FIELD_SIZE) {
          for (let i = 2; i < 8; i++) if (o.result[at + i] !== 0) return `entry ${at / SUPPORTED_FIELD_SIZE} has reserved byte ${i} = ${o.result[at + i]}`;
        }
        return undefined;
      }),
      onSuccess('ctx-fields.lists-every-read-type', `an entry for each type READ returned (${seen.map(devCtxTypeName).join(', ') || 'none yet'})`, (o) => {
        const listed = new Set(fieldsOf(o).map((f) => f.type));
        const missing = seen.filter((t) => !listed.has(t));
        return missing.length ? `no entry for ${missing.map(devCtxTypeName).join(', ')}` : undefined;
      }),
      onSuccess('ctx-fields.length-matches-read', `lengths ${[...lengths].map(([t, l]) => `${devCtxTypeName(t)} ${l}`).join(', ') || '(none known yet)'}`, (o) => {
        for (const f of fieldsOf(o)) {
          const want = lengths.get(f.type);
          if (want !== undefined && f.length !== BigInt(want)) return `${devCtxTypeName(f.type)} length ${f.length}`;
        }
        return undefined;
      }),
    ];
  }

  private discardConstraints(): Constraint[] {
    if (!this.modeKnown) return [];
    if (this.read !== 'none') return [mustSucceed('ctx-discard.discards-partial-read')];
    if (this.writePartial) return [mustSucceed('ctx-discard.discards-partial-write')];
    return [mustSucceed('ctx-discard.discards-partial-read', 'finding', 'status OK (nothing to discard; the draft gives DISCARD no failure case)')];
  }

  // ---- applying an outcome -------------------------------------------------------------------------

  apply(call: ContextCall, o: AdminCommandResponse): void {
    const ok = o.status === Status.OK;
    switch (call.op) {
      case 'MODE_GET':
        if (ok && o.result.length >= 1) {
          const got = o.result[0];
          if (!this.modeKnown || got !== this.mode) this.adoptMode(got);
        }
        return;
      case 'MODE_SET':
        if (!ok) {
          this.modeReason = { rule: 'mode.set-failure-keeps-mode', severity: 'fail', because: `${call.mode === this.mode ? 'the same-mode' : 'a failed'} MODE_SET to ${modeName(call.mode)} left it` };
          return;
        }
        if (!isValidMode(call.mode)) {
          this.modeKnown = false;
          this.read = 'unknown';
          this.writeUnknown = true;
          return;
        }
        if (this.modeKnown && call.mode !== this.mode) this.enterMode(call.mode);
        else if (!this.modeKnown) {
          this.enterMode(call.mode);
          this.modeKnown = true;
        }
        this.modeReason = { rule: 'mode.set-applies-mode', severity: 'fail', because: `MODE_SET to ${modeName(call.mode)} completed OK` };
        return;
      case 'SIZE_GET':
        if (ok && call.freezeMode === 0 && this.mode === DeviceMode.FREEZE && (this.read === 'none' || this.read === 'partial') && o.result.length >= 8) {
          this.lastSize = decodeSizeGetResult(o.result);
        }
        return;
      case 'CTX_READ':
        if (ok) this.applyRead(call.capacity, o);
        return;
      case 'CTX_WRITE':
        if (ok) this.applyWrite(call.data);
        return;
      case 'FIELDS_QUERY':
        return;
      case 'DISCARD':
        if (!ok) return;
        this.discardedStarted ||= this.read !== 'none';
        this.resetRead();
        this.readAfterDiscard = true;
        if (this.accepted.length > 0 || this.contextsWritten > 0) this.writeAfterDiscard = true;
        this.accepted = EMPTY;
        this.writeUnknown = false;
        if (this.pending.size) this.pending.add('none');
        return;
    }
  }

  private adoptMode(got: number): void {
    if (!isValidMode(got)) {
      this.modeKnown = false;
      return;
    }
    this.mode = got;
    this.modeKnown = true;
    this.read = 'unknown';
    this.writeUnknown = true;
    this.freezeContext = undefined;
    this.freezePrefix = EMPTY;
    this.modeReason = { rule: 'mode.set-applies-mode', severity: 'fail', because: 'MODE_GET reported it' };
  }

  private applyRead(capacity: number, o: AdminCommandResponse): void {
    const r = readOutcome(o, capacity);
    if (typeof r === 'string') {
      this.read = 'unknown';
      return;
    }
    const n = r.data.length;
    const ends = r.len < capacity;
    const freeze = this.mode === DeviceMode.FREEZE;
    if (!this.modeKnown) return;
    if (this.read === 'ended') {
      if (freeze) {
        if (n > 0) this.read = 'unknown';
        return;
      }
      if (n === 0 && ends) return;
      this.resetRead(); // Active/Stop: the device started a new context (E16 allows it).
    }
    if (this.read === 'unknown') {
      if (ends) {
        this.read = 'ended';
        this.posKnown = false;
      } else if (n > 0) {
        this.read = 'partial';
        this.posKnown = false;
      }
      return;
    }
    if (this.posKnown) {
      this.chunks.push(r.data.slice());
      this.pos += n;
    }
    if (ends) {
      this.read = 'ended';
      if (this.posKnown) {
        const stream = concat(this.chunks);
        this.learn(stream);
        this.lastStream = stream;
        if (freeze && !this.freezeContext) {
          this.freezeContext = stream;
          this.freezePrefix = stream;
        }
      }
    } else if (n > 0) {
      this.read = 'partial';
      if (freeze && this.posKnown && !this.freezeContext && this.pos > this.freezePrefix.length) this.freezePrefix = concat(this.chunks);
    }
  }

  private applyWrite(data: Uint8Array): void {
    if (!this.modeKnown || this.mode !== DeviceMode.FREEZE) {
      this.writeUnknown = true;
      return;
    }
    if (this.writeUnknown) return;
    const stream = concat([this.accepted, paddedData(data)]);
    const p = new DevCtxStreamParser(this.s.wire.ctxStreamAlignment, { allowReservedTypes: true });
    try {
      p.feed(stream);
    } catch {
      // The device took bytes that cannot be a context: what it holds now is unknown.
      this.writeUnknown = true;
      this.pending.add('other');
      return;
    }
    if (p.complete) {
      this.pending = new Set([this.classify(stream)]);
      this.contextsWritten++;
      this.accepted = EMPTY;
    } else this.accepted = stream;
  }

  // ---- member events -------------------------------------------------------------------------------

  /** FLR or a virtio reset of the member: the mode should stay (E22); a started read stream becomes unknown. */
  memberReset(kind: 'flr' | 'reset'): void {
    this.modeReason =
      kind === 'flr'
        ? { rule: 'member.flr-keeps-mode', severity: 'warn', because: 'a member FLR keeps the mode (E22)' }
        : { rule: 'member.reset-keeps-mode', severity: 'warn', because: 'a member reset keeps the mode (E22)' };
    if (this.read === 'partial' || this.read === 'ended') {
      this.read = 'unknown';
      this.posKnown = false;
    }
  }
}
