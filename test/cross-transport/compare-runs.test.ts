import { describe, expect, it } from 'vitest';
import type { RequirementRecord, ResultsDocument, TestRecord } from '../../reports/results.ts';
import { compareRuns } from './compare-runs.ts';

function req(id: string, verdict: string, tests: string[], reason?: string): RequirementRecord {
  return { id, level: 'MUST', area: id.split('.')[0], role: 'device', testability: 'owner-only', verdict, tests, ...(reason ? { reason } : {}) } as RequirementRecord;
}

function test(id: string, requirements: string[], verdict: string, messages: string[] = []): TestRecord {
  return { id, requirements, verdict, messages } as unknown as TestRecord;
}

function doc(requirements: RequirementRecord[], tests: TestRecord[]): ResultsDocument {
  return { requirements, tests } as unknown as ResultsDocument;
}

describe('compareRuns (the cross-transport comparison)', () => {
  it('finds nothing between equal runs', () => {
    const d = doc([req('a.x', 'PASSED', ['t1'])], [test('t1', ['a.x'], 'PASS')]);
    expect(compareRuns(d, d)).toEqual([]);
  });

  it('reports a verdict that differs, with both sides, unexplained', () => {
    const a = doc([req('a.x', 'PASSED', ['t1'])], [test('t1', ['a.x'], 'PASS')]);
    const b = doc([req('a.x', 'FAILED', ['t1'], 'status 22')], [test('t1', ['a.x'], 'FAIL', ['bad'])]);
    const [d, ...rest] = compareRuns(a, b);
    expect(rest).toEqual([]);
    expect(d).toMatchObject({ id: 'a.x', a: { verdict: 'PASSED' }, b: { verdict: 'FAILED', reason: 'status 22' } });
    expect(d.explainedBy).toBeUndefined();
  });

  it('reports a reason that differs under the same verdict', () => {
    const a = doc([req('a.x', 'NOT_TESTED', ['t1'], 'one')], []);
    const b = doc([req('a.x', 'NOT_TESTED', ['t1'], 'two')], []);
    expect(compareRuns(a, b)).toHaveLength(1);
  });

  it('explains NOT_TESTED for a capability the transport declares it lacks, and nothing else', () => {
    const a = doc([req('m.x', 'PASSED', ['t1']), req('m.y', 'PASSED', ['t2'])], [test('t1', ['m.x'], 'PASS'), test('t2', ['m.y'], 'PASS')]);
    const b = doc(
      [req('m.x', 'NOT_TESTED', ['t1'], 'r'), req('m.y', 'NOT_TESTED', ['t2'], 'r')],
      [test('t1', ['m.x'], 'NOT_TESTED', ['member 1: the transport lacks dma-observation']), test('t2', ['m.y'], 'NOT_TESTED', ['member 1 did not complete a request in Active'])],
    );
    const diffs = compareRuns(a, b);
    expect(diffs.find((d) => d.id === 'm.x')?.explainedBy).toBe('the transport lacks dma-observation');
    expect(diffs.find((d) => d.id === 'm.y')?.explainedBy).toBeUndefined();
  });

  it('reports a requirement present in one run only', () => {
    const a = doc([req('a.x', 'PASSED', [])], []);
    const b = doc([req('a.x', 'PASSED', []), req('a.y', 'PASSED', [])], []);
    expect(compareRuns(a, b).map((d) => [d.id, d.a.verdict])).toEqual([['a.y', '(absent)']]);
  });
});
