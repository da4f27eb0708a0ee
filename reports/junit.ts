/**
 * junit.xml: the results document as JUnit XML for CI systems (Jenkins, GitLab, GitHub Actions test
 * reporters). One <testsuite> per catalog area (the test id's prefix), one <testcase> per test:
 *   classname = area, name = "<test id>: <title>", properties requirement (one per id), level, verdict;
 *   FAIL, TIMEOUT          -> <failure message type> with messages, decoded wire trace and replay command;
 *   WEDGED, HARNESS_ERROR  -> <error message type> (the run could not judge the device) with the same;
 *   NOT_APPLICABLE/TESTED  -> <skipped message> with the reason;
 *   WARN                   -> passed, with the unmet SHOULD in <system-out>.
 * An incomplete run adds one <testcase classname="vmcts" name="run complete"> in error, so a CI that
 * reads only the XML does not take an aborted run for a green one. Shape checked by reports/junit.xsd.
 */
import builderModule, { type Builder, type TestCase } from 'junit-report-builder';
import type { ResultsDocument, TestRecord } from './results.ts';
import type { TestVerdict } from './verdicts.ts';

// junit-report-builder is CommonJS: its module.exports is the default builder instance.
const junit = builderModule as unknown as Builder;

const LEVEL_ORDER = ['MUST', 'MUST NOT', 'SHOULD', 'SHOULD NOT', 'MAY'];

/** The area of a test: the prefix of its id (`mode.set-same-mode` -> `mode`). */
export function testArea(id: string): string {
  const dot = id.indexOf('.');
  return dot > 0 ? id.slice(0, dot) : 'other';
}

/** CDATA cannot hold "]]>"; xmlbuilder refuses it rather than splitting the section. */
function cdataSafe(s: string): string {
  return s.replaceAll(']]>', ']] >');
}

/** The text body of a non-passing test: messages, findings, decoded wire trace, replay command. */
export function testBody(t: TestRecord): string {
  const parts: string[] = [];
  if (t.messages.length) parts.push(`Messages:\n${t.messages.map((m) => `  ${m}`).join('\n')}`);
  if (t.findings.length) parts.push(`Findings:\n${t.findings.map((m) => `  ${m}`).join('\n')}`);
  if (t.trace.length) parts.push(`Wire trace (admin commands of the test):\n${t.trace.map((m) => `  ${m}`).join('\n')}`);
  if (t.replay) parts.push(`Replay:\n  ${t.replay}`);
  return cdataSafe(parts.join('\n\n'));
}

const FAILURE: ReadonlySet<TestVerdict> = new Set(['FAIL', 'TIMEOUT']);
const ERROR: ReadonlySet<TestVerdict> = new Set(['WEDGED', 'HARNESS_ERROR']);
const SKIPPED: ReadonlySet<TestVerdict> = new Set(['NOT_APPLICABLE', 'NOT_TESTED']);

/** junit-report-builder writes <skipped/> with no attributes; add the reason as its message. */
function skippedWithMessage(tc: TestCase, message: string): void {
  const build = tc.build.bind(tc);
  tc.build = (parent: Parameters<TestCase['build']>[0]) => {
    const el = build(parent);
    for (const child of el.children) {
      const c = child as unknown as { name?: string; att(name: string, value: string): unknown };
      if (c.name === 'skipped') c.att('message', message);
    }
    return el;
  };
}

/** Milliseconds as seconds with 3 decimals (never in exponent notation, which xs:decimal refuses). */
function seconds(ms: number): number {
  return Math.round(Math.max(0, ms)) / 1000;
}

function firstLine(s: string | undefined, fallback: string): string {
  const line = (s ?? '').split('\n')[0].trim();
  return line || fallback;
}

/** Renders junit.xml (UTF-8 text). */
export function renderJunit(doc: ResultsDocument): string {
  const b = junit.newBuilder().name(`vmcts ${doc.tool.version} — profile ${doc.profile.id}`);
  const levelOf = new Map(doc.requirements.map((r) => [r.id, r.level]));
  const areas = new Map<string, TestRecord[]>();
  for (const t of doc.tests) {
    const a = testArea(t.id);
    areas.set(a, [...(areas.get(a) ?? []), t]);
  }
  const suiteProperties = (s: ReturnType<Builder['testSuite']>) => {
    s.property('vmcts.version', doc.tool.version);
    if (doc.tool.commit) s.property('vmcts.commit', doc.tool.commit);
    s.property('profile', doc.profile.id);
    s.property('seed', String(doc.seed));
    if (doc.device) s.property('device', `${doc.device.transport} ${doc.device.address}${doc.device.serial ? ` serial ${doc.device.serial}` : ''}`);
    if (doc.run.shard) s.property('shard', doc.run.shard);
    s.property('complete', String(doc.run.complete));
  };
  for (const [area, tests] of areas) {
    const suite = b.testSuite().name(area).timestamp(doc.run.startedAt);
    suite.time(seconds(tests.reduce((n, t) => n + t.durationMs, 0)));
    suiteProperties(suite);
    for (const t of tests) {
      const tc = suite.testCase().className(area).name(`${t.id}: ${t.title}`).time(seconds(t.durationMs));
      if (t.file) tc.file(t.file);
      for (const r of t.requirements) tc.property('requirement', r);
      const levels = [...new Set(t.requirements.map((r) => levelOf.get(r)).filter((l): l is string => l !== undefined))];
      levels.sort((x, y) => LEVEL_ORDER.indexOf(x) - LEVEL_ORDER.indexOf(y));
      for (const l of levels) tc.property('level', l);
      tc.property('verdict', t.verdict);
      const body = testBody(t);
      const message = `${t.verdict}: ${firstLine(t.messages[0], t.verdict === 'TIMEOUT' ? 'the device did not answer in time' : 'failed')}`;
      if (FAILURE.has(t.verdict)) {
        tc.failure(message, t.verdict).stacktrace(body);
      } else if (ERROR.has(t.verdict)) {
        tc.error(message, t.verdict, body);
      } else if (SKIPPED.has(t.verdict)) {
        tc.skipped();
        skippedWithMessage(tc, `${t.verdict}: ${firstLine(t.messages[0], 'not run')}`);
        tc.standardOutput(body);
      } else if (t.verdict === 'WARN') {
        tc.standardOutput(cdataSafe(`WARNING: a SHOULD is unmet (the test passes; the requirement rolls up FAILED)\n\n`) + body);
      } else if (t.findings.length) {
        tc.standardOutput(body);
      }
    }
  }
  if (!doc.run.complete) {
    const suite = b.testSuite().name('vmcts').timestamp(doc.run.startedAt);
    suiteProperties(suite);
    const reason = doc.run.incompleteReason ?? 'the run did not finish';
    suite
      .testCase()
      .className('vmcts')
      .name('run complete')
      .error(`run incomplete: ${firstLine(reason, 'the run did not finish')}`, 'INCOMPLETE', cdataSafe(`The run did not finish: ${reason}\nTests that did not run have no testcase here; results.json lists every requirement.`));
  }
  return b.build() + '\n';
}
