/**
 * report.html: one self-contained page for engineers and reviewers. The results document is
 * embedded as JSON (a <script type="application/json">, with every "<" escaped so no "</script>" in a
 * message can end it); the inline script (reports/html-template.ts) builds the verdict summary, the
 * requirement matrix with filters (verdict, level, area) and search, per-test detail (messages,
 * findings, wire trace, replay command with a copy button), device and host identity, and the
 * profile's errata readings. A Content-Security-Policy forbids every external resource, so the page
 * works from file:// and makes no network request.
 */
import type { ResultsDocument } from './results.ts';
import { REPORT_CSS, REPORT_JS } from './html-template.ts';
import { resultLine } from './summary-md.ts';
import { ROLLUP_VERDICTS, TEST_VERDICTS } from './verdicts.ts';

/** Text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** JSON that is safe inside a <script> element: no "<" (so no "</script>" or "<!--"), no U+2028/2029. */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";
const FAVICON = 'data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22 viewBox=%220 0 16 16%22%3E%3Crect width=%2216%22 height=%2216%22 rx=%223%22 fill=%22%231b1f24%22/%3E%3C/svg%3E';

export function renderHtml(doc: ResultsDocument): string {
  const e = escapeHtml;
  const dev = doc.device;
  const title = `vmcts ${resultLine(doc)} — ${dev ? dev.description : 'no device'} — profile ${doc.profile.id}`;
  const counts = (verdicts: readonly string[], c: Record<string, number>) =>
    verdicts
      .filter((v) => c[v])
      .map((v) => `${c[v]} ${v}`)
      .join(', ') || 'none';
  const banner = doc.run.complete
    ? ''
    : `<div class="banner" id="incomplete" role="alert"><b>Incomplete run:</b> ${e(doc.run.incompleteReason ?? 'the run did not finish')}. Requirements whose tests did not run are NOT_TESTED.</div>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${e(`${doc.tool.name} ${doc.tool.version}`)}">
<title>${e(title)}</title>
<link rel="icon" href="${FAVICON}">
<style>${REPORT_CSS}</style>
</head>
<body>
<header class="top">
<h1>vmcts conformance report</h1>
<div><span class="result exit-${doc.run.exitCode}" id="result">${e(resultLine(doc))}</span><span class="meta">exit code ${doc.run.exitCode} · profile <b>${e(doc.profile.id)}</b> · seed ${doc.seed} · ${e(doc.run.startedAt)} · ${(doc.run.durationMs / 1000).toFixed(1)} s${doc.run.shard ? ` · shard ${e(doc.run.shard)}` : ''}${doc.merged ? ` · merged from ${doc.merged.shards.length} shards` : ''}</span></div>
<div class="meta" id="device-line">${dev ? `${e(dev.description)} · ${e(dev.transport)} ${e(dev.address)}${dev.serial ? ` · serial ${e(dev.serial)}` : ''}${dev.firmware ? ` · firmware ${e(dev.firmware)}` : ''}` : 'device not opened'} · host ${e(doc.host.hostname)} · vmcts ${e(doc.tool.version)}${doc.tool.commit ? ` (${e(doc.tool.commit.slice(0, 12))})` : ''}</div>
</header>
${banner}
<nav class="toc"><a href="#summary">Summary</a><a href="#requirements">Requirements</a><a href="#tests">Tests</a><a href="#identity">Device and host</a><a href="#profile">Profile and errata</a><a href="#run">Run</a></nav>
<main id="app">
<noscript><p>Requirements: ${e(counts(ROLLUP_VERDICTS, doc.summary.requirements))}. Tests: ${e(counts(TEST_VERDICTS, doc.summary.tests))}. The full report needs JavaScript; results.json beside this file holds everything.</p></noscript>
</main>
<script type="application/json" id="vmcts-data">${scriptSafeJson(doc)}</script>
<script>${REPORT_JS}</script>
</body>
</html>
`;
}
