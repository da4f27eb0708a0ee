import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_TESTABLE } from '../../harness/run/assemble-results.ts';
import type { ResultsDocument } from '../../reports/results.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

export function vmcts(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/vmcts.mjs'), ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('a full conformance run on the simulator (the reference device)', () => {
  let doc: ResultsDocument;
  let run: { code: number; out: string; err: string };

  beforeAll(() => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'vmcts-full-'));
    run = vmcts(['run', '--out', out]);
    doc = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as ResultsDocument;
  }, 120_000);

  it('is conformant: exit code 0 and the summary says so', () => {
    expect(run.code, run.out + run.err).toBe(0);
    expect(run.out).toMatch(/Result: CONFORMANT \(exit code 0\)/);
  });

  it('passes every device-testable requirement, or finds it not applicable', () => {
    const bad = doc.requirements.filter((r) => DEVICE_TESTABLE.has(r.testability) && r.verdict !== 'PASSED' && r.verdict !== 'NOT_APPLICABLE');
    expect(bad.map((r) => `${r.id}: ${r.verdict} ${r.reason ?? ''}`)).toEqual([]);
  });

  it('has no test that failed, timed out, wedged or hit a harness error', () => {
    const bad = doc.tests.filter((t) => !['PASS', 'NOT_APPLICABLE'].includes(t.verdict));
    expect(bad.map((t) => `${t.id}: ${t.verdict} ${t.messages.join('; ')}`)).toEqual([]);
  });

  it('writes one record per test and per catalog requirement, with the device and profile', () => {
    expect(doc.tests.length).toBeGreaterThan(0);
    expect(new Set(doc.tests.map((t) => t.id)).size).toBe(doc.tests.length);
    expect(doc.requirements.length).toBeGreaterThan(100);
    expect(doc.device?.transport).toBe('simulator');
    expect(doc.profile.id).toBe('seed-v2');
    expect(doc.run.complete).toBe(true);
  });
});

describe('vmcts run argument and config errors', () => {
  it('exits 2 naming the problem', () => {
    const a = vmcts(['run', '--requirement', 'mode.no-such-rule', '--out', os.tmpdir()]);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/requirement "mode\.no-such-rule" is not in the catalog/);
    const b = vmcts(['run', '--transport', 'vfio', '--out', os.tmpdir()]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/transport\.pf: missing/);
    const c = vmcts(['run', '--seed', 'x']);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/--seed: "x" is not a whole number/);
  });
});
