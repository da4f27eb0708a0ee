import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../spec/catalog.ts';

const SNAPSHOT = path.join(path.dirname(new URL(import.meta.url).pathname), 'catalog-ids.txt');

describe('requirement ids are stable', () => {
  const ids = loadCatalog().ids();
  const published = readFileSync(SNAPSHOT, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('keeps every published id (removing or renaming one is deliberate: edit test/spec/catalog-ids.txt)', () => {
    const have = new Set(ids);
    const gone = published.filter((id) => !have.has(id));
    expect(
      gone,
      `ids in test/spec/catalog-ids.txt are missing from spec/catalog/: ${gone.join(', ')}. Reports and certification packages cite ids; ` +
        'if the removal or rename is deliberate, delete the old id from test/spec/catalog-ids.txt in the same commit.',
    ).toEqual([]);
  });

  it('has unique, well-formed ids', () => {
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9-]*\.[a-z0-9][a-z0-9.-]*$/);
    expect(new Set(published).size).toBe(published.length);
  });
});
