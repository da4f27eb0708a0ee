import { inject, test, type TestContext } from 'vitest';
import type { AdminCommandResponse, OwnerPort } from '../protocol/admin-transport.ts';
import type { DeviceTiming } from '../protocol/host-binding.ts';
import type { SriovControl } from '../protocol/sriov-control.ts';
import { DecodeError } from '../protocol/decode-error.ts';
import type { MemberPort } from '../protocol/member-port.ts';
import { Qualifier, qualifierName, Status, statusName } from '../protocol/status.ts';
import { TransportAbortedError, TransportClosedError, TransportTimeoutError } from '../protocol/transport-errors.ts';
import type { WireOptions } from '../protocol/wire-options.ts';
import { Rng } from '../protocol/random.ts';
import type { DeviceRecord, SessionRecord } from '../reports/results.ts';
import { type RequirementOutcome, type TestVerdict, worse } from '../reports/verdicts.ts';
import type { ProfileSettings } from '../spec/profile-settings.ts';
import { AdminClient, AdminStatusError } from './admin-client.ts';
import { GuestDriver, type GuestDriverInit, GuestInitError } from './guest/guest-driver.ts';
import { UsedRingError } from './guest/guest-queue.ts';
import type { RunPlan } from './run/run-plan.ts';
import { getSession, type Session } from './session/session.ts';
import { renderWireTrace } from './wire-trace.ts';
import { registerTestDef } from './test-registry.ts';

/** What a test needs from the transport; a missing one makes the test NOT_TESTED with the reason. */
export type Capability =
  | 'member-port'
  | 'raw-frames'
  | 'owner-config'
  | 'sriov-control'
  | 'dma-observation'
  | 'dma-window-observation'
  | 'interrupt-observation'
  | 'pme-observation'
  | 'flr'
  | 'power-management'
  | 'pci-config'
  | 'stimuli'
  | 'hold-requests'
  | 'separate-memory';

/** Optional command sets; a device that offers none of a set's opcodes makes the test NOT_APPLICABLE. */
export type CommandSetName = 'context' | 'fields-query' | 'write-record';

export interface ConformanceTestDef {
  /** Stable test id (`<area>.<slug>`), used by `--test` and in replay commands. */
  id: string;
  title: string;
  /** Catalog ids this test checks. */
  requirements: string[];
  needs?: Capability[];
  commandSets?: CommandSetName[];
  /** Members the test uses (1, or 2 for migration between members). Default 1. */
  members?: 1 | 2;
  /** Longer budget than the run's testMs (fuzzing). */
  timeoutMs?: number;
  /** Driver rules (catalog ids) this test breaks on purpose to probe a device rule. */
  breaks?: string[];
}

/** The record a test leaves in its task meta for the results collector. */
export interface TestMetaRecord {
  id: string;
  title: string;
  requirements: string[];
  verdict: TestVerdict;
  outcomes: Record<string, RequirementOutcome>;
  messages: string[];
  findings: string[];
  trace: string[];
  replay: string;
  driverRuleViolations: { rule: string; message: string }[];
  breaks: string[];
  /** How the member-side behaviour this test judges was observed (DMA level, interrupts), when it judges any. */
  observation?: string;
  device?: DeviceRecord;
  session?: SessionRecord;
}

declare module 'vitest' {
  interface TaskMeta {
    vmcts?: TestMetaRecord;
  }
}

/** A checked rule did not hold (a FAIL for its requirement, or for all of the test's when none is named). */
export class ConformanceFailure extends Error {
  override name = 'ConformanceFailure';
  constructor(
    message: string,
    readonly requirement?: string,
  ) {
    super(message);
  }
}

/** The test cannot run here: the device lacks an optional command set, or the transport a capability. */
export class ConformanceSkip extends Error {
  override name = 'ConformanceSkip';
  constructor(
    readonly verdict: 'NOT_APPLICABLE' | 'NOT_TESTED',
    message: string,
  ) {
    super(message);
  }
}

/** The API a conformance test body gets. */
export class ConformanceContext {
  readonly admin: AdminClient;
  readonly wire: WireOptions;
  readonly settings: ProfileSettings;
  readonly members: number[];
  readonly rng: Rng;
  readonly outcomes = new Map<string, RequirementOutcome>();
  readonly messages: string[] = [];
  readonly findings: string[] = [];
  private readonly guests = new Map<number, GuestDriver>();

  constructor(
    readonly def: ConformanceTestDef,
    readonly session: Session,
    readonly plan: RunPlan,
    readonly seed: number,
  ) {
    this.admin = session.admin;
    this.wire = session.wire;
    this.settings = plan.profile.settings;
    this.members = session.membersUnderTest.slice(0, def.members ?? 1);
    this.rng = new Rng(seed);
  }

  /** The first member under test (the migration source). */
  get src(): number {
    return this.members[0];
  }

  /** The second member under test (the migration destination). */
  get dst(): number {
    if (this.members.length < 2) throw new ConformanceSkip('NOT_TESTED', 'the test needs two members under test');
    return this.members[1];
  }

  get opcodes(): WireOptions['opcodes'] {
    return this.wire.opcodes;
  }

  port(member: number): MemberPort {
    if (!this.session.transport.capabilities.memberPort) throw new ConformanceSkip('NOT_TESTED', 'the transport has no member port');
    return this.session.transport.member(member);
  }

  /** The owner PF's configuration space and common configuration, read only. */
  owner(): OwnerPort {
    const tr = this.session.transport;
    if (!tr.capabilities.ownerConfig || !tr.owner) throw new ConformanceSkip('NOT_TESTED', "the transport cannot read the owner PF's configuration");
    return tr.owner();
  }

  /** NumVFs and VF Enable of the owner, through the host's interface. */
  sriov(): SriovControl {
    const tr = this.session.transport;
    if (!tr.capabilities.sriovControl || !tr.sriov) throw new ConformanceSkip('NOT_TESTED', 'the transport cannot change NumVFs and VF Enable');
    return tr.sriov();
  }

  /** How long the device may take, as the transport declares it (waits come from here, never fixed sleeps). */
  get timing(): DeviceTiming {
    return this.session.transport.timing;
  }

  /** A guest driver initialized on the member (one per member per test). */
  async guest(member: number, init?: GuestDriverInit): Promise<GuestDriver> {
    let g = this.guests.get(member);
    if (!g) {
      g = await new GuestDriver(this.port(member)).init(init);
      this.guests.set(member, g);
    }
    return g;
  }

  private outcome(req: string | undefined, v: RequirementOutcome): void {
    const targets = req ? [req] : this.def.requirements;
    for (const r of targets) this.outcomes.set(r, worse(this.outcomes.get(r) ?? 'PASS', v));
  }

  /** Soft check: records a FAIL for `req` and goes on. Returns the condition. */
  check(req: string, cond: boolean, message: string): boolean {
    if (!cond) {
      this.outcome(req, 'FAIL');
      this.messages.push(`[${req}] ${message}`);
    }
    return cond;
  }

  /** Hard check: a FAIL for `req` that ends the test. */
  require(req: string | undefined, cond: boolean, message: string): asserts cond {
    if (!cond) throw new ConformanceFailure(message, req);
  }

  fail(req: string | undefined, message: string): never {
    throw new ConformanceFailure(message, req);
  }

  /** A SHOULD: unmet is a WARN for `req`, never a FAIL. */
  should(req: string, cond: boolean, message: string): boolean {
    if (!cond) {
      this.outcome(req, 'WARN');
      this.messages.push(`[${req}] SHOULD unmet: ${message}`);
    }
    return cond;
  }

  /** An observation that does not change the verdict. */
  finding(message: string): void {
    this.findings.push(message);
  }

  notApplicable(message: string): never {
    throw new ConformanceSkip('NOT_APPLICABLE', message);
  }

  notTested(message: string): never {
    throw new ConformanceSkip('NOT_TESTED', message);
  }

  /** Soft: the command must complete with status OK. */
  expectOk(req: string, r: AdminCommandResponse, what: string): boolean {
    return this.check(req, r.status === Status.OK, `${what}: expected OK, got ${describeStatus(r)}`);
  }

  /** Hard: the command must complete with status OK. */
  requireOk(req: string | undefined, r: AdminCommandResponse, what: string): void {
    this.require(req, r.status === Status.OK, `${what}: expected OK, got ${describeStatus(r)}`);
  }

  /** Soft: exactly this status and qualifier (the base rules that name them, GD1). */
  expectStatus(req: string, r: AdminCommandResponse, status: number, qualifier: number, what: string): boolean {
    return this.check(
      req,
      r.status === status && r.qualifier === qualifier,
      `${what}: expected ${statusName(status)}/${qualifierName(qualifier)}, got ${describeStatus(r)}`,
    );
  }

  /**
   * Soft: the device must fail the command (status other than OK, GD3). Where the draft says only
   * "fails", EINVAL with one of `preferred` qualifiers is the preferred answer (P5): another answer is a
   * finding, or a FAIL when the profile's failureQualifierMismatch is "fail".
   */
  expectRefused(req: string, r: AdminCommandResponse, what: string, preferred: number[] = [Qualifier.INVALID_FIELD, Qualifier.INVALID_COMMAND]): boolean {
    if (!this.check(req, r.status !== Status.OK, `${what}: the device must fail the command, it completed OK`)) return false;
    if (r.status === Status.EINVAL && preferred.includes(r.qualifier)) return true;
    const msg = `${what}: failed with ${describeStatus(r)}; preferred is EINVAL with ${preferred.map(qualifierName).join(' or ')} (P5)`;
    if (this.settings.failureQualifierMismatch === 'fail') return this.check(req, false, msg);
    this.finding(msg);
    return true;
  }
}

export function describeStatus(r: AdminCommandResponse): string {
  return r.status === Status.OK && r.qualifier === 0 ? 'OK' : `${statusName(r.status)}/${qualifierName(r.qualifier)}`;
}

/** The observation levels a member-side verdict rests on: DMA (exact, iommu-fault, canary) and interrupts. */
function observationOf(t: ConformanceContext, needs: readonly Capability[]): string | undefined {
  const dma = needs.includes('dma-observation') || needs.includes('dma-window-observation');
  const irq = needs.includes('interrupt-observation') || needs.includes('stimuli');
  if (!dma && !irq) return undefined;
  const c = t.session.transport.member(t.members[0]).capabilities;
  const parts: string[] = [];
  if (dma) parts.push(`dma: ${c.dmaObservationLevel ?? (c.dmaObservation ? 'exact' : 'none')}`);
  if (irq) parts.push(`interrupts: ${c.interruptObservation ? 'events' : 'none'}`);
  return parts.join('; ');
}

function capabilityMissing(t: ConformanceContext, cap: Capability): string | undefined {
  const tr = t.session.transport;
  if (cap === 'member-port') return tr.capabilities.memberPort ? undefined : 'the transport has no member port';
  if (cap === 'raw-frames') return tr.capabilities.rawFrames ? undefined : 'the transport cannot send raw admin frames';
  if (cap === 'owner-config') return tr.capabilities.ownerConfig && tr.owner ? undefined : "the transport cannot read the owner PF's configuration";
  if (cap === 'sriov-control') return tr.capabilities.sriovControl && tr.sriov ? undefined : 'the transport cannot change NumVFs and VF Enable';
  if (!tr.capabilities.memberPort) return `the transport has no member port (needed for ${cap})`;
  for (const m of t.members) {
    const p = tr.member(m);
    const c = p.capabilities;
    const has: Record<Exclude<Capability, 'member-port' | 'raw-frames' | 'owner-config' | 'sriov-control'>, boolean> = {
      'dma-observation': c.dmaObservation,
      // Accesses inside no-access windows (Stop, Freeze) seen at any level: exact, IOMMU faults, canaries.
      'dma-window-observation': c.dmaObservation || (c.dmaObservationLevel ?? 'none') !== 'none',
      'interrupt-observation': c.interruptObservation,
      'pme-observation': c.pmeObservation,
      flr: c.flr,
      'power-management': c.powerManagement,
      'pci-config': c.pciConfig,
      stimuli: p.stimuli !== undefined,
      'hold-requests': p.stimuli?.holdRequests !== undefined,
      'separate-memory': c.separateMemory,
    };
    if (!has[cap]) return `member ${m}: the transport lacks ${cap}`;
  }
  return undefined;
}

function commandSetMissing(s: Session, set: CommandSetName): string | undefined {
  const present = set === 'context' ? s.commandSets.context : set === 'fields-query' ? s.commandSets.fieldsQuery : s.commandSets.writeRecords;
  return present ? undefined : `the device does not offer the ${set} command set (LIST_QUERY)`;
}

/** A stable 32-bit seed per test, from the run seed and the test id, so one test replays alone. */
export function testSeed(runSeed: number, id: string): number {
  let h = runSeed >>> 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function classify(e: unknown): { verdict: TestVerdict; requirement?: string; message: string } {
  if (e instanceof ConformanceFailure) return { verdict: 'FAIL', requirement: e.requirement, message: e.message };
  if (e instanceof ConformanceSkip) return { verdict: e.verdict, message: e.message };
  if (e instanceof TransportTimeoutError) return { verdict: 'TIMEOUT', message: e.message };
  if (e instanceof TransportClosedError) return { verdict: 'WEDGED', message: `the device was lost: ${e.message}` };
  if (e instanceof TransportAbortedError) return { verdict: 'WEDGED', message: e.message };
  if (e instanceof AdminStatusError) return { verdict: 'FAIL', message: `the device refused a valid command: ${e.message}` };
  if (e instanceof DecodeError) return { verdict: 'FAIL', message: `the device answered malformed data: ${e.message}` };
  if (e instanceof UsedRingError || e instanceof GuestInitError) return { verdict: 'FAIL', message: e.message };
  if (e instanceof Error && (e.name === 'AssertionError' || 'matcherResult' in e)) return { verdict: 'FAIL', message: e.message.split('\n')[0] };
  const err = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { verdict: 'HARNESS_ERROR', message: `harness error (not the device's fault): ${err}` };
}

function deviceRecord(s: Session): DeviceRecord | undefined {
  const i = s.identity;
  return i ? { transport: i.transport, description: i.description, address: i.address, pci: i.pci, serial: i.serial, firmware: i.firmware, members: i.members } : undefined;
}

/** Rejects after `ms` with a TransportTimeoutError: a hung test body never holds the run. */
function bodyDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TransportTimeoutError(what, ms)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function selected(def: ConformanceTestDef, plan: RunPlan): boolean {
  if (plan.tests.length) return plan.tests.includes(def.id);
  const want = new Set(plan.requirements);
  return def.requirements.some((r) => want.has(r));
}

let planCache: RunPlan | undefined;

function currentPlan(): RunPlan | undefined {
  if (!planCache) {
    try {
      planCache = inject('vmctsPlan');
    } catch {
      planCache = undefined;
    }
  }
  return planCache;
}

/**
 * Declares a conformance test. It is registered only when it covers a selected requirement (or is
 * named by `--test`); it runs against the run's shared session from a clean baseline, and leaves
 * its verdict, per-requirement outcomes, wire trace and replay command in its task meta.
 */
export function conformanceTest(def: ConformanceTestDef, body: TestBody): void {
  registerTestDef(def, body);
  const plan = currentPlan();
  if (!plan || !selected(def, plan)) return;
  const budget = def.timeoutMs ?? plan.timeouts.testMs;
  test(def.id, { timeout: budget + plan.timeouts.commandMs * 4 + 5_000 }, async (ctx: TestContext) => {
    const meta = newMeta(def, plan);
    ctx.task.meta.vmcts = meta;
    await executeConformanceTest(def, body, plan, () => getSession(plan), meta);
    if (meta.verdict === 'NOT_APPLICABLE' || meta.verdict === 'NOT_TESTED') ctx.skip(`${meta.verdict}: ${meta.messages.join('; ')}`);
    if (meta.verdict === 'PASS' || meta.verdict === 'WARN') return;
    const err = new Error(`${meta.verdict}: ${meta.messages.join('\n') || 'failed'}`);
    err.name = meta.verdict;
    throw err;
  });
}

export type TestBody = (t: ConformanceContext) => Promise<void>;

export function newMeta(def: ConformanceTestDef, plan: RunPlan): TestMetaRecord {
  return {
    id: def.id,
    title: def.title,
    requirements: def.requirements,
    verdict: 'PASS',
    outcomes: {},
    messages: [],
    findings: [],
    trace: [],
    replay: `${plan.replayBase} --test ${def.id}`,
    driverRuleViolations: [],
    breaks: def.breaks ?? [],
  };
}

/**
 * Runs one conformance test outside or inside vitest: applicability, recovery, baseline, the body
 * under its deadline, verdict classification, per-requirement outcomes, driver-rule check, wire
 * trace. Fills `meta` as it goes, so a record exists even if the run is cut short.
 */
export async function executeConformanceTest(
  def: ConformanceTestDef,
  body: TestBody,
  plan: RunPlan,
  openSession: () => Promise<Session>,
  meta: TestMetaRecord = newMeta(def, plan),
): Promise<TestMetaRecord> {
  const budget = def.timeoutMs ?? plan.timeouts.testMs;
  let session: Session;
  try {
    session = await openSession();
  } catch (e) {
    meta.verdict = 'HARNESS_ERROR';
    meta.messages.push(`could not open the device: ${e instanceof Error ? e.message : String(e)}`);
    for (const r of def.requirements) meta.outcomes[r] = 'HARNESS_ERROR';
    return meta;
  }
  meta.device = deviceRecord(session);
  meta.session = session.record();
  const t = new ConformanceContext(def, session, plan, testSeed(plan.seed, def.id));
  const logStart = session.admin.log.length ? session.admin.log[session.admin.log.length - 1].seq : 0;
  let verdict: TestVerdict = 'PASS';
  let failedReq: string | undefined;
  session.monitor.beginTest(def.breaks ?? []);
  try {
    if ((def.members ?? 1) > session.membersUnderTest.length) {
      t.notTested(`the test needs ${def.members} members under test, the device has ${session.membersUnderTest.length}`);
    }
    for (const set of def.commandSets ?? []) {
      const why = commandSetMissing(session, set);
      if (why) t.notApplicable(why);
    }
    for (const cap of def.needs ?? []) {
      const why = capabilityMissing(t, cap);
      if (why) t.notTested(why);
    }
    const observed = observationOf(t, def.needs ?? []);
    if (observed) meta.observation = observed;
    if (session.wedged && !(await session.recover(t.members))) {
      throw new ConformanceSkip('NOT_TESTED', `not run: ${session.wedged}`);
    }
    try {
      await session.baseline(t.members);
    } catch (e) {
      if (!(await session.recover(t.members))) {
        session.wedged = `the device did not return to the baseline (${e instanceof Error ? e.message : String(e)}) and recovery failed`;
        throw new TransportClosedError(session.wedged);
      }
    }
    await bodyDeadline(body(t), budget, `test ${def.id}`);
  } catch (e) {
    const c = classify(e);
    verdict = c.verdict;
    failedReq = c.requirement;
    t.messages.push(c.message);
    if ((verdict === 'NOT_TESTED' || verdict === 'NOT_APPLICABLE') && session.wedged && c.message.startsWith('not run:')) verdict = 'WEDGED';
  }
  // Per-requirement outcomes: soft checks first, then the verdict that ended the test.
  for (const r of def.requirements) meta.outcomes[r] = t.outcomes.get(r) ?? 'PASS';
  if (verdict !== 'PASS') {
    for (const r of failedReq ? [failedReq] : def.requirements) meta.outcomes[r] = verdict === 'FAIL' ? worse(meta.outcomes[r] ?? 'PASS', 'FAIL') : verdict;
  }
  // A check naming a requirement the test does not list still counts for the test's verdict.
  for (const [r, o] of t.outcomes) if (!(r in meta.outcomes)) meta.outcomes[r] = o;
  let final: TestVerdict = verdict;
  for (const o of Object.values(meta.outcomes)) final = worse(final, o);
  meta.driverRuleViolations = session.monitor.endTest({ bodyCompleted: verdict === 'PASS' });
  if (meta.driverRuleViolations.length) {
    final = 'HARNESS_ERROR';
    for (const v of meta.driverRuleViolations) t.messages.push(`harness error: the suite broke driver rule ${v.rule}: ${v.message}`);
  }
  if (final === 'PASS' && verdict !== 'PASS') final = verdict;
  meta.verdict = final;
  meta.messages = t.messages;
  meta.findings = t.findings;
  if (final !== 'PASS') meta.trace = renderWireTrace(session.admin.log.filter((r) => r.seq > logStart), session.wire);
  if (final === 'TIMEOUT' || final === 'WEDGED') {
    if (!(await session.recover(t.members))) session.wedged ??= `the device stopped answering in ${def.id} and recovery failed`;
  }
  meta.session = session.record();
  return meta;
}
