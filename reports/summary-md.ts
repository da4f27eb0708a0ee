/**
 * summary.md: the results document as GitHub-flavoured Markdown for CI step summaries
 * (`cat vmcts-out/summary.md >> "$GITHUB_STEP_SUMMARY"`): the result line, verdict counts, the
 * requirements not met, every test that did not pass with its trace and replay command, and the
 * device, host and profile the verdicts hold for.
 */
import type { ResultsDocument, TestRecord } from './results.ts';
import { ROLLUP_VERDICTS, TEST_VERDICTS } from './verdicts.ts';

/** The run's result in words, from its exit code. */
export function resultLine(doc: ResultsDocument): string {
  const c = doc.run.exitCode;
  if (c === 0) return 'CONFORMANT';
  if (c === 1) return 'NOT CONFORMANT (device failures)';
  if (c === 2) return 'HARNESS OR CONFIG ERROR';
  return `INCOMPLETE${doc.run.incompleteReason ? `: ${doc.run.incompleteReason}` : ''}`;
}

/** Text in a line or table cell: no line breaks, pipes escaped, no HTML (GitHub renders inline HTML). */
function cell(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r?\n/g, ' ')
    .replace(/\|/g, '\\|');
}

/** A fenced block that its content cannot close. */
function fence(lines: readonly string[]): string {
  const text = lines.join('\n');
  let ticks = '```';
  while (text.includes(ticks)) ticks += '`';
  return `${ticks}text\n${text}\n${ticks}`;
}

const MAX_TESTS = 50;
const MAX_REQUIREMENTS = 100;

export function renderSummaryMd(doc: ResultsDocument): string {
  const out: string[] = [];
  const icon = doc.run.exitCode === 0 ? '✅' : doc.run.exitCode === 1 ? '❌' : '⚠️';
  out.push(`## ${icon} vmcts: ${cell(resultLine(doc))}`);
  out.push('');
  const dev = doc.device;
  out.push(
    `Profile **${doc.profile.id}** · seed ${doc.seed} · ${dev ? `device ${cell(dev.description)} (${cell(dev.transport)} ${cell(dev.address)}${dev.serial ? `, serial ${cell(dev.serial)}` : ''})` : 'no device opened'} · exit code ${doc.run.exitCode} · ${(doc.run.durationMs / 1000).toFixed(1)} s${doc.run.shard ? ` · shard ${doc.run.shard}` : ''}`,
  );
  out.push('');
  out.push('| tests | count |  | requirements | count |');
  out.push('| --- | ---: | --- | --- | ---: |');
  const t = TEST_VERDICTS.filter((v) => doc.summary.tests[v]);
  const r = ROLLUP_VERDICTS.filter((v) => doc.summary.requirements[v]);
  for (let i = 0; i < Math.max(t.length, r.length, 1); i++) {
    const tv = t[i];
    const rv = r[i];
    out.push(`| ${tv ?? ''} | ${tv ? doc.summary.tests[tv] : ''} |  | ${rv ?? ''} | ${rv ? doc.summary.requirements[rv] : ''} |`);
  }
  out.push('');
  const failed = doc.requirements.filter((q) => q.verdict === 'FAILED');
  if (failed.length) {
    out.push(`### Requirements not met (${failed.length})`);
    out.push('');
    out.push('| requirement | level | why |');
    out.push('| --- | --- | --- |');
    for (const q of failed.slice(0, MAX_REQUIREMENTS)) out.push(`| \`${q.id}\` | ${q.level} | ${cell(q.reason ?? '')} |`);
    if (failed.length > MAX_REQUIREMENTS) out.push(`| … | | ${failed.length - MAX_REQUIREMENTS} more in report.html |`);
    out.push('');
  }
  const bad = doc.tests.filter((x) => x.verdict !== 'PASS' && x.verdict !== 'NOT_APPLICABLE' && x.verdict !== 'NOT_TESTED');
  if (bad.length) {
    out.push(`### Tests that did not pass (${bad.length})`);
    out.push('');
    for (const x of bad.slice(0, MAX_TESTS)) out.push(testDetails(x));
    if (bad.length > MAX_TESTS) out.push(`${bad.length - MAX_TESTS} more in report.html.\n`);
  }
  const findings = doc.session?.findings ?? [];
  if (findings.length) {
    out.push('### Findings');
    out.push('');
    for (const f of findings) out.push(`- ${cell(f)}`);
    out.push('');
  }
  const overridden = doc.profile.readings.filter((x) => x.overridden);
  out.push(
    `<sub>vmcts ${doc.tool.version}${doc.tool.commit ? ` (${doc.tool.commit.slice(0, 12)})` : ''} · host ${cell(doc.host.hostname)} ${doc.host.platform}/${doc.host.arch} node ${doc.host.node} · ${doc.profile.readings.length} errata readings${overridden.length ? `, overridden: ${overridden.map((x) => `${x.setting}=${String(x.value)}`).join(', ')}` : ''} · started ${doc.run.startedAt}</sub>`,
  );
  return out.join('\n') + '\n';
}

function testDetails(x: TestRecord): string {
  const lines: string[] = [];
  lines.push(`<details><summary><b>${x.verdict}</b> <code>${escapeHtml(x.id)}</code> — ${escapeHtml(x.messages[0] ?? x.title)}</summary>`);
  lines.push('');
  lines.push(`${cell(x.title)} — requirements: ${x.requirements.map((r) => `\`${r}\``).join(', ')}`);
  lines.push('');
  const body = [...x.messages, ...x.findings.map((f) => `finding: ${f}`)];
  if (body.length) lines.push(fence(body), '');
  if (x.trace.length) lines.push('Wire trace:', '', fence(x.trace), '');
  if (x.replay) lines.push('Replay:', '', fence([x.replay]), '');
  lines.push('</details>');
  lines.push('');
  return lines.join('\n');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r?\n/g, ' ');
}
