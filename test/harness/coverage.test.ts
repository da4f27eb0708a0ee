import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../spec/catalog.ts';
import { collectSuiteDefs } from '../../harness/test-registry.ts';
import { DEVICE_TESTABLE } from '../../harness/run/assemble-results.ts';

const TEST_ID = /^[a-z][a-z0-9-]*\.[a-z0-9][a-z0-9.-]*$/;

describe('conformance suite coverage of the catalog', () => {
  it('every testable MUST / MUST NOT / SHOULD / SHOULD NOT requirement has at least one test', async () => {
    const defs = await collectSuiteDefs();
    const covered = new Set(defs.flatMap((d) => d.def.requirements));
    const missing = loadCatalog()
      .requirements.filter((r) => DEVICE_TESTABLE.has(r.testability.class) && r.level !== 'MAY' && !covered.has(r.id))
      .map((r) => `${r.id} (${r.level}, ${r.testability.class})`);
    expect(missing, `testable requirements without a test:\n  ${missing.join('\n  ')}`).toEqual([]);
  });

  it('tests name only catalog requirements, and break on purpose only driver rules', async () => {
    const catalog = loadCatalog();
    const problems: string[] = [];
    for (const { def, file } of await collectSuiteDefs()) {
      for (const id of def.requirements) if (!catalog.has(id)) problems.push(`${file} ${def.id}: unknown requirement ${id}`);
      for (const id of def.breaks ?? []) {
        const r = catalog.byId(id);
        if (!r) problems.push(`${file} ${def.id}: breaks unknown requirement ${id}`);
        else if (r.testability.class !== 'suite-obligation') problems.push(`${file} ${def.id}: breaks ${id}, which is not a driver rule the suite obeys`);
      }
      if (def.requirements.length === 0) problems.push(`${file} ${def.id}: names no requirement`);
    }
    expect(problems).toEqual([]);
  });

  it('test ids are unique and well-formed', async () => {
    const seen = new Map<string, string>();
    const problems: string[] = [];
    for (const { def, file } of await collectSuiteDefs()) {
      if (!TEST_ID.test(def.id)) problems.push(`${file}: test id "${def.id}" is not <area>.<slug>`);
      const prev = seen.get(def.id);
      if (prev) problems.push(`test id ${def.id} is declared in ${prev} and ${file}`);
      seen.set(def.id, file);
    }
    expect(problems).toEqual([]);
  });
});
