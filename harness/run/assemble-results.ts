import os from 'node:os';
import type { ResultsDocument } from '../../reports/results.ts';
import { rollupRequirements, type RequirementView } from '../../reports/rollup.ts';
import { exitCodeOf, ROLLUP_VERDICTS, TEST_VERDICTS, type RollupVerdict, type TestVerdict } from '../../reports/verdicts.ts';
import type { CollectedRun } from './collector.ts';
import type { RunPlan } from './run-plan.ts';

// The rollup lives in reports/ (merge recomputes it); re-exported for the harness and its tests.
export { DEVICE_TESTABLE, rollupRequirements, type RequirementView } from '../../reports/rollup.ts';

export function hostRecord(): ResultsDocument['host'] {
  return { hostname: os.hostname(), platform: os.platform(), release: os.release(), arch: os.arch(), node: process.version, cpus: os.cpus().length };
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
