import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { coveringTests } from '../../harness/catalog-coverage.ts';
import { formatTable } from '../../harness/cli/commands/list.ts';
import { loadCatalog } from '../../spec/catalog.ts';
import { PROJECT_ROOT } from '../../spec/seed-sentences.ts';

function vmcts(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin/vmcts.mjs'), ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('vmcts list', () => {
  const catalog = loadCatalog();

  it('--json prints the profile and every requirement with its covering tests', () => {
    const r = vmcts('list', '--json');
    expect(r.code, r.err).toBe(0);
    const doc = JSON.parse(r.out) as { profile: { id: string; settings: object }; requirements: { id: string; tests: string[]; source: unknown[] }[] };
    expect(doc.profile.id).toBe('seed-v2');
    expect(doc.requirements.map((x) => x.id)).toEqual(catalog.ids());
    for (const x of doc.requirements) {
      expect(Array.isArray(x.tests)).toBe(true);
      expect(x.source.length).toBeGreaterThan(0);
    }
  });

  it('--area mode prints a table of the mode area only, headed by the active profile', () => {
    const r = vmcts('list', '--area', 'mode');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^profile: seed-v2 \(/);
    expect(lines[1]).toMatch(/^id\s+level\s+role\s+area\s+testability\s+tests$/);
    const rows = lines.slice(3, -1);
    const modeCount = catalog.filter({ area: 'mode' }).length;
    expect(rows).toHaveLength(modeCount);
    expect(rows.every((l) => l.startsWith('mode.'))).toBe(true);
    expect(lines.at(-1)).toBe(`${modeCount} of ${catalog.size} requirements`);
  });

  it('filters by level and role, and names the profile given', () => {
    const r = vmcts('list', '--json', '--level', 'must-not', 'MUST_NOT', '--role', 'driver', '--profile', 'seed-v2-text-opcodes');
    expect(r.code, r.err).toBe(0);
    const doc = JSON.parse(r.out) as { profile: { id: string }; requirements: { level: string; role: string }[] };
    expect(doc.profile.id).toBe('seed-v2-text-opcodes');
    expect(doc.requirements.length).toBe(catalog.filter({ level: 'MUST NOT', role: 'driver' }).length);
    expect(doc.requirements.every((x) => x.level === 'MUST NOT' && x.role.endsWith('-driver'))).toBe(true);
  });

  it('refuses an unknown filter value or profile with exit code 2', () => {
    for (const args of [['--area', 'modes'], ['--level', 'MUSTNT'], ['--role', 'owner'], ['--profile', 'nope']]) {
      const r = vmcts('list', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(/^vmcts: unknown /);
    }
  });
});

describe('catalog coverage', () => {
  it('names only requirements of the catalog in the shipped suites', async () => {
    const catalog = loadCatalog();
    const unknown = [...(await coveringTests()).keys()].filter((id) => !catalog.has(id));
    expect(unknown, `suites name requirement ids the catalog lacks: ${unknown.join(', ')}`).toEqual([]);
  });

  it('aligns table columns', () => {
    expect(formatTable(['a', 'bb'], [['xxx', 'y']]).split('\n')).toEqual(['a    bb', '---  --', 'xxx  y']);
  });
});
