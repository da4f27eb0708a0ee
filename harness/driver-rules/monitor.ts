import type { AdminTransport } from '../../protocol/admin-transport.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';

/** The harness broke a driver rule of the draft or the base (our fault: the test is a HARNESS_ERROR). */
export interface DriverRuleViolation {
  /** Catalog id of the driver rule (role owner-driver or member-driver). */
  rule: string;
  message: string;
}

/**
 * Watches everything the harness sends, as owner driver and as member driver, for breaches of the
 * driver rules (catalog entries with testability suite-obligation). A test that breaks a rule on
 * purpose to probe the device names it in `breaks`; any other breach makes the test a HARNESS_ERROR,
 * and a rule enforced here with no breach in the run rolls up PASSED.
 */
export class DriverRuleMonitor {
  readonly transport: AdminTransport;
  /** Rule ids this monitor checks. */
  readonly enforced: readonly string[] = [];
  private allowed = new Set<string>();
  private violations: DriverRuleViolation[] = [];

  constructor(
    inner: AdminTransport,
    readonly wire: WireOptions,
  ) {
    this.transport = inner;
  }

  beginTest(allowed: readonly string[]): void {
    this.allowed = new Set(allowed);
    this.violations = [];
  }

  /** Breaches since beginTest that the test did not declare. */
  endTest(): DriverRuleViolation[] {
    const v = this.violations.filter((x) => !this.allowed.has(x.rule));
    this.violations = [];
    this.allowed = new Set();
    return v;
  }

  protected report(rule: string, message: string): void {
    this.violations.push({ rule, message });
  }
}
