import os from 'node:os';
import type { RequirementRecord, ResultsDocument, TestRecord } from '../../reports/results.ts';
import { exitCodeOf, ROLLUP_VERDICTS, rollup, TEST_VERDICTS, type RequirementOutcome, type RollupVerdict, type TestVerdict } from '../../reports/verdicts.ts';
import type { CollectedRun } from './collector.ts';
import type { RunPlan } from './run-plan.ts';

/** What the rollup needs of a catalog entry. */
export interface RequirementView {
  id: string;
  level: string;
  area: string;
  role: string;
  testability: { class: string; reason?: string };
}

/** Testability classes a device test exists for; the others are rolled up NOT_TESTED with their reason. */
export const DEVICE_TESTABLE = new Set(['owner', 'member', 'dma', 'pci', 'interrupt']);

export function hostRecord(): ResultsDocument['host'] {
  return { hostname: os.hostname(), platform: os.platform(), release: os.release(), arch: os.arch(), node: process.version, cpus: os.cpus().length };
}

function reasonFor(verdict: RollupVerdict, outcomes: { test: TestRecord; outcome: RequirementOutcome }[]): string | undefined {
  if (verdict === 'PASSED') return undefined;
  const pick = (pred: (o: RequirementOutcome) => boolean) => outcomes.filter((o) => pred(o.outcome)).map((o) => `${o.test.id}: ${o.outcome}${o.test.messages[0] ? ` (${o.test.messages[0]})` : ''}`);
  if (verdict === 'FAILED') return pick((o) => o === 'FAIL' || o === 'TIMEOUT' || o === 'WARN').join('; ');
  return pick((o) => o !== 'PASS').join('; ') || undefined;
}

/** Rolls up every selected requirement from the tests that ran. */
export function rollupRequirements(selected: readonly RequirementView[], tests: readonly TestRecord[], enforced: readonly string[] = []): RequirementRecord[] {
  const broken = new Map<string, string[]>();
  for (const t of tests) for (const v of t.driverRuleViolations) broken.set(v.rule, [...(broken.get(v.rule) ?? []), t.id]);
  const enforcedSet = new Set(enforced);
  const ranAny = tests.some((t) => t.verdict !== 'NOT_APPLICABLE' && t.verdict !== 'NOT_TESTED');
  const byReq = new Map<string, { test: TestRecord; outcome: RequirementOutcome }[]>();
  for (const t of tests) {
    for (const r of t.requirements) {
      const list = byReq.get(r) ?? [];
      list.push({ test: t, outcome: t.outcomes[r] ?? t.verdict });
      byReq.set(r, list);
    }
  }
  return selected.map((req) => {
    const outs = byReq.get(req.id) ?? [];
    const base = { id: req.id, level: req.level, area: req.area, role: req.role, testability: req.testability.class, tests: outs.map((o) => o.test.id) };
    if (req.testability.class === 'suite-obligation' && enforcedSet.has(req.id) && outs.length === 0) {
      const by = broken.get(req.id);
      if (by) return { ...base, verdict: 'NOT_TESTED' as const, reason: `the harness broke this driver rule in ${by.join(', ')} (a harness error, not the device's)` };
      if (ranAny) return { ...base, verdict: 'PASSED' as const, reason: `the suite obeyed it on every command of the run (driver-rule monitor)` };
    }
    if (!DEVICE_TESTABLE.has(req.testability.class) && outs.length === 0) {
      const why =
        req.testability.class === 'suite-obligation'
          ? `binds the suite as driver; checked by the suite's own tests${req.testability.reason ? ` (${req.testability.reason})` : ''}`
          : `not testable: ${req.testability.reason ?? 'no reason given'}`;
      return { ...base, verdict: 'NOT_TESTED' as const, reason: why };
    }
    if (outs.length === 0) return { ...base, verdict: 'NOT_TESTED' as const, reason: 'no test of this run covers it' };
    const verdict = rollup(outs.map((o) => o.outcome));
    return { ...base, verdict, reason: reasonFor(verdict, outs) };
  });
}

export interface AssembleInput {
  plan: RunPlan;
  collected: CollectedRun;
  selected: readonly RequirementView[];
  startedAt: Date;
  endedAt: Date;
  incompleteReason?: string;
  profile: ResultsDocument['profile'];
  command: string;
}

export function assembleResults(a: AssembleInput): ResultsDocument {
  const tests = a.collected.tests;
  const requirements = rollupRequirements(a.selected, tests, a.collected.session?.driverRulesEnforced ?? []);
  const complete = !a.incompleteReason;
  const testCounts = Object.fromEntries(TEST_VERDICTS.map((v) => [v, 0])) as Record<TestVerdict, number>;
  for (const t of tests) testCounts[t.verdict]++;
  const reqCounts = Object.fromEntries(ROLLUP_VERDICTS.map((v) => [v, 0])) as Record<RollupVerdict, number>;
  for (const r of requirements) reqCounts[r.verdict]++;
  const verdicts = tests.map((t) => t.verdict);
  if (a.collected.brokenFiles.length) verdicts.push('HARNESS_ERROR');
  return {
    schemaVersion: 1,
    tool: a.plan.tool,
    run: {
      startedAt: a.startedAt.toISOString(),
      endedAt: a.endedAt.toISOString(),
      durationMs: a.endedAt.getTime() - a.startedAt.getTime(),
      complete,
      ...(a.incompleteReason ? { incompleteReason: a.incompleteReason } : {}),
      exitCode: exitCodeOf(verdicts, complete),
      ...(a.plan.shard ? { shard: a.plan.shard } : {}),
      command: a.command,
    },
    ...(a.plan.configFile ? { configFile: a.plan.configFile } : {}),
    config: a.plan.config,
    profile: a.profile,
    seed: a.plan.seed,
    device: a.collected.device,
    host: hostRecord(),
    session: a.collected.session,
    tests,
    requirements,
    summary: { tests: testCounts, requirements: reqCounts },
  };
}
