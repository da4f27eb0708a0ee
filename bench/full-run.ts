import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { condition, info, round, type Benchmark, type BenchFigure } from './figure.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Issue 4: a full conformance run on the simulator in at most 10 s wall, vitest start-up included. */
export const FULL_RUN_TARGET_S = 10;

/** Wall time of `vmcts run` (the default config: simulator, every requirement), process start to exit. */
export const fullRun: Benchmark = {
  id: 'full-run',
  title: 'full conformance run on the simulator, wall time including start-up',
  async run(o): Promise<BenchFigure[]> {
    // --quick is the bench's own self-test; the full run has a self-test of its own (test/harness).
    if (o.quick) return [];
    const out = mkdtempSync(path.join(os.tmpdir(), 'vmcts-bench-run-'));
    try {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/vmcts.mjs'), 'run', '--quiet', '--out', out], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, encoding: 'utf8' });
      const s = (performance.now() - t0) / 1000;
      const doc = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as { tests: unknown[]; run: { exitCode: number } };
      o.log?.(`full-run: exit code ${r.status}, ${doc.tests.length} tests`);
      return [
        condition('full-run-seconds', round(s, 2), 's', `<= ${FULL_RUN_TARGET_S}`, s <= FULL_RUN_TARGET_S && r.status === 0),
        info('full-run-tests', doc.tests.length, 'tests'),
      ];
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
};
