import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../harness/errors.ts';
import { buildCatalog, CATALOG_DIR, CatalogError, loadCatalog, loadCatalogFrom, type CatalogFile } from '../../spec/catalog.ts';

/** The shipped catalog files, deep-copied so a test can break one. */
function shippedFiles(): { file: string; data: Record<string, unknown>[] }[] {
  const catalog = loadCatalog();
  const areas = [...new Set(catalog.requirements.map((r) => r.area))];
  return areas.map((area) => {
    const file = path.join(CATALOG_DIR, `${area}.json`);
    return { file, data: JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>[] };
  });
}

function expectCatalogError(files: CatalogFile[], match: { file: string; index?: number; id?: string; reason: RegExp }): void {
  let err: unknown;
  try {
    buildCatalog(files);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CatalogError);
  // A HarnessError: the CLI prints the message and exits with code 2.
  expect(err).toBeInstanceOf(HarnessError);
  const ce = err as CatalogError;
  expect(ce.file).toBe(match.file);
  if (match.index !== undefined) expect(ce.index).toBe(match.index);
  if (match.id !== undefined) expect(ce.entryId).toBe(match.id);
  expect(ce.reason).toMatch(match.reason);
  // The message alone tells the user where and why.
  expect(ce.message).toContain(path.basename(match.file));
  if (match.id !== undefined) expect(ce.message).toContain(match.id);
}

/** A copy of the shipped files with entry `index` of area `area` changed by `edit`. */
function broken(area: string, index: number, edit: (e: Record<string, unknown>) => void): { files: CatalogFile[]; file: string; id: string } {
  const files = shippedFiles();
  const f = files.find((x) => x.file.endsWith(`${path.sep}${area}.json`))!;
  const id = f.data[index].id as string;
  edit(f.data[index]);
  return { files, file: f.file, id };
}

describe('requirement catalog: schema and loader', () => {
  it('accepts the shipped catalog', () => {
    const catalog = loadCatalogFrom(CATALOG_DIR);
    expect(catalog.size).toBeGreaterThan(100);
    expect(() => buildCatalog(shippedFiles())).not.toThrow();
  });

  it('rejects an entry with a required field missing', () => {
    const b = broken('mode', 2, (e) => delete e.rule);
    expectCatalogError(b.files, { file: b.file, index: 2, id: b.id, reason: /must have required property 'rule'/ });
  });

  it('rejects a level outside the enum', () => {
    const b = broken('mode', 0, (e) => (e.level = 'MUST not'));
    expectCatalogError(b.files, { file: b.file, index: 0, id: b.id, reason: /\/level must be equal to one of the allowed values/ });
  });

  it('rejects an id that breaks the id pattern', () => {
    const b = broken('wr', 1, (e) => (e.id = 'wr.Bad_Id'));
    expectCatalogError(b.files, { file: b.file, index: 1, id: 'wr.Bad_Id', reason: /\/id must match pattern/ });
  });

  it('rejects not-testable without a reason', () => {
    const files = shippedFiles();
    const f = files.find((x) => x.file.endsWith(`${path.sep}admin.json`))!;
    const index = f.data.findIndex((e) => (e.testability as { class: string }).class === 'not-testable');
    f.data[index].testability = { class: 'not-testable' };
    expectCatalogError(files, { file: f.file, index, id: f.data[index].id as string, reason: /\/testability must have required property 'reason'/ });
  });

  it('rejects a suite-obligation without a reason', () => {
    const files = shippedFiles();
    const f = files.find((x) => x.file.endsWith(`${path.sep}driver.json`))!;
    const index = f.data.findIndex((e) => (e.testability as { class: string }).class === 'suite-obligation');
    f.data[index].testability = { class: 'suite-obligation' };
    expectCatalogError(files, { file: f.file, index, reason: /must have required property 'reason'/ });
  });

  it('rejects an unknown property', () => {
    const b = broken('ctx-read', 0, (e) => (e.severity = 'high'));
    expectCatalogError(b.files, { file: b.file, index: 0, id: b.id, reason: /must NOT have additional properties 'severity'/ });
  });

  it('rejects a bad source digest', () => {
    const b = broken('mode', 0, (e) => ((e.source as { sha256: string }[])[0].sha256 = 'abc'));
    expectCatalogError(b.files, { file: b.file, index: 0, id: b.id, reason: /sha256 must match pattern/ });
  });

  it('rejects a prose entry without notes', () => {
    const files = shippedFiles();
    const f = files.find((x) => x.file.endsWith(`${path.sep}ctx-read.json`))!;
    const index = f.data.findIndex((e) => e.normativity === 'prose');
    delete f.data[index].notes;
    expectCatalogError(files, { file: f.file, index, reason: /must have required property 'notes'/ });
  });

  it('rejects a device rule with testability suite-obligation', () => {
    const b = broken('mode', 0, (e) => (e.testability = { class: 'suite-obligation', reason: 'the harness obeys this, apparently' }));
    expectCatalogError(b.files, { file: b.file, index: 0, reason: /\/testability\/class must NOT be valid/ });
  });

  it('rejects a duplicate id, naming both places', () => {
    const files = shippedFiles();
    const mode = files.find((x) => x.file.endsWith(`${path.sep}mode.json`))!;
    const dup = structuredClone(mode.data[0]);
    mode.data.push(dup);
    expectCatalogError(files, { file: mode.file, index: mode.data.length - 1, id: dup.id as string, reason: /duplicate id \(first defined in .*mode\.json, entry 0\)/ });
  });

  it('rejects an unknown errata id', () => {
    const b = broken('wr', 0, (e) => (e.errata = ['E99']));
    expectCatalogError(b.files, { file: b.file, index: 0, id: b.id, reason: /unknown erratum id 'E99'/ });
  });

  it('rejects an errata id outside the id pattern', () => {
    const b = broken('wr', 0, (e) => (e.errata = ['X1']));
    expectCatalogError(b.files, { file: b.file, index: 0, id: b.id, reason: /\/errata\/0 must match pattern/ });
  });

  it('rejects an id whose prefix differs from its area', () => {
    const b = broken('mode', 0, (e) => (e.id = 'member.default-active'));
    expectCatalogError(b.files, { file: b.file, index: 0, id: 'member.default-active', reason: /id prefix 'member' differs from area 'mode'/ });
  });

  it('rejects an entry stored in another area file', () => {
    const b = broken('mode', 0, (e) => {
      e.id = 'member.default-active';
      e.area = 'member';
    });
    expectCatalogError(b.files, { file: b.file, index: 0, reason: /belongs in member\.json/ });
  });

  it('rejects probedBy naming an unknown requirement', () => {
    const files = shippedFiles();
    const f = files.find((x) => x.file.endsWith(`${path.sep}driver.json`))!;
    const index = f.data.findIndex((e) => Array.isArray(e.probedBy));
    f.data[index].probedBy = ['mode.no-such-rule'];
    expectCatalogError(files, { file: f.file, index, reason: /probedBy names unknown requirement 'mode\.no-such-rule'/ });
  });

  it('rejects probedBy naming a driver rule', () => {
    const files = shippedFiles();
    const f = files.find((x) => x.file.endsWith(`${path.sep}driver.json`))!;
    const index = f.data.findIndex((e) => Array.isArray(e.probedBy));
    f.data[index].probedBy = [f.data[(index + 1) % f.data.length].id as string];
    expectCatalogError(files, { file: f.file, index, reason: /is not a device requirement/ });
  });

  it('rejects probedBy on a device rule', () => {
    const b = broken('mode', 0, (e) => (e.probedBy = ['mode.set-applies-mode']));
    expectCatalogError(b.files, { file: b.file, index: 0, reason: /\/probedBy boolean schema is false/ });
  });

  it('rejects a file whose name is not an area', () => {
    expectCatalogError([{ file: '/x/spec/catalog/misc.json', data: [] }], { file: '/x/spec/catalog/misc.json', reason: /file name must be <area>\.json/ });
  });
});

describe('requirement catalog: content rules', () => {
  const catalog = loadCatalog();

  it('filters by level, role and area', () => {
    const mode = catalog.filter({ area: 'mode' });
    expect(mode.length).toBeGreaterThan(5);
    expect(mode.every((r) => r.area === 'mode')).toBe(true);
    const drivers = catalog.filter({ role: 'driver' });
    expect(drivers.every((r) => r.role === 'owner-driver' || r.role === 'member-driver')).toBe(true);
    expect(drivers.some((r) => r.role === 'member-driver')).toBe(true);
    const mustNot = catalog.filter({ level: ['MUST NOT'], area: ['member', 'wr'] });
    expect(mustNot.every((r) => r.level === 'MUST NOT' && (r.area === 'member' || r.area === 'wr'))).toBe(true);
    expect(catalog.byId('mode.set-same-mode-succeeds')?.seedIndex).toBe('SD2');
    expect(catalog.byId('nope.nope')).toBeUndefined();
  });

  it('indexes every paragraph of the seed requirement index (SD1..SD21 with bullets, SR1..SR7)', () => {
    const expected = [
      ...['SD1', 'SD2', 'SD3', 'SD4', 'SD5', 'SD6', 'SD7', 'SD8', 'SD9', 'SD10'],
      ...['SD11a', 'SD11b', 'SD11c', 'SD11d', 'SD11e', 'SD11f', 'SD11g', 'SD12a', 'SD12b', 'SD13'],
      ...['SD14a', 'SD14b', 'SD14c', 'SD14d', 'SD14e', 'SD15', 'SD16', 'SD17', 'SD18', 'SD19', 'SD20', 'SD21'],
      ...['SR1', 'SR2', 'SR3', 'SR4', 'SR5', 'SR6', 'SR7'],
    ];
    const have = new Set(catalog.requirements.map((r) => r.seedIndex));
    expect(expected.filter((x) => !have.has(x))).toEqual([]);
  });

  it('gives every driver rule that a device test breaks on purpose a reverse link', () => {
    expect(catalog.driverRulesBrokenBy('mode.set-fails-while-write-partial')).toContain('driver.no-leave-freeze-with-partial-write');
    for (const r of catalog.requirements) {
      for (const p of r.probedBy ?? []) expect(catalog.driverRulesBrokenBy(p)).toContain(r.id);
    }
  });

  it('binds driver rules to the suite: suite-obligation or not-testable, with a reason', () => {
    for (const r of catalog.filter({ role: 'driver' })) {
      expect(['suite-obligation', 'not-testable'], r.id).toContain(r.testability.class);
      expect(r.testability.reason, r.id).toBeTruthy();
    }
  });

  it('gives every MAY of the device a not-testable reason or a check', () => {
    for (const r of catalog.filter({ level: 'MAY' })) {
      if (r.testability.class === 'not-testable') expect(r.testability.reason!.length, r.id).toBeGreaterThan(20);
    }
  });
});
