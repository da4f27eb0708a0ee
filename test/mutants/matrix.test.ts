import { beforeAll, describe, expect, it } from 'vitest';
import { MUTANTS } from '../../device/mutants/index.ts';
import { loadCatalog } from '../../spec/catalog.ts';
import { DEVICE_TESTABLE } from '../../harness/run/assemble-results.ts';
import { runMatrix, type MutantResult } from '../../harness/mutation/matrix.ts';

/**
 * MUST rules the profile reads as a warning: VD5's wording is unclear, and the suite reads it as
 * "the used length is a whole number of 8-byte units", reporting a miss as a warning (virtio-admin.md 6.3).
 */
const WARN_READ_MUSTS = new Set(['avq.vd5-writable-multiple-of-8']);

describe('seeded-bug devices (mutants)', () => {
  it('have unique kebab-case names and target catalog requirements', () => {
    const catalog = loadCatalog();
    const names = MUTANTS.map((m) => m.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    for (const m of MUTANTS) {
      expect(m.name, m.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(m.targets.length, `${m.name} targets nothing`).toBeGreaterThan(0);
      for (const t of m.targets) expect(catalog.has(t), `${m.name}: unknown target ${t}`).toBe(true);
      const levels = m.targets.map((t) => catalog.byId(t)!.level);
      if ((m.expect ?? 'FAIL') === 'WARN') {
        const ok = m.targets.every((t, i) => levels[i].startsWith('SHOULD') || WARN_READ_MUSTS.has(t));
        expect(ok, `${m.name}: WARN only for SHOULD targets (or a MUST the suite reads as a warning)`).toBe(true);
      }
    }
  });

  it('cover every testable MUST and SHOULD of the catalog with at least one mutant', () => {
    const targeted = new Set(MUTANTS.flatMap((m) => m.targets));
    const missing = loadCatalog()
      .requirements.filter((r) => DEVICE_TESTABLE.has(r.testability.class) && r.level !== 'MAY' && !targeted.has(r.id))
      .map((r) => `${r.id} (${r.level})`);
    expect(missing, `testable requirements no mutant breaks:\n  ${missing.join('\n  ')}`).toEqual([]);
  });
});

describe('the mutation matrix', () => {
  let results: MutantResult[];
  beforeAll(async () => {
    results = await runMatrix();
  }, 300_000);

  it('kills every mutant: each target requirement FAILED (WARN for a SHOULD) by some test', () => {
    const survivors = results.filter((r) => !r.killed).map((r) => `${r.name}: ${r.detail.map((d) => `${d.requirement}=${d.outcome} [${d.tests.join(', ') || 'no test'}]`).join('; ')}`);
    expect(survivors, `surviving mutants:\n  ${survivors.join('\n  ')}`).toEqual([]);
  });

  it('runs without harness errors', () => {
    const errs = results.flatMap((r) => r.harnessErrors.map((e) => `${r.name}: ${e}`));
    expect(errs).toEqual([]);
  });
});
