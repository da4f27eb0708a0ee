/** Test verdicts (DESIGN.md "Requirements, verdicts, reports"). */
export const TEST_VERDICTS = ['PASS', 'FAIL', 'WARN', 'NOT_APPLICABLE', 'NOT_TESTED', 'TIMEOUT', 'WEDGED', 'HARNESS_ERROR'] as const;
export type TestVerdict = (typeof TEST_VERDICTS)[number];

/** Requirement rollup verdicts. */
export const ROLLUP_VERDICTS = ['PASSED', 'PASSED_PARTIAL', 'FAILED', 'NOT_TESTED', 'NOT_APPLICABLE'] as const;
export type RollupVerdict = (typeof ROLLUP_VERDICTS)[number];

/** Outcome of one requirement within one test (a test may check several requirements). */
export type RequirementOutcome = TestVerdict;

/** Which verdict wins when one test records several outcomes for a requirement. */
const SEVERITY: Record<TestVerdict, number> = {
  PASS: 0,
  NOT_APPLICABLE: 1,
  NOT_TESTED: 2,
  WARN: 3,
  FAIL: 4,
  TIMEOUT: 5,
  WEDGED: 6,
  HARNESS_ERROR: 7,
};

export function worse(a: TestVerdict, b: TestVerdict): TestVerdict {
  return SEVERITY[a] >= SEVERITY[b] ? a : b;
}

/**
 * Rolls up the outcomes of every test that covered one requirement:
 * - any FAIL or TIMEOUT is FAILED; a WARN is FAILED too (the SHOULD is unmet; the run's exit code
 *   counts only MUST-level failures);
 * - all PASS is PASSED; PASS mixed with tests that could not run (NOT_TESTED, WEDGED, HARNESS_ERROR)
 *   is PASSED_PARTIAL;
 * - nothing that ran: NOT_APPLICABLE if every test said so, else NOT_TESTED.
 */
export function rollup(outcomes: readonly RequirementOutcome[]): RollupVerdict {
  if (outcomes.length === 0) return 'NOT_TESTED';
  if (outcomes.some((o) => o === 'FAIL' || o === 'TIMEOUT' || o === 'WARN')) return 'FAILED';
  const passed = outcomes.filter((o) => o === 'PASS').length;
  const applicable = outcomes.filter((o) => o !== 'NOT_APPLICABLE');
  if (passed > 0) return passed === applicable.length ? 'PASSED' : 'PASSED_PARTIAL';
  if (applicable.length === 0) return 'NOT_APPLICABLE';
  return 'NOT_TESTED';
}

/** Exit codes: 0 conformant, 1 device failures, 2 config/harness error, 3 incomplete run. */
export const EXIT_CODES = { CONFORMANT: 0, DEVICE_FAILURES: 1, HARNESS: 2, INCOMPLETE: 3 } as const;

/**
 * The run's exit code from its test verdicts: a harness error (our fault) outranks an incomplete run,
 * which outranks device failures. WARN (a SHOULD unmet) does not make a device non-conformant.
 */
export function exitCodeOf(verdicts: readonly TestVerdict[], complete: boolean): number {
  if (verdicts.includes('HARNESS_ERROR')) return EXIT_CODES.HARNESS;
  if (!complete || verdicts.includes('WEDGED')) return EXIT_CODES.INCOMPLETE;
  if (verdicts.includes('FAIL') || verdicts.includes('TIMEOUT')) return EXIT_CODES.DEVICE_FAILURES;
  return EXIT_CODES.CONFORMANT;
}
