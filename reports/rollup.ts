import type { RequirementRecord, ResultsDocument, TestRecord } from './results.ts';
import { ROLLUP_VERDICTS, rollup, TEST_VERDICTS, type RequirementOutcome, type RollupVerdict, type TestVerdict } from './verdicts.ts';

/** What the rollup needs of a catalog entry (spec/catalog.ts entries are structurally one). */
export interface RequirementView {
  id: string;
  level: string;
  area: string;
  role: string;
  testability: { class: string; reason?: string };
  /** The rule in words; copied into the record when present. */
  rule?: string;
  /** Errata ids the requirement depends on; copied into the record when present. */
  errata?: readonly string[];
}

/** Testability classes a device test exists for; the others are rolled up NOT_TESTED with their reason. */
export const DEVICE_TESTABLE = new Set(['owner', 'member', 'dma', 'pci', 'interrupt']);

function reasonFor(verdict: RollupVerdict, outcomes: { test: TestRecord; outcome: RequirementOutcome }[]): string | undefined {
  if (verdict === 'PASSED') return undefined;
  const pick = (pred: (o: RequirementOutcome) => boolean) => outcomes.filter((o) => pred(o.outcome)).map((o) => `${o.test.id}: ${o.outcome}${o.test.messages[0] ? ` (${o.test.messages[0]})` : ''}`);
  if (verdict === 'FAILED') return pick((o) => o === 'FAIL' || o === 'TIMEOUT' || o === 'WARN').join('; ');
  return pick((o) => o !== 'PASS').join('; ') || undefined;
}

/**
 * Rolls up every selected requirement from the tests that ran. `enforced` are the driver rules the
 * harness's monitor checked on every command (a suite obligation with no test passes when the run
 * sent commands and the monitor saw no violation).
 */
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
    const base = {
      id: req.id,
      level: req.level,
      area: req.area,
      role: req.role,
      testability: req.testability.class,
      tests: outs.map((o) => o.test.id),
      ...(req.rule !== undefined ? { rule: req.rule } : {}),
      ...(req.errata !== undefined ? { errata: [...req.errata] } : {}),
    };
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
    const reason = reasonFor(verdict, outs);
    return { ...base, verdict, ...(reason !== undefined ? { reason } : {}) };
  });
}

/** Verdict counts of the tests and of the requirement rollups. */
export function summarize(tests: readonly TestRecord[], requirements: readonly RequirementRecord[]): ResultsDocument['summary'] {
  const testCounts = Object.fromEntries(TEST_VERDICTS.map((v) => [v, 0])) as Record<TestVerdict, number>;
  for (const t of tests) testCounts[t.verdict]++;
  const reqCounts = Object.fromEntries(ROLLUP_VERDICTS.map((v) => [v, 0])) as Record<RollupVerdict, number>;
  for (const r of requirements) reqCounts[r.verdict]++;
  return { tests: testCounts, requirements: reqCounts };
}
