/**
 * The model-based state machines (fast-check `fc.commands` / `fc.asyncModelRun`): every admin command
 * of the draft with valid and invalid inputs, mode changes, and member actions (guest workload, FLR,
 * virtio reset), each run judged by the oracle. Commands carry abstract parameters ("the next 64 bytes
 * of the member's own context", "a READ of the second started range with room for 2 records") that are
 * resolved against the model when they run, so shrinking keeps them meaningful.
 *
 * Three profiles share the commands with different weights: `admin` (admin commands only, any
 * transport), `member` (plus the guest workload, FLR and reset) and `records` (write recording with a
 * busy guest: every written page in a started range must be reported).
 */
import fc from 'fast-check';
import { DeviceMode, isValidMode, modeName, pageSizesOf } from '../../protocol/commands.ts';
import { encodeDevCtx } from '../../protocol/device-context.ts';
import { DevCtxType } from '../../protocol/device-context.ts';
import { Status } from '../../protocol/status.ts';
import { type FailureRecord, type FuzzWorld, PropertyViolation } from './fuzz-world.ts';
import type { RequestSpec } from './workload.ts';

type W = FuzzWorld;

/** Command kinds (for statistics and the step list). */
export type CommandKind = 'mode-get' | 'mode-set' | 'size' | 'read' | 'write' | 'discard' | 'fields' | 'cap' | 'start' | 'stop' | 'rec-read' | 'io' | 'settle' | 'hold' | 'flr' | 'reset';

abstract class Cmd implements fc.AsyncCommand<W, W> {
  abstract get kind(): CommandKind;
  constructor(protected readonly m: number) {}
  check(w: Readonly<W>): boolean {
    return this.ready(w);
  }
  /** Whether the model is in a state where the command makes sense. */
  ready(_w: Readonly<W>): boolean {
    return true;
  }
  abstract run(_m: W, w: W): Promise<void>;
  abstract toString(): string;
}

const MODE_NAMES = ['Active', 'Stop', 'Freeze'];

function ctxOf(w: Readonly<W>, m: number) {
  return w.oracle.member(m).ctx;
}

class ModeGetCmd extends Cmd {
  get kind(): CommandKind {
    return 'mode-get';
  }
  async run(_: W, w: W): Promise<void> {
    await w.call({ op: 'MODE_GET', member: this.m });
  }
  toString(): string {
    return `MODE_GET(${this.m})`;
  }
}

class ModeSetCmd extends Cmd {
  get kind(): CommandKind {
    return 'mode-set';
  }
  constructor(
    m: number,
    readonly mode: number,
  ) {
    super(m);
  }
  async run(_: W, w: W): Promise<void> {
    const x = ctxOf(w, this.m);
    const from = x.modeKnown ? x.mode : undefined;
    const applied = new Set<string>(x.pending);
    const r = await w.call({ op: 'MODE_SET', member: this.m, mode: this.mode });
    if (r.status !== Status.OK || !isValidMode(this.mode) || from === undefined || from === this.mode) return;
    if (from === DeviceMode.ACTIVE) w.reapBeforePause(this.m);
    w.afterModeChange(this.m, this.mode, from, applied);
  }
  toString(): string {
    return `MODE_SET(${this.m}, ${modeName(this.mode)})`;
  }
}

class SizeGetCmd extends Cmd {
  get kind(): CommandKind {
    return 'size';
  }
  constructor(
    m: number,
    readonly freezeMode: number,
  ) {
    super(m);
  }
  async run(_: W, w: W): Promise<void> {
    await w.call({ op: 'SIZE_GET', member: this.m, freezeMode: this.freezeMode });
  }
  toString(): string {
    return `SIZE_GET(${this.m}, freeze_mode ${this.freezeMode})`;
  }
}

/** READ capacity: a number of bytes, or `rest` = exactly the bytes left of a known Freeze context (an exact fit). */
class CtxReadCmd extends Cmd {
  get kind(): CommandKind {
    return 'read';
  }
  constructor(
    m: number,
    readonly capacity: number | 'rest',
  ) {
    super(m);
  }
  async run(_: W, w: W): Promise<void> {
    let cap = this.capacity;
    if (cap === 'rest') {
      const left = ctxOf(w, this.m).freezeRemaining;
      cap = left !== undefined && left > 0 && left % 8 === 0 ? left : 4096;
    }
    await w.call({ op: 'CTX_READ', member: this.m, capacity: cap });
  }
  toString(): string {
    return `CTX_READ(${this.m}, ${this.capacity})`;
  }
}

/**
 * WRITE: `next` writes the next `size` bytes of the member's own context of this Freeze period (read
 * before in the run); `bad` a one-field context whose field length differs from the member's (E21).
 * Outside Freeze either is sent as is: the device must refuse it.
 */
class CtxWriteCmd extends Cmd {
  get kind(): CommandKind {
    return 'write';
  }
  constructor(
    m: number,
    readonly what: 'next' | 'bad',
    readonly size: number | 'all',
  ) {
    super(m);
  }
  override ready(w: Readonly<W>): boolean {
    const x = ctxOf(w, this.m);
    if (!x.modeKnown) return false;
    if (x.mode !== DeviceMode.FREEZE) return true;
    if (!x.freezeContext) return false;
    return this.what === 'next' || !x.writePartial;
  }
  async run(_: W, w: W): Promise<void> {
    const x = ctxOf(w, this.m);
    let data: Uint8Array;
    let label: string;
    if (this.what === 'bad') {
      // VQ_SPLIT_RUNTIME_CFG is 5 bytes (E14): one byte more is a length mismatch.
      const known = x.fieldLengths.get(DevCtxType.VQ_SPLIT_RUNTIME_CFG);
      const len = (known && known.size === 1 ? [...known][0] : 5) + 1;
      data = encodeDevCtx({ fields: [{ type: DevCtxType.VQ_SPLIT_RUNTIME_CFG, value: new Uint8Array(len) }] }, w.env.wire.ctxStreamAlignment);
      label = `a context whose VQ_SPLIT_RUNTIME_CFG is ${len} bytes`;
    } else {
      const own = x.freezeContext ?? x.lastStream ?? encodeDevCtx({ fields: [] }, w.env.wire.ctxStreamAlignment);
      const off = x.mode === DeviceMode.FREEZE && x.writeOffset < own.length ? x.writeOffset : 0;
      const end = this.size === 'all' ? own.length : Math.min(own.length, off + this.size);
      data = own.subarray(off, end);
      label = `${x.freezeContext ? 'own context' : 'a context'} bytes ${off}..${end}${end === own.length ? ' (end)' : ''}`;
    }
    await w.call({ op: 'CTX_WRITE', member: this.m, data, label });
  }
  toString(): string {
    return this.what === 'bad' ? `CTX_WRITE(${this.m}, bad field length)` : `CTX_WRITE(${this.m}, next ${this.size})`;
  }
}

class FieldsQueryCmd extends Cmd {
  get kind(): CommandKind {
    return 'fields';
  }
  async run(_: W, w: W): Promise<void> {
    await w.call({ op: 'FIELDS_QUERY', member: this.m, capacity: 256 });
  }
  toString(): string {
    return `FIELDS_QUERY(${this.m})`;
  }
}

class DiscardCmd extends Cmd {
  get kind(): CommandKind {
    return 'discard';
  }
  async run(_: W, w: W): Promise<void> {
    await w.call({ op: 'DISCARD', member: this.m });
  }
  toString(): string {
    return `DISCARD(${this.m})`;
  }
}

class CapQueryCmd extends Cmd {
  get kind(): CommandKind {
    return 'cap';
  }
  async run(_: W, w: W): Promise<void> {
    await w.call({ op: 'CAP_QUERY', member: this.m });
  }
  toString(): string {
    return `CAP_QUERY(${this.m})`;
  }
}

export type StartVariant = 'valid' | 'bad-size' | 'unaligned' | 'too-many';

/** START over ranges laid out from the guest arena (gaps and lengths in pages of the chosen size). */
class StartCmd extends Cmd {
  get kind(): CommandKind {
    return 'start';
  }
  constructor(
    m: number,
    readonly variant: StartVariant,
    readonly sizeIndex: number,
    readonly spans: { gap: number; pages: number }[],
  ) {
    super(m);
  }
  override ready(w: Readonly<W>): boolean {
    const rec = w.oracle.member(this.m).rec;
    return !rec.active && rec.knowledge.caps !== undefined;
  }
  async run(_: W, w: W): Promise<void> {
    const caps = w.oracle.member(this.m).rec.knowledge.caps!;
    const sizes = pageSizesOf(caps.supportedPageSizeBitmap);
    let ps = sizes.length ? sizes[this.sizeIndex % sizes.length] : 4096n;
    if (this.variant === 'bad-size') {
      let n = 0;
      while (n < 32 && (caps.supportedPageSizeBitmap >>> n) & 1) n++;
      ps = n < 32 ? 4096n << BigInt(n) : 12288n;
    }
    const base = w.arenaBase(this.m);
    let at = base - (base % ps);
    const max = this.variant === 'too-many' ? caps.supportedRanges + 1 : Math.max(1, caps.supportedRanges);
    const spans = [...this.spans];
    while (this.variant === 'too-many' && spans.length < max) spans.push({ gap: 1, pages: 1 });
    const entries: { pageAddress: bigint; pageCount: bigint }[] = [];
    for (const s of spans.slice(0, max)) {
      at += BigInt(s.gap) * ps;
      entries.push({ pageAddress: at, pageCount: BigInt(s.pages) });
      at += BigInt(s.pages) * ps;
    }
    if (this.variant === 'unaligned') {
      // Off by half a small page; the entries after it move one page on, so nothing overlaps (a driver rule).
      entries[0] = { ...entries[0], pageAddress: entries[0].pageAddress + 2048n };
      for (let i = 1; i < entries.length; i++) entries[i] = { ...entries[i], pageAddress: entries[i].pageAddress + ps };
    }
    w.lastRanges.set(this.m, { pageSize: ps, ranges: entries.map((e) => ({ start: e.pageAddress, end: e.pageAddress + e.pageCount * ps })) });
    await w.call({ op: 'RECORDS_START', member: this.m, pageSize: ps, entries });
  }
  toString(): string {
    return `RECORDS_START(${this.m}, ${this.variant}, size #${this.sizeIndex}, ${this.spans.map((s) => `+${s.gap}:${s.pages}`).join(' ')})`;
  }
}

class StopCmd extends Cmd {
  get kind(): CommandKind {
    return 'stop';
  }
  async run(_: W, w: W): Promise<void> {
    await w.call({ op: 'RECORDS_STOP', member: this.m });
  }
  toString(): string {
    return `RECORDS_STOP(${this.m})`;
  }
}

export type ReadPart = 'whole' | 'first' | 'tail' | 'unaligned-length' | 'outside';

/** WRITE_RECORDS_READ of (part of) a started range, with room for `capacity / 8` records. */
class RecordsReadCmd extends Cmd {
  get kind(): CommandKind {
    return 'rec-read';
  }
  constructor(
    m: number,
    readonly range: number,
    readonly part: ReadPart,
    readonly capacity: number,
  ) {
    super(m);
  }
  async run(_: W, w: W): Promise<void> {
    const rec = w.oracle.member(this.m).rec;
    const known = rec.active ? { pageSize: rec.pageSize, ranges: rec.ranges } : w.lastRanges.get(this.m);
    const ps = known?.pageSize ?? 4096n;
    const ranges = known?.ranges.length ? known.ranges : [{ start: w.arenaBase(this.m), end: w.arenaBase(this.m) + 16n * 4096n }];
    const r = ranges[this.range % ranges.length];
    let a = r.start;
    let len = r.end - r.start;
    switch (this.part) {
      case 'first':
        len = ps;
        break;
      case 'tail':
        if (len > ps) {
          a += ps;
          len -= ps;
        }
        break;
      case 'unaligned-length':
        len = len > 8n ? len - 8n : ps / 2n;
        break;
      case 'outside': {
        let top = 0n;
        for (const x of ranges) if (x.end > top) top = x.end;
        a = top + 16n * ps;
        len = ps;
        break;
      }
    }
    await w.call({ op: 'RECORDS_READ', member: this.m, pageAddress: a, length: len, capacity: this.capacity });
  }
  toString(): string {
    return `RECORDS_READ(${this.m}, range #${this.range} ${this.part}, ${this.capacity})`;
  }
}

/** The guest makes block requests available (buffers on pages `skipPages` further on) and, usually, kicks. */
class GuestIoCmd extends Cmd {
  get kind(): CommandKind {
    return 'io';
  }
  constructor(
    m: number,
    readonly requests: RequestSpec[],
    readonly kick: boolean,
  ) {
    super(m);
  }
  override ready(w: Readonly<W>): boolean {
    const wl = w.workloads.get(this.m);
    const mode = w.mode(this.m);
    return wl !== undefined && (mode === DeviceMode.ACTIVE || (mode === DeviceMode.STOP && wl.alive));
  }
  async run(_: W, w: W): Promise<void> {
    const wl = w.workloads.get(this.m)!;
    const mode = w.mode(this.m)!;
    if (!wl.alive) {
      await wl.ensure();
      w.note(`GUEST_INIT(${this.m}) -> ${wl.queueCount} queue(s)`);
    }
    const posted: string[] = [];
    const queues = new Set<number>();
    for (const s of this.requests) {
      const q = s.queue % wl.queueCount;
      if (wl.driver!.queues[q].freeCount < 3) continue;
      const r = wl.post(s, mode);
      queues.add(r.queue);
      posted.push(`${s.kind === 'write' ? 'W' : 'R'} q${r.queue} s${s.sector}+${s.sectors}${s.skipPages ? ` skip${s.skipPages}` : ''}`);
    }
    if (this.kick) for (const q of queues) await wl.kick(q, mode);
    const text = `GUEST_IO(${this.m}, [${posted.join(', ')}]${this.kick ? ', kick' : ''})`;
    w.action(text, `${text} in ${modeName(mode)}`);
  }
  toString(): string {
    return `GUEST_IO(${this.m}, ${this.requests.length} request(s)${this.kick ? ', kick' : ''})`;
  }
}

class SettleCmd extends Cmd {
  get kind(): CommandKind {
    return 'settle';
  }
  override ready(w: Readonly<W>): boolean {
    return w.workloads.get(this.m)?.alive ?? false;
  }
  async run(_: W, w: W): Promise<void> {
    await w.settle(this.m);
  }
  toString(): string {
    return `SETTLE(${this.m})`;
  }
}

/**
 * The member's backend stalls (requests are taken and held, device-owned) or goes on: how a run gets
 * requests in flight at a mode change, a context read or an FLR on a device that otherwise completes
 * them at once. Only where the transport offers the hold-requests stimulus.
 */
class HoldCmd extends Cmd {
  get kind(): CommandKind {
    return 'hold';
  }
  constructor(
    m: number,
    readonly on: boolean,
  ) {
    super(m);
  }
  override ready(w: Readonly<W>): boolean {
    return w.workloads.has(this.m) && w.ports.get(this.m)?.stimuli?.holdRequests !== undefined;
  }
  async run(_: W, w: W): Promise<void> {
    await w.hold(this.m, this.on);
  }
  toString(): string {
    return `HOLD_REQUESTS(${this.m}, ${this.on ? 'on' : 'off'})`;
  }
}

/** A member FLR (Active or Stop: the member driver is still at work), then MODE_GET (E22: the mode stays). */
class FlrCmd extends Cmd {
  get kind(): CommandKind {
    return 'flr';
  }
  override ready(w: Readonly<W>): boolean {
    const p = w.ports.get(this.m);
    const mode = w.mode(this.m);
    return p !== undefined && p.capabilities.flr && w.workloads.has(this.m) && (mode === DeviceMode.ACTIVE || mode === DeviceMode.STOP);
  }
  async run(_: W, w: W): Promise<void> {
    w.drainDma(this.m);
    await w.ports.get(this.m)!.flr();
    w.workloads.get(this.m)!.abandon();
    w.action(`FLR(${this.m})`);
    w.event({ event: 'FLR', member: this.m }, false);
    if (w.env.sets.context) await w.call({ op: 'MODE_GET', member: this.m }, '(after FLR) ');
  }
  toString(): string {
    return `FLR(${this.m})`;
  }
}

/** The member's driver resets the virtio device (device_status 0), then MODE_GET (E22). */
class ResetCmd extends Cmd {
  get kind(): CommandKind {
    return 'reset';
  }
  override ready(w: Readonly<W>): boolean {
    const mode = w.mode(this.m);
    return (w.workloads.get(this.m)?.alive ?? false) && (mode === DeviceMode.ACTIVE || mode === DeviceMode.STOP);
  }
  async run(_: W, w: W): Promise<void> {
    const wl = w.workloads.get(this.m)!;
    w.drainDma(this.m);
    await wl.driver!.reset();
    wl.abandon();
    w.action(`RESET(${this.m})`);
    w.event({ event: 'RESET', member: this.m }, false);
    if (w.env.sets.context) await w.call({ op: 'MODE_GET', member: this.m }, '(after reset) ');
  }
  toString(): string {
    return `RESET(${this.m})`;
  }
}

// ---- arbitraries ----------------------------------------------------------------------------------

/**
 * `context`: the mode and context commands (any transport); `fields`: the same with FIELDS_QUERY in
 * every state; `records-admin`: the write-record commands alone (any transport); `member`: the mode and
 * context commands with the guest workload, FLR and virtio reset; `records`: write recording with a busy
 * guest, FLRs and Stop/Active changes.
 */
export type MachineKind = 'context' | 'fields' | 'records-admin' | 'member' | 'records';

type Weighted = { weight: number; arbitrary: fc.Arbitrary<Cmd> };

const requestArb = fc.record({
  queue: fc.integer({ min: 0, max: 3 }),
  kind: fc.constantFrom<'read' | 'write'>('read', 'write'),
  // A small set of sectors, so reads often find data the run wrote.
  sector: fc.integer({ min: 0, max: 63 }).map((x) => x * 4),
  sectors: fc.integer({ min: 1, max: 8 }),
  skipPages: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 6 }) }),
});

/** The weighted command arbitraries of a machine for member `m`. */
export function commandArbitraries(kind: MachineKind, m: number, sets: { context: boolean; fieldsQuery: boolean; writeRecords: boolean }): Weighted[] {
  const out: Weighted[] = [];
  const add = (weight: number, arbitrary: fc.Arbitrary<Cmd>) => {
    if (weight > 0) out.push({ weight, arbitrary });
  };
  const member = kind === 'member' || kind === 'records';
  const rec = kind === 'records';
  const contextCommands = sets.context && kind !== 'records-admin';
  const recordCommands = sets.writeRecords && (kind === 'records' || kind === 'records-admin');
  if (contextCommands) {
    const validMode = rec ? fc.constantFrom(0, 1, 1, 0) : fc.constantFrom(0, 1, 2);
    add(rec ? 1 : 2, fc.constant(null).map(() => new ModeGetCmd(m)));
    const modeArb = rec ? validMode : fc.oneof({ weight: 10, arbitrary: validMode }, { weight: 2, arbitrary: fc.integer({ min: 3, max: 255 }) });
    add(rec ? 6 : 22, modeArb.map((x) => new ModeSetCmd(m, x)));
    if (!rec) {
      add(5, fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 255 }) }).map((x) => new SizeGetCmd(m, x)));
      add(22, fc.constantFrom<number | 'rest'>(8, 8, 16, 24, 64, 256, 4096, 4096, 'rest').map((c) => new CtxReadCmd(m, c)));
      add(6, fc.tuple(fc.constantFrom<'next' | 'bad'>('next', 'next', 'next', 'bad'), fc.constantFrom<number | 'all'>(8, 16, 64, 'all', 'all')).map(([k, s]) => new CtxWriteCmd(m, k, s)));
      add(10, fc.constant(null).map(() => new DiscardCmd(m)));
      if (kind === 'fields' && sets.fieldsQuery) add(12, fc.constant(null).map(() => new FieldsQueryCmd(m)));
    }
  }
  if (recordCommands) {
    // Either one range over the first 64 pages of the guest arena (rings and most buffers), or a few ranges with gaps.
    const spans = fc.oneof(
      { weight: 1, arbitrary: fc.constant<{ gap: number; pages: number }[]>([{ gap: 0, pages: 64 }]) },
      { weight: 2, arbitrary: fc.array(fc.record({ gap: fc.integer({ min: 0, max: 3 }), pages: fc.integer({ min: 1, max: 16 }) }), { minLength: 1, maxLength: 4 }) },
    );
    const variant = rec
      ? fc.oneof({ weight: 12, arbitrary: fc.constant<StartVariant>('valid') }, { weight: 1, arbitrary: fc.constantFrom<StartVariant>('bad-size', 'unaligned', 'too-many') })
      : fc.constantFrom<StartVariant>('valid', 'valid', 'valid', 'bad-size', 'unaligned', 'too-many');
    add(1, fc.constant(null).map(() => new CapQueryCmd(m)));
    add(rec ? 8 : 10, fc.tuple(variant, fc.integer({ min: 0, max: 3 }), spans).map(([v, s, sp]) => new StartCmd(m, v, s, sp)));
    add(rec ? 2 : 6, fc.constant(null).map(() => new StopCmd(m)));
    const part = rec
      ? fc.oneof({ weight: 8, arbitrary: fc.constantFrom<ReadPart>('whole', 'first', 'tail') }, { weight: 1, arbitrary: fc.constantFrom<ReadPart>('unaligned-length', 'outside') })
      : fc.constantFrom<ReadPart>('whole', 'first', 'tail', 'unaligned-length', 'outside');
    // Small buffers (1 to 3 records) often, so READs come back full and leave records behind (E28).
    add(16, fc.tuple(fc.integer({ min: 0, max: 3 }), part, fc.constantFrom(8, 8, 16, 24, 64, 4096)).map(([r, p, c]) => new RecordsReadCmd(m, r, p, c)));
  }
  if (member) {
    add(rec ? 22 : 12, fc.tuple(fc.array(requestArb, { minLength: 1, maxLength: 4 }), fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })).map(([r, k]) => new GuestIoCmd(m, r, k)));
    add(rec ? 14 : 8, fc.constant(null).map(() => new SettleCmd(m)));
    // Requests held in flight at mode changes and context reads (the write-record machine keeps its own mix).
    add(rec ? 0 : 3, fc.boolean().map((on) => new HoldCmd(m, on)));
    add(rec ? 5 : 3, fc.constant(null).map(() => new FlrCmd(m)));
    add(rec ? 1 : 2, fc.constant(null).map(() => new ResetCmd(m)));
  }
  return out;
}

// ---- running ----------------------------------------------------------------------------------------

export interface FuzzRunOptions {
  seed: number;
  numRuns: number;
  /** `<fast-check path>` or `<path>@<commands replayPath>`, from a failure report (replays that run only). */
  replay?: string;
  /** Stop starting new runs after this long (the test's budget). */
  timeLimitMs?: number;
  /**
   * Most executions spent shrinking a failure (then the smallest failing sequence found so far is
   * reported). Deterministic, so the reported path replays. Default: no limit.
   */
  shrinkRuns?: number;
}

export interface FuzzOutcome {
  /** fast-check's report (absent when the setup before the first run failed). */
  details?: fc.RunDetails<unknown>;
  /** What the failing run did (the shrunk counterexample's execution). */
  failure?: FailureRecord;
  /** The value to give `--replay` to run the counterexample again. */
  replay?: string;
  /** A harness or transport error that stopped the fuzzing (timeouts, lost device). */
  error?: unknown;
  errorSequence?: string[];
  runs: number;
  ms: number;
}

export function splitReplay(replay: string | undefined): { path?: string; commandsPath?: string } {
  if (!replay) return {};
  const at = replay.indexOf('@');
  return at < 0 ? { path: replay } : { path: replay.slice(0, at), commandsPath: replay.slice(at + 1) };
}

/** fast-check's own settings for a run of `o` (seed, runs, replay path, time limit). */
export function checkParameters(o: FuzzRunOptions): fc.Parameters<unknown> {
  const { path } = splitReplay(o.replay);
  return {
    seed: o.seed,
    numRuns: o.numRuns,
    ...(path !== undefined ? { path, endOnFailure: true } : {}),
    ...(o.timeLimitMs ? { interruptAfterTimeLimit: o.timeLimitMs, markInterruptAsFailure: false } : {}),
  };
}

/**
 * Runs a property whose body acts on `world`, with the failure bookkeeping every fuzz property
 * shares: MUST violations fail the run (fast-check shrinks them), any other exception stops the fuzzing
 * at once and is handed back (the test reports it as TIMEOUT, WEDGED, FAIL or HARNESS_ERROR).
 */
export async function runProperty<T>(world: W, arb: fc.Arbitrary<T>, body: (v: T) => Promise<void>, o: FuzzRunOptions, replaySuffix?: (v: T) => string | undefined): Promise<FuzzOutcome> {
  let error: unknown;
  let errorSequence: string[] | undefined;
  world.lastFailure = undefined;
  const t0 = performance.now();
  const runs0 = world.runs;
  let sinceFailure = -1;
  const prop = fc.asyncProperty(arb, async (v) => {
    if (error !== undefined) return;
    if (sinceFailure >= 0 && o.shrinkRuns !== undefined && ++sinceFailure > o.shrinkRuns) return;
    try {
      await body(v);
    } catch (e) {
      if (e instanceof PropertyViolation) {
        if (sinceFailure < 0) sinceFailure = 0;
        throw e;
      }
      error = e;
      errorSequence = world.steps;
    }
  });
  const details = (await fc.check(prop, checkParameters(o) as fc.Parameters<[T]>)) as fc.RunDetails<[T]>;
  const out: FuzzOutcome = { details: details as fc.RunDetails<unknown>, runs: world.runs - runs0, ms: performance.now() - t0 };
  if (error !== undefined) {
    out.error = error;
    out.errorSequence = errorSequence;
    return out;
  }
  if (details.failed) {
    out.failure = world.lastFailure;
    const path = details.counterexamplePath ?? undefined;
    const suffix = details.counterexample ? replaySuffix?.(details.counterexample[0]) : undefined;
    if (path) out.replay = suffix ? `${path}@${suffix}` : path;
  }
  return out;
}

/** world.prepare(), with a violation there reported as a failure outside any fast-check run. */
export async function prepareWorld(world: W): Promise<FuzzOutcome | undefined> {
  const t0 = performance.now();
  try {
    await world.prepare();
    return undefined;
  } catch (e) {
    if (e instanceof PropertyViolation) return { failure: world.lastFailure, runs: 0, ms: performance.now() - t0 };
    return { error: e, errorSequence: world.steps, runs: 0, ms: performance.now() - t0 };
  }
}

/** The commands replayPath fast-check printed in a counterexample (`/*replayPath="..."*\/`). */
export function commandsReplayPath(value: unknown): string | undefined {
  const m = /replayPath="([^"]*)"/.exec(String(value));
  return m ? m[1] : undefined;
}

/** Runs a state machine of `kind` on `world` (member `world.env.members[0]`). */
export async function runMachine(world: W, kind: MachineKind, o: FuzzRunOptions & { maxCommands?: number }): Promise<FuzzOutcome> {
  const m = world.env.members[0];
  const early = await prepareWorld(world);
  if (early) return early;
  const { commandsPath } = splitReplay(o.replay);
  const arbs = commandArbitraries(kind, m, world.env.sets);
  const cmds = fc.commands([fc.oneof(...arbs)], { maxCommands: o.maxCommands ?? 30, size: 'max', ...(commandsPath !== undefined ? { replayPath: commandsPath } : {}) });
  return runProperty(
    world,
    cmds,
    async (c) => {
      await fc.asyncModelRun(async () => {
        await world.begin();
        return { model: world, real: world };
      }, c);
      await world.finish();
    },
    o,
    (v) => commandsReplayPath(v),
  );
}

export { MODE_NAMES };
