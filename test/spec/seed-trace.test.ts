import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog, type Requirement, type SeedSource } from '../../spec/catalog.ts';
import {
  extractSentences,
  listSentences,
  PROJECT_ROOT,
  seedMboxAvailable,
  seedMboxPath,
  sentenceDigest,
  sentenceKeywords,
  type RequirementKeyword,
} from '../../spec/seed-sentences.ts';

const catalog = loadCatalog();
const seedSources = (r: Requirement) => r.source.filter((s): s is SeedSource => s.kind === 'seed');

describe('seed sentence extraction (synthetic mbox)', () => {
  const mbox = [
    '* [virtio-comment] [PATCH v2 1/8] first',
    'diff --git a/x.tex b/x.tex',
    '--- a/x.tex',
    '+++ b/x.tex',
    '@@ -1,2 +1,9 @@ \\section{X}',
    'context line',
    '+The device MUST do a. It MAY do b; then',
    '+it SHOULD not do c, i.e. nothing.',
    '+',
    '+\\begin{itemize}',
    '+\\item the device MUST not stop.',
    '+\\item 1. How? \\\\',
    '+\\end{itemize}',
    '+\\begin{lstlisting}',
    '+struct s {',
    '+ le16 a;',
    '+};',
    '+\\end{lstlisting}',
    '+Old sentence here.',
    '--',
    '2.34.1',
    '^ permalink raw reply related [flat|nested] 14+ messages in thread* [virtio-comment] [PATCH v2 2/8] second',
    'diff --git a/x.tex b/x.tex',
    '@@ -9,1 +9,1 @@',
    '-Old sentence here.',
    '+New sentence here.',
    'diff --git a/notes.txt b/notes.txt',
    '@@ -1 +1 @@',
    '+The device MUST be ignored: not a .tex file.',
    '--',
  ].join('\n');
  const s = extractSentences(mbox);

  it('splits after a period, not after i.e. or a leading enumeration number, never at a semicolon', () => {
    const texts = s.filter((x) => x.kind === 'text').map((x) => x.text);
    expect(texts).toEqual([
      'The device MUST do a.',
      'It MAY do b; then it SHOULD not do c, i.e. nothing.',
      'the device MUST not stop.',
      '1. How?',
      'Old sentence here.',
      'New sentence here.',
    ]);
  });

  it('keeps the mbox line of each sentence start and the patch', () => {
    const at = (t: string) => s.find((x) => x.text === t)!;
    expect([at('The device MUST do a.').line, at('The device MUST do a.').patch]).toEqual([7, 1]);
    expect(at('It MAY do b; then it SHOULD not do c, i.e. nothing.').line).toBe(7);
    expect(at('It MAY do b; then it SHOULD not do c, i.e. nothing.').endLine).toBe(8);
    expect(at('the device MUST not stop.').line).toBe(11);
    expect([at('New sentence here.').line, at('New sentence here.').patch]).toEqual([26, 2]);
  });

  it('reads upper-case keywords only, "MUST not" and "SHOULD not" as negations', () => {
    expect(s.find((x) => x.line === 7 && x.text.startsWith('It'))!.keywords).toEqual(['MAY', 'SHOULD NOT']);
    expect(s.find((x) => x.line === 11)!.keywords).toEqual(['MUST NOT']);
    expect(sentenceKeywords('the device must not; it MUST NOT; it MUST; it SHOULD; it may')).toEqual(['MUST NOT', 'MUST', 'SHOULD']);
  });

  it('treats a listing as one unit without keywords, and ignores files that are not .tex', () => {
    const listing = s.filter((x) => x.kind === 'listing');
    expect(listing.map((x) => x.text)).toEqual(['struct s { le16 a; };']);
    expect(s.some((x) => x.text.includes('not a .tex file'))).toBe(false);
  });

  it('marks a sentence removed by a later patch as not surviving', () => {
    const old = s.find((x) => x.text === 'Old sentence here.')!;
    expect(old.survives).toBe(false);
    expect(old.removedBy).toBe(2);
    expect(s.find((x) => x.text === 'New sentence here.')!.survives).toBe(true);
  });

  it('digests the whitespace-normalized text', () => {
    expect(sentenceDigest('  a \n\t b  ')).toBe(sentenceDigest('a b'));
    expect(s[0].sha256).toBe(sentenceDigest('The device MUST do a.'));
  });
});

const haveSeed = seedMboxAvailable();
const skipNote = haveSeed ? '' : ` (skipped: seed mbox not found at ${seedMboxPath()}; set VMCTS_SEED_MBOX)`;

describe.skipIf(!haveSeed)(`catalog traced to the seed draft${skipNote}`, () => {
  const sentences = haveSeed ? listSentences() : [];

  it('reads the eight patches of the seed', () => {
    expect([...new Set(sentences.map((x) => x.patch))].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('finds, for every seed source of every entry, a surviving sentence at that patch and line with that digest', () => {
    const problems: string[] = [];
    for (const r of catalog.requirements) {
      for (const src of seedSources(r)) {
        const here = sentences.filter((x) => x.patch === src.patch && x.line === src.line);
        const hit = here.find((x) => x.sha256 === src.sha256);
        if (!hit) {
          problems.push(
            `${r.id}: no sentence of patch ${src.patch} starting at line ${src.line} has digest ${src.sha256.slice(0, 12)}…` +
              (here.length ? ` (sentences there: ${here.map((x) => `${x.sha256.slice(0, 12)}… "${x.text.slice(0, 60)}"`).join('; ')})` : ''),
          );
        } else if (!hit.survives) {
          problems.push(`${r.id}: patch ${src.patch} line ${src.line} was removed by patch ${hit.removedBy}; cite the end state`);
        }
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('claims every sentence with MUST/SHOULD/MAY that the patches add to .tex files and that survives patch 8', () => {
    const claimed = new Set(catalog.requirements.flatMap((r) => seedSources(r).map((s) => `${s.patch}:${s.line}:${s.sha256}`)));
    const missed = sentences
      .filter((x) => x.survives && x.keywords.length > 0 && !claimed.has(`${x.patch}:${x.line}:${x.sha256}`))
      .map((x) => `patch ${x.patch}, line ${x.line} [${x.keywords.join(', ')}]: ${x.text}`);
    expect(missed, `sentences with a keyword and no catalog entry:\n${missed.join('\n')}`).toEqual([]);
  });

  it('splits compound sentences: each keyword of a sentence has its own keyword entry of that level', () => {
    const problems: string[] = [];
    for (const x of sentences.filter((y) => y.survives && y.keywords.length > 0)) {
      const citing = catalog.requirements.filter(
        (r) => r.normativity === 'keyword' && seedSources(r).some((s) => s.patch === x.patch && s.line === x.line && s.sha256 === x.sha256),
      );
      const need = new Map<RequirementKeyword, number>();
      for (const k of x.keywords) need.set(k, (need.get(k) ?? 0) + 1);
      for (const [level, n] of need) {
        const have = citing.filter((r) => r.level === level).length;
        if (have < n) problems.push(`patch ${x.patch}, line ${x.line}: ${n} × ${level} but ${have} keyword entr${have === 1 ? 'y' : 'ies'} of that level (${citing.map((r) => r.id).join(', ') || 'none'})`);
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('gives every keyword entry with seed sources a cited sentence that carries its level', () => {
    const problems: string[] = [];
    for (const r of catalog.requirements.filter((y) => y.normativity === 'keyword')) {
      const srcs = seedSources(r);
      if (srcs.length === 0) continue;
      const ok = srcs.some((s) => sentences.find((x) => x.patch === s.patch && x.line === s.line && x.sha256 === s.sha256)?.keywords.includes(r.level));
      if (!ok) problems.push(`${r.id}: level ${r.level} appears in none of its seed sentences`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });
});

const BASE_DOC = path.resolve(PROJECT_ROOT, '../shared/reference/virtio-admin.md');
const haveBase = existsSync(BASE_DOC);

describe.skipIf(!haveBase)(`catalog traced to the virtio 1.3 base${haveBase ? '' : ` (skipped: ${BASE_DOC} not found)`}`, () => {
  const text = haveBase ? readFileSync(BASE_DOC, 'utf8') : '';
  /** Statement id -> its paragraph text in virtio-admin.md ("- GD1a. ..." up to the next item). */
  const statements = new Map<string, string>();
  const re = /^\s*- ((?:GD|GR|VD|VR)\d+[a-c]?)\. ([\s\S]*?)(?=^\s*- |^#|^\s*$)/gm;
  for (const m of text.matchAll(re)) statements.set(m[1], m[2].replace(/\s+/g, ' '));

  it('finds the base statements', () => {
    expect(statements.size).toBeGreaterThanOrEqual(41);
  });

  it('cites only statements that exist', () => {
    const bad = catalog.requirements.flatMap((r) =>
      r.source.flatMap((s) => (s.kind === 'base' && s.statement && !statements.has(s.statement) ? [`${r.id}: ${s.statement}`] : [])),
    );
    expect(bad).toEqual([]);
  });

  it('claims every GD, GR, VD and VR statement', () => {
    const cited = new Set(catalog.requirements.flatMap((r) => r.source.flatMap((s) => (s.kind === 'base' && s.statement ? [s.statement] : []))));
    const missed = [...statements.keys()].filter((id) => !cited.has(id));
    expect(missed, `base statements with no entry: ${missed.join(', ')}`).toEqual([]);
  });

  it('gives every keyword entry traced to a base statement a level that the statement uses', () => {
    const problems: string[] = [];
    for (const r of catalog.requirements.filter((y) => y.normativity === 'keyword')) {
      const ids = r.source.flatMap((s) => (s.kind === 'base' && s.statement ? [s.statement] : []));
      if (ids.length === 0) continue;
      const words = ids.map((id) => statements.get(id) ?? '').join(' ');
      const kws = sentenceKeywords(words);
      if (!kws.includes(r.level)) problems.push(`${r.id}: ${r.level} not in ${ids.join(', ')} (${kws.join(', ')})`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });
});
