import { createVitest } from 'vitest/node';
import { ResultsCollector, type CollectedRun, type ProgressSink } from './collector.ts';
import type { RunPlan } from './run-plan.ts';

export const SUITE_GLOB = 'suites/**/*.suite.ts';

export interface VitestRunResult {
  collected: CollectedRun;
  /** Why the run did not finish, when it did not (time limit, abort, vitest failure). */
  incompleteReason?: string;
}

/**
 * Runs the conformance suites in one vitest worker, files in order and not isolated, so the
 * transport opened by the first test serves the whole run (DESIGN.md: the device under test is one
 * exclusive resource). The whole run is bounded by the plan's runMs, and `signal` aborts it; either
 * way what finished so far is returned.
 */
export async function runSuites(plan: RunPlan, root: string, progress: ProgressSink, signal?: AbortSignal): Promise<VitestRunResult> {
  const collector = new ResultsCollector(root, progress);
  const shard = plan.shard;
  const ownSignalListeners = new Set([...process.listeners('SIGINT'), ...process.listeners('SIGTERM')]);
  const vitest = await createVitest(
    'test',
    {
      config: false,
      root,
      include: [SUITE_GLOB],
      watch: false,
      pool: 'forks',
      maxWorkers: 1,
      fileParallelism: false,
      isolate: false,
      passWithNoTests: true,
      reporters: [collector],
      provide: { vmctsPlan: plan },
      testTimeout: plan.timeouts.testMs + 10_000,
      hookTimeout: plan.timeouts.testMs,
      teardownTimeout: 5_000,
      sequence: { shuffle: false, concurrent: false },
      ...(shard ? { shard } : {}),
    },
    { logLevel: 'error', clearScreen: false },
  );
  // vitest's logger exits the process on SIGINT/SIGTERM; the run command handles them itself (it aborts
  // the run and still writes the report), so drop the listeners vitest added.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) for (const l of process.listeners(sig)) if (!ownSignalListeners.has(l)) process.off(sig, l);
  let incompleteReason: string | undefined;
  const cancel = (why: string) => {
    incompleteReason ??= why;
    void vitest.cancelCurrentRun('keyboard-input');
  };
  const timer = setTimeout(() => cancel(`the run exceeded its limit of ${plan.timeouts.runMs} ms`), plan.timeouts.runMs);
  const onAbort = () => cancel(signal?.reason instanceof Error ? signal.reason.message : 'the run was aborted');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await vitest.start();
  } catch (e) {
    incompleteReason ??= `vitest failed: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    await vitest.close().catch(() => undefined);
  }
  if (!incompleteReason && collector.run.brokenFiles.length) incompleteReason = `${collector.run.brokenFiles.length} suite file(s) could not run`;
  return { collected: collector.run, incompleteReason };
}
