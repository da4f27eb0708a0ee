import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_RULES, MEMBER_RULES, OWNER_RULES } from '../../harness/driver-rules/rules.ts';
import type { ResultsDocument } from '../../reports/results.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * The harness obeys the driver rules it enforces: a full conformance run on the simulator (the
 * reference device) breaks none of them outside the probes that declare it, and each enforced rule
 * rolls up PASSED ("the suite obeyed it on every command of the run").
 */
describe('a full conformance run on the simulator, as seen by the driver-rule monitor', () => {
  let doc: ResultsDocument;
  let out: string;
  let log: string;

  beforeAll(() => {
    out = mkdtempSync(path.join(os.tmpdir(), 'vmcts-driver-rules-'));
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/vmcts.mjs'), 'run', '--out', out, '--quiet'], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    doc = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as ResultsDocument;
  }, 120_000);

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('has no test in which the suite broke a driver rule it had not declared', () => {
    const bad = doc.tests.filter((t) => t.driverRuleViolations.length).map((t) => `${t.id}: ${t.driverRuleViolations.map((v) => `${v.rule} (${v.message})`).join('; ')}`);
    expect(bad, log).toEqual([]);
  });

  it('enforces the admin, owner and member rules on the simulator', () => {
    const enforced = doc.session?.driverRulesEnforced ?? [];
    for (const r of [...ADMIN_RULES, ...OWNER_RULES, ...MEMBER_RULES]) expect(enforced, r).toContain(r);
  });

  it('rolls up every enforced driver rule PASSED', () => {
    const enforced = new Set(doc.session?.driverRulesEnforced ?? []);
    const rows = doc.requirements.filter((r) => enforced.has(r.id));
    expect(rows.length).toBe(enforced.size);
    const bad = rows.filter((r) => r.testability !== 'suite-obligation' || r.verdict !== 'PASSED').map((r) => `${r.id}: ${r.testability} ${r.verdict} ${r.reason ?? ''}`);
    expect(bad).toEqual([]);
  });
});
