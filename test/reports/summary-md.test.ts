import { describe, expect, it } from 'vitest';
import { renderSummaryMd } from '../../reports/summary-md.ts';
import { sampleDoc } from './fixtures.ts';

describe('summary.md', () => {
  const doc = sampleDoc();
  const md = renderSummaryMd(doc);

  it('leads with the result and the verdict counts', () => {
    expect(md.split('\n')[0]).toBe('## ⚠️ vmcts: HARNESS OR CONFIG ERROR');
    expect(md).toContain(`| PASS | ${doc.summary.tests.PASS} |  | PASSED | ${doc.summary.requirements.PASSED} |`);
    expect(md).toContain('Profile **seed-v2** · seed 7');
  });

  it('lists the requirements not met and every test that did not pass, with trace and replay', () => {
    for (const r of doc.requirements.filter((q) => q.verdict === 'FAILED')) expect(md).toContain(`| \`${r.id}\` | ${r.level} |`);
    for (const t of doc.tests.filter((x) => ['FAIL', 'WARN', 'TIMEOUT', 'WEDGED', 'HARNESS_ERROR'].includes(x.verdict))) {
      expect(md).toContain(`<code>${t.id}</code>`);
      expect(md).toContain(t.replay);
    }
    expect(md).not.toContain('<code>mode.pass-one</code>');
  });

  it('keeps hostile text inert: no raw HTML tags from messages, table cells unbroken, fences not closed early', () => {
    // Fenced code is text; everywhere else markup from a message is escaped.
    expect(md.replace(/^(`{3,})text\n[\s\S]*?\n\1$/gm, '')).not.toMatch(/<script|<b>bold|<!--/);
    const fences = md.match(/^`{3,}/gm) ?? [];
    expect(fences.length % 2).toBe(0);
    expect(md).toMatch(/^````text$/m);
  });

  it('says when the run is incomplete', () => {
    expect(renderSummaryMd(sampleDoc({ complete: false, incompleteReason: 'interrupted by SIGINT', tests: [] })).split('\n')[0]).toBe('## ⚠️ vmcts: INCOMPLETE: interrupted by SIGINT');
  });
});
