import type { ResultsDocument } from './results.ts';
import { ROLLUP_VERDICTS, TEST_VERDICTS } from './verdicts.ts';

/** The table printed at the end of a run: verdict counts, then every requirement that did not pass. */
export function consoleSummary(doc: ResultsDocument): string {
  const lines: string[] = [];
  const t = doc.summary.tests;
  const r = doc.summary.requirements;
  lines.push('');
  lines.push(`Tests:        ${TEST_VERDICTS.filter((v) => t[v]).map((v) => `${t[v]} ${v}`).join(', ') || 'none ran'}`);
  lines.push(`Requirements: ${ROLLUP_VERDICTS.filter((v) => r[v]).map((v) => `${r[v]} ${v}`).join(', ') || 'none selected'}`);
  const failed = doc.requirements.filter((q) => q.verdict === 'FAILED');
  if (failed.length) {
    lines.push('');
    lines.push('Requirements not met:');
    const w = Math.max(...failed.map((q) => q.id.length));
    for (const q of failed) lines.push(`  ${q.id.padEnd(w)}  ${q.level.padEnd(10)} ${q.reason ?? ''}`);
    const replays = doc.tests.filter((x) => x.verdict === 'FAIL' || x.verdict === 'TIMEOUT' || x.verdict === 'WARN').slice(0, 20);
    if (replays.length) {
      lines.push('');
      lines.push('Replay:');
      for (const x of replays) lines.push(`  ${x.replay}`);
    }
  }
  for (const f of doc.session?.findings ?? []) lines.push(`Finding: ${f}`);
  lines.push('');
  const verdict =
    doc.run.exitCode === 0 ? 'CONFORMANT' : doc.run.exitCode === 1 ? 'NOT CONFORMANT (device failures)' : doc.run.exitCode === 2 ? 'HARNESS OR CONFIG ERROR' : `INCOMPLETE${doc.run.incompleteReason ? `: ${doc.run.incompleteReason}` : ''}`;
  lines.push(`Result: ${verdict} (exit code ${doc.run.exitCode}) in ${(doc.run.durationMs / 1000).toFixed(1)} s, profile ${doc.profile.id}`);
  return lines.join('\n');
}
