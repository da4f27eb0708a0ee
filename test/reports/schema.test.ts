import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { consistencyProblems, readResults, RESULTS_SCHEMA_PATH, ResultsSchemaError, schemaProblems } from '../../reports/results-schema.ts';
import { ROLLUP_VERDICTS, TEST_VERDICTS } from '../../reports/verdicts.ts';
import { writeResults } from '../../reports/write-results.ts';
import { sampleDoc } from './fixtures.ts';
import { tmpDir } from './helpers.ts';

const schema = JSON.parse(readFileSync(RESULTS_SCHEMA_PATH, 'utf8')) as { $defs: Record<string, { enum?: string[] }> };
const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('results.schema.json', () => {
  it('is draft 2020-12 and its verdict enums are the ones of reports/verdicts.ts', () => {
    expect((schema as unknown as { $schema: string }).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$defs.testVerdict.enum).toEqual([...TEST_VERDICTS]);
    expect(schema.$defs.rollupVerdict.enum).toEqual([...ROLLUP_VERDICTS]);
  });

  it('accepts a complete and an incomplete document', () => {
    expect(schemaProblems(roundTrip(sampleDoc()))).toEqual([]);
    expect(schemaProblems(roundTrip(sampleDoc({ complete: false, incompleteReason: 'the device stopped answering' })))).toEqual([]);
    expect(consistencyProblems(sampleDoc())).toEqual([]);
  });

  it('is strict: unknown members, unknown verdicts, missing fields and bad timestamps are refused, each named', () => {
    const extra = roundTrip(sampleDoc()) as unknown as Record<string, unknown>;
    extra.surprise = 1;
    expect(schemaProblems(extra)).toEqual(["(root) must NOT have additional properties 'surprise'"]);

    const verdict = roundTrip(sampleDoc());
    (verdict.tests[0] as { verdict: string }).verdict = 'PASSED';
    expect(schemaProblems(verdict).join('\n')).toMatch(/\/tests\/0\/verdict must be equal to one of the allowed values/);

    const rollup = roundTrip(sampleDoc());
    (rollup.requirements[0] as { verdict: string }).verdict = 'PASS';
    expect(schemaProblems(rollup).join('\n')).toMatch(/\/requirements\/0\/verdict must be equal to one of the allowed values/);

    const noTrace = roundTrip(sampleDoc()) as unknown as { tests: Record<string, unknown>[] };
    delete noTrace.tests[1].trace;
    expect(schemaProblems(noTrace).join('\n')).toMatch(/\/tests\/1 must have required property 'trace'/);

    const time = roundTrip(sampleDoc());
    time.run.startedAt = 'yesterday';
    expect(schemaProblems(time).join('\n')).toMatch(/\/run\/startedAt must match format "date-time"/);

    const deviceExtra = roundTrip(sampleDoc()) as unknown as { device: Record<string, unknown> };
    deviceExtra.device.colour = 'blue';
    expect(schemaProblems(deviceExtra).join('\n')).toMatch(/\/device must NOT have additional properties 'colour'/);
  });

  it('requires the reason of an incomplete run, and no reason for a complete one', () => {
    const a = roundTrip(sampleDoc({ complete: false }));
    delete a.run.incompleteReason;
    expect(schemaProblems(a).join('\n')).toMatch(/\/run must have required property 'incompleteReason'/);
    const b = roundTrip(sampleDoc());
    b.run.incompleteReason = 'x';
    expect(schemaProblems(b)).not.toEqual([]);
  });

  it('consistency checks catch duplicate tests and summary counts that do not match', () => {
    const d = sampleDoc();
    d.tests.push({ ...d.tests[0] });
    d.summary.tests.PASS = 99;
    const problems = consistencyProblems(d);
    expect(problems).toContain(`test ${d.tests[0].id} is recorded twice`);
    expect(problems.some((p) => p.startsWith('summary.tests.PASS is 99'))).toBe(true);
  });
});

describe('writeResults', () => {
  it('validates what it writes and reads back the same document', () => {
    const dir = tmpDir('results');
    const doc = sampleDoc();
    const file = writeResults(dir, doc);
    expect(readResults(file)).toEqual(roundTrip(doc));
  });

  it('refuses an invalid document, keeping it as results.invalid.json', () => {
    const dir = tmpDir('results');
    const doc = sampleDoc();
    (doc as unknown as { seed: number }).seed = -1;
    expect(() => writeResults(dir, doc)).toThrow(ResultsSchemaError);
    expect(() => writeResults(dir, doc)).toThrow(/\/seed must be >= 0/);
    expect(existsSync(path.join(dir, 'results.json'))).toBe(false);
    expect(existsSync(path.join(dir, 'results.invalid.json'))).toBe(true);
  });
});
