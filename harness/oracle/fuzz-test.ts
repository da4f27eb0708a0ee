/**
 * Glue between the property-based tests (suites/fuzz) and the conformance test wrapper: budgets
 * (`--fuzz-runs`, the test's deadline), the world over the run's session, and the report of a
 * fast-check outcome as verdicts. A failure becomes a FAIL of each requirement the shrunk run broke,
 * with the seed, the path, the shrunk command sequence, the steps with their outcomes, and a replay
 * line that runs exactly that sequence again:
 *
 *   vmcts run [...] --seed <run seed> --test <id> --replay <path>[@<commands replay path>]
 *
 * The run seed (not the per-test seed) goes in the line: the per-test seed is derived from it and the
 * test id (harness/ctest.ts testSeed), so `--test <id> --seed <run seed>` gives the test the same seed.
 */
import { inject } from 'vitest';
import type { ConformanceContext } from '../ctest.ts';
import type { GuestDriverInit } from '../guest/guest-driver.ts';
import { FuzzWorld } from './fuzz-world.ts';
import type { FuzzOutcome, FuzzRunOptions } from './machine.ts';
import { fuzzEnvOf } from './session-env.ts';
import { formatViolation } from './types.ts';

/**
 * The test deadline for a fuzz test: the run's default unless `--fuzz-runs` (or the config's
 * fuzz.runs) asks for long runs, then enough for that many runs of about `perRunMs`.
 */
export function fuzzTimeoutMs(perRunMs: number): number | undefined {
  let runs: number | undefined;
  try {
    runs = inject('vmctsPlan')?.fuzzRuns;
  } catch {
    runs = undefined;
  }
  if (!runs) return undefined;
  return Math.max(30_000, Math.ceil(runs * perRunMs * 4) + 10_000);
}

/** Executions a failure may spend shrinking under the default budget. */
export const DEFAULT_SHRINK_RUNS = 40;

/** fast-check options of a test: its seed, `--fuzz-runs` or the default, `--replay`, and a time limit inside its deadline. */
export function fuzzOptions(t: ConformanceContext, defaultRuns: number): FuzzRunOptions {
  const budget = t.def.timeoutMs ?? t.plan.timeouts.testMs;
  return {
    seed: t.seed,
    numRuns: t.plan.fuzzRuns ?? defaultRuns,
    // A replay path belongs to one test: it is used only when that test is selected by --test.
    ...(t.plan.replayPath && t.plan.tests.includes(t.def.id) ? { replay: t.plan.replayPath } : {}),
    timeLimitMs: Math.max(1_000, Math.floor(budget * 0.8)),
    // The default budget also bounds shrinking; a long run (--fuzz-runs) shrinks to the end.
    ...(t.plan.fuzzRuns ? {} : { shrinkRuns: DEFAULT_SHRINK_RUNS }),
  };
}

/** A world over the test's session and members; violations of rules the test does not list are findings. */
export function fuzzWorld(t: ConformanceContext, o: { workload?: boolean; guestInit?: GuestDriverInit } = {}): FuzzWorld {
  const world = new FuzzWorld(fuzzEnvOf(t.session, t.members), { workloadMembers: o.workload ? [t.members[0]] : [], guestInit: o.guestInit });
  world.listed = new Set(t.def.requirements);
  return world;
}

/**
 * Turns a fast-check outcome into the test's verdicts and messages. A harness or transport error that
 * stopped the fuzzing is rethrown after its context is recorded (the wrapper makes it TIMEOUT, WEDGED,
 * FAIL or HARNESS_ERROR as for any test).
 */
export function reportFuzz(t: ConformanceContext, out: FuzzOutcome, world: FuzzWorld): void {
  const listed = new Set(t.def.requirements);
  for (const { v, sequence } of world.soft.values()) {
    const msg = `${formatViolation(v)} (after [${sequence.join(', ')}])`;
    if (v.severity === 'warn' && listed.has(v.rule)) t.should(v.rule, false, msg);
    else t.finding(`[${v.rule}] ${msg}`);
  }
  const replayLine = `${t.plan.replayBase} --test ${t.def.id}${out.replay ? ` --replay ${out.replay}` : ''}`;
  const d = out.details;
  if (out.error !== undefined) {
    t.messages.push(`fuzzing stopped after ${out.runs} run(s): ${out.error instanceof Error ? `${out.error.name}: ${out.error.message}` : String(out.error)}`);
    if (out.errorSequence?.length) t.messages.push(`steps of the run:\n    ${out.errorSequence.join('\n    ')}`);
    t.messages.push(`seed ${t.seed} (run seed ${t.plan.seed}); rerun: ${replayLine}`);
    throw out.error;
  }
  if (d?.failed && !out.failure) {
    // fast-check itself failed (a replay path that does not fit, a time limit with nothing found).
    t.fail(undefined, `fast-check: ${d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance ?? 'failed')} (seed ${t.seed}, path ${d.counterexamplePath ?? '-'})`);
  }
  if (!out.failure) return;
  const f = out.failure;
  for (const v of f.violations) t.check(v.rule, false, formatViolation(v));
  t.messages.push(
    d
      ? `fast-check: failed after ${d.numRuns} run(s), shrunk ${d.numShrinks} time(s); seed ${d.seed} (run seed ${t.plan.seed}), path ${d.counterexamplePath ?? '-'}`
      : 'failed before the first fast-check run (setup)',
  );
  t.messages.push(`shrunk command sequence: [${f.sequence.join(', ')}]`);
  t.messages.push(`steps (-> outcome):\n    ${f.steps.join('\n    ')}`);
  t.messages.push(`replay: ${replayLine}`);
  // Keep only the failing run's commands in the wire trace of this test.
  const log = t.admin.log;
  const first = log.findIndex((r) => r.seq >= f.seqFrom);
  if (first > 0) {
    const keep = log.filter((r) => r.seq >= f.seqFrom && r.seq <= f.seqTo);
    const before = log.slice(0, first).filter((r) => r.seq < (world.firstSeq ?? 0));
    log.length = 0;
    log.push(...before, ...keep);
  }
}
