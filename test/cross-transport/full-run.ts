import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ResultsDocument } from '../../reports/results.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A full `vmcts run` of the reference device on `transport` (extra flags after it), read back from its results.json. */
export function fullRun(transport: string, ...flags: string[]): { doc: ResultsDocument; code: number; out: string; seconds: number } {
  const out = mkdtempSync(path.join(os.tmpdir(), `vmcts-${transport}-`));
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/vmcts.mjs'), 'run', '--transport', transport, '--out', out, ...flags], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 280_000,
  });
  const seconds = (performance.now() - t0) / 1000;
  return { doc: JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as ResultsDocument, code: r.status ?? -1, out: r.stdout + r.stderr, seconds };
}
