import { describe, expect, it } from 'vitest';
import { exitCodeOf, rollup } from '../../reports/verdicts.ts';
import { rollupRequirements } from '../../harness/run/assemble-results.ts';
import type { TestRecord } from '../../reports/results.ts';

function rec(id: string, reqs: string[], verdict: TestRecord['verdict'], outcomes: TestRecord['outcomes'] = {}): TestRecord {
  return { id, title: id, file: 'x', requirements: reqs, verdict, outcomes, durationMs: 1, messages: [], findings: [], trace: [], replay: '', driverRuleViolations: [], breaks: [] };
}

describe('requirement rollup', () => {
  it('follows DESIGN.md', () => {
    expect(rollup([])).toBe('NOT_TESTED');
    expect(rollup(['PASS', 'PASS'])).toBe('PASSED');
    expect(rollup(['PASS', 'NOT_TESTED'])).toBe('PASSED_PARTIAL');
    expect(rollup(['PASS', 'WEDGED'])).toBe('PASSED_PARTIAL');
    expect(rollup(['PASS', 'NOT_APPLICABLE'])).toBe('PASSED');
    expect(rollup(['PASS', 'FAIL'])).toBe('FAILED');
    expect(rollup(['TIMEOUT'])).toBe('FAILED');
    expect(rollup(['WARN', 'PASS'])).toBe('FAILED');
    expect(rollup(['NOT_APPLICABLE', 'NOT_APPLICABLE'])).toBe('NOT_APPLICABLE');
    expect(rollup(['NOT_APPLICABLE', 'NOT_TESTED'])).toBe('NOT_TESTED');
    expect(rollup(['HARNESS_ERROR'])).toBe('NOT_TESTED');
  });

  it('uses per-requirement outcomes, so one failed rule does not fail the others of a test', () => {
    const reqs = [
      { id: 'a.x', level: 'MUST', area: 'a', role: 'device', testability: { class: 'owner' } },
      { id: 'a.y', level: 'MUST', area: 'a', role: 'device', testability: { class: 'owner' } },
      { id: 'a.z', level: 'MAY', area: 'a', role: 'device', testability: { class: 'not-testable', reason: 'permission' } },
      { id: 'a.d', level: 'MUST', area: 'a', role: 'owner-driver', testability: { class: 'suite-obligation', reason: 'driver' } },
    ];
    const out = rollupRequirements(reqs, [rec('t1', ['a.x', 'a.y'], 'FAIL', { 'a.x': 'PASS', 'a.y': 'FAIL' })], ['a.d']);
    expect(out.map((r) => r.verdict)).toEqual(['PASSED', 'FAILED', 'NOT_TESTED', 'PASSED']);
    expect(out[2].reason).toMatch(/not testable: permission/);
  });
});

describe('exit codes', () => {
  it('0 conformant, 1 device failures, 2 harness error, 3 incomplete', () => {
    expect(exitCodeOf(['PASS', 'WARN', 'NOT_APPLICABLE'], true)).toBe(0);
    expect(exitCodeOf(['PASS', 'FAIL'], true)).toBe(1);
    expect(exitCodeOf(['TIMEOUT'], true)).toBe(1);
    expect(exitCodeOf(['FAIL', 'HARNESS_ERROR'], true)).toBe(2);
    expect(exitCodeOf(['PASS', 'WEDGED'], true)).toBe(3);
    expect(exitCodeOf(['PASS'], false)).toBe(3);
  });
});
