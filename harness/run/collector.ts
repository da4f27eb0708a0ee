import path from 'node:path';
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import type { DeviceRecord, SessionRecord, TestRecord } from '../../reports/results.ts';
import type { TestVerdict } from '../../reports/verdicts.ts';
import type { TestMetaRecord } from '../ctest.ts';

export interface CollectedRun {
  tests: TestRecord[];
  device: DeviceRecord | null;
  session: SessionRecord | null;
  /** Files that could not be loaded or whose hooks failed (the run is incomplete). */
  brokenFiles: string[];
}

export type ProgressSink = (line: string) => void;

/**
 * A vitest reporter that turns each finished conformance test into a TestRecord (from the meta the
 * test left) and prints one progress line per test. It writes nothing itself: the run command
 * builds results.json from what it collected, so an aborted run still has everything so far.
 */
export class ResultsCollector implements Reporter {
  readonly run: CollectedRun = { tests: [], device: null, session: null, brokenFiles: [] };
  private readonly root: string;

  constructor(
    root: string,
    private readonly progress: ProgressSink,
  ) {
    this.root = root;
  }

  onTestCaseResult(testCase: TestCase): void {
    const rec = this.record(testCase);
    // A test the run was cancelled before it started (SIGINT, run time limit): no result to record.
    if (!rec) return;
    this.run.tests.push(rec);
    const ms = rec.durationMs < 10 ? rec.durationMs.toFixed(1) : Math.round(rec.durationMs).toString();
    this.progress(`${rec.verdict.padEnd(14)} ${rec.id}  (${ms} ms)${rec.verdict === 'PASS' ? '' : `  ${rec.messages[0] ?? ''}`}`);
  }

  onTestModuleEnd(module: TestModule): void {
    const errors = module.errors();
    if (module.state() === 'failed' && errors.length) {
      const file = path.relative(this.root, module.moduleId);
      this.run.brokenFiles.push(`${file}: ${errors.map((e) => e.message).join('; ')}`);
      this.progress(`HARNESS_ERROR  ${file} could not run: ${errors[0]?.message ?? 'unknown error'}`);
    }
  }

  private record(tc: TestCase): TestRecord | undefined {
    const meta: TestMetaRecord | undefined = tc.meta().vmcts;
    const result = tc.result();
    const diag = tc.diagnostic();
    const file = path.relative(this.root, tc.module.moduleId);
    if (meta?.device && !this.run.device) this.run.device = meta.device;
    if (meta?.session) this.run.session = meta.session;
    if (!meta && (result.state === 'pending' || result.state === 'skipped')) return undefined;
    if (!meta) {
      // The wrapper never ran (vitest failed the test before it): the tool's fault.
      const errs = result.state === 'failed' ? result.errors.map((e) => e.message) : [];
      return {
        id: tc.name,
        title: tc.name,
        file,
        requirements: [],
        verdict: 'HARNESS_ERROR',
        outcomes: {},
        durationMs: diag?.duration ?? 0,
        messages: errs.length ? errs : ['the test ended without a verdict'],
        findings: [],
        trace: [],
        replay: '',
        driverRuleViolations: [],
        breaks: [],
      };
    }
    let verdict: TestVerdict = meta.verdict;
    const messages = [...meta.messages];
    let outcomes = meta.outcomes;
    if (result.state === 'skipped' && verdict === 'PASS') {
      // Cancelled while its body ran (the wrapper skips only with NOT_APPLICABLE/NOT_TESTED): it did not finish.
      verdict = 'NOT_TESTED';
      messages.push(`not finished: ${result.note ?? 'the run was aborted'}`);
      outcomes = Object.fromEntries(meta.requirements.map((r) => [r, 'NOT_TESTED' as const]));
    }
    if (result.state === 'failed' && verdict === 'PASS') {
      // vitest's own timeout or an error thrown past the wrapper.
      const msg = result.errors.map((e) => e.message).join('; ');
      verdict = /timed out/i.test(msg) ? 'TIMEOUT' : 'HARNESS_ERROR';
      messages.push(msg);
    }
    return {
      id: meta.id,
      title: meta.title,
      file,
      requirements: meta.requirements,
      verdict,
      outcomes,
      durationMs: diag?.duration ?? 0,
      messages,
      findings: meta.findings,
      trace: meta.trace,
      replay: meta.replay,
      driverRuleViolations: meta.driverRuleViolations ?? [],
      breaks: meta.breaks ?? [],
      ...(meta.observation ? { observation: meta.observation } : {}),
    };
  }
}
