/**
 * Sentences of the seed draft, as the catalog cites them.
 *
 * The seed is a mailbox of eight patches against the virtio 1.3 LaTeX sources. A catalog entry
 * points at a sentence by patch number, the 1-based mbox line where the sentence starts, and the
 * SHA-256 of the sentence after whitespace normalization; the sentence text itself never enters
 * the catalog. This module rebuilds those sentences from the mbox, deterministically:
 *
 * 1. Patches. A line `[PATCH v2 N/8]` in a thread header (`[virtio-comment] [PATCH v2 N/8] ...`
 *    after `* ` at the start of a line or after `thread* `) opens patch N. Only the patches' diffs count;
 *    the review thread after patch 8 has no diff.
 * 2. Added lines. Inside a `diff --git a/<file>.tex` section, after a hunk header (`@@ ... @@`),
 *    a line starting with a single `+` (not `+++`) is a line the patch adds; its text is the
 *    line without the `+`. A line starting with `-` (not `---`) is a line the patch removes.
 *    A section ends at the next `diff --git`, or at the `--` line of the mail signature.
 * 3. Units. Added lines that follow each other in the mbox form a block; a context line or a
 *    removed line between two added lines ends the block. A block is cut into units:
 *    - a blank line ends the current unit;
 *    - a LaTeX structure line (`\begin`, `\end`, `\hline`, `\label`, `\caption`, sectioning
 *      commands, `\devicenormative`, `\drivernormative`, `\input`) ends the current unit and
 *      is a unit of its own (kind `structure`); when its braces are not balanced it continues
 *      on the next lines until they are;
 *    - `\item` ends the current unit and starts a new one (the `\item` itself is dropped);
 *    - a line ending in `\\` (a table row end or a forced line break) ends the unit after it
 *      (the `\\` itself is dropped);
 *    - the lines between `\begin{lstlisting}` and `\end{lstlisting}` form one unit of kind
 *      `listing`, blank lines included.
 * 4. Sentences. A `text` unit is whitespace-normalized (runs of white space become one space,
 *    then trimmed) and split after every `.` that is followed by a space, except after the
 *    abbreviations `i.e.` and `e.g.` and after an enumeration number at the start of the unit
 *    (`1.`). A `;` never splits. A `listing` or `structure` unit is one sentence.
 * 5. Digest. SHA-256 (hex) of the normalized sentence text, LaTeX markup included.
 * 6. Keywords. The upper-case requirement keywords in the sentence, in order: `MUST NOT`
 *    (also when written `MUST not`), `MUST`, `SHOULD NOT` (also `SHOULD not`), `SHOULD`, `MAY`.
 *    Lower-case "must"/"may" are not keywords (seed-errata E33).
 * 7. Survival. The catalog describes the draft as it stands after patch 8. A later patch that
 *    removes a line an earlier patch added (same file, same normalized text, most recent live
 *    copy first) kills that line. A sentence survives unless every line it spans was removed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type RequirementKeyword = 'MUST' | 'MUST NOT' | 'SHOULD' | 'SHOULD NOT' | 'MAY';

export type SentenceKind = 'text' | 'listing' | 'structure';

export interface SeedSentence {
  /** Patch number 1..8 of the series. */
  readonly patch: number;
  /** The .tex file the patch adds the sentence to. */
  readonly file: string;
  /** 1-based mbox line where the sentence starts. */
  readonly line: number;
  /** 1-based mbox line where the sentence ends. */
  readonly endLine: number;
  /** Whitespace-normalized sentence text (LaTeX markup kept). */
  readonly text: string;
  /** SHA-256 hex of `text`. */
  readonly sha256: string;
  /** Upper-case requirement keywords, in order of appearance. */
  readonly keywords: readonly RequirementKeyword[];
  readonly kind: SentenceKind;
  /** False when a later patch removed every line of this sentence. */
  readonly survives: boolean;
  /** The patch that removed the sentence's lines, when it does not survive. */
  readonly removedBy?: number;
}

/** An added or removed line of a patch, with its mbox line number. */
export interface DiffLine {
  readonly patch: number;
  readonly file: string;
  readonly line: number;
  readonly op: '+' | '-';
  readonly text: string;
}

/** Project root: the folder that holds package.json (one level above spec/). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Default location of the seed, relative to the project root. */
export const SEED_MBOX_RELATIVE = '../shared/spec/virtio-device-migration-v2.mbox.txt';

/** The seed mbox path: env VMCTS_SEED_MBOX (resolved against the working directory) or the default. */
export function seedMboxPath(): string {
  const env = process.env.VMCTS_SEED_MBOX;
  if (env !== undefined && env !== '') return path.resolve(env);
  return path.resolve(PROJECT_ROOT, SEED_MBOX_RELATIVE);
}

export function seedMboxAvailable(): boolean {
  return existsSync(seedMboxPath());
}

/** SHA-256 hex of a sentence after whitespace normalization. */
export function sentenceDigest(text: string): string {
  return createHash('sha256').update(normalizeWhitespace(text), 'utf8').digest('hex');
}

export function normalizeWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

const KEYWORD_RE = /\b(MUST|SHOULD)\s+(?:NOT|not)\b|\b(MUST|SHOULD|MAY)\b/g;

/** Upper-case requirement keywords of a sentence, in order. */
export function sentenceKeywords(text: string): RequirementKeyword[] {
  const out: RequirementKeyword[] = [];
  for (const m of text.matchAll(KEYWORD_RE)) {
    if (m[1] !== undefined) out.push(`${m[1]} NOT` as RequirementKeyword);
    else out.push(m[2] as RequirementKeyword);
  }
  return out;
}

const PATCH_HEADER_RE = /(?:^\* |thread\* )\[virtio-comment\] \[PATCH v2 (\d)\/8\]/;
const DIFF_RE = /^diff --git a\/(\S+) b\//;

/** Every added and removed line of the series' diffs to .tex files, in mbox order. */
export function diffLines(mboxText: string): DiffLine[] {
  const lines = mboxText.split(/\r?\n/);
  const out: DiffLine[] = [];
  let patch = 0;
  let file: string | undefined;
  let inHunk = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const header = PATCH_HEADER_RE.exec(raw);
    if (header) {
      patch = Number(header[1]);
      file = undefined;
      inHunk = false;
      continue;
    }
    const diff = DIFF_RE.exec(raw);
    if (diff) {
      file = diff[1].endsWith('.tex') ? diff[1] : undefined;
      inHunk = false;
      continue;
    }
    if (file === undefined || patch === 0) continue;
    if (raw === '--' || raw === '-- ') {
      // Mail signature: the diff of this patch is over.
      file = undefined;
      inHunk = false;
      continue;
    }
    if (raw.startsWith('@@')) {
      inHunk = true;
      continue;
    }
    if (!inHunk) continue;
    if (raw.startsWith('+') && !raw.startsWith('+++')) {
      out.push({ patch, file, line: i + 1, op: '+', text: raw.slice(1) });
    } else if (raw.startsWith('-') && !raw.startsWith('---')) {
      out.push({ patch, file, line: i + 1, op: '-', text: raw.slice(1) });
    }
  }
  return out;
}

const STRUCTURE_RE =
  /^\\(begin|end|hline|label|caption|section|subsection|subsubsection|paragraph|devicenormative|drivernormative|input)\b/;

interface Unit {
  kind: SentenceKind;
  lines: { line: number; text: string }[];
}

function braceBalance(text: string): number {
  let b = 0;
  for (const ch of text) {
    if (ch === '{') b++;
    else if (ch === '}') b--;
  }
  return b;
}

/** Cuts one block of consecutive added lines into units (step 3 of the module comment). */
function blockUnits(block: readonly DiffLine[]): Unit[] {
  const units: Unit[] = [];
  let cur: Unit | undefined;
  const flush = () => {
    if (cur && cur.lines.some((l) => l.text.trim() !== '')) units.push(cur);
    cur = undefined;
  };
  let inListing = false;
  let structureOpen = 0; // unbalanced braces of a structure line still being continued
  for (const dl of block) {
    const t = dl.text.trim();
    if (structureOpen > 0 && cur) {
      cur.lines.push({ line: dl.line, text: dl.text });
      structureOpen += braceBalance(t);
      if (structureOpen <= 0) {
        structureOpen = 0;
        flush();
      }
      continue;
    }
    if (inListing) {
      if (t.startsWith('\\end{lstlisting}')) {
        inListing = false;
        flush();
        units.push({ kind: 'structure', lines: [{ line: dl.line, text: dl.text }] });
      } else {
        cur ??= { kind: 'listing', lines: [] };
        cur.lines.push({ line: dl.line, text: dl.text });
      }
      continue;
    }
    if (t === '') {
      flush();
      continue;
    }
    if (STRUCTURE_RE.test(t)) {
      flush();
      if (t.startsWith('\\begin{lstlisting}')) {
        units.push({ kind: 'structure', lines: [{ line: dl.line, text: dl.text }] });
        inListing = true;
        continue;
      }
      cur = { kind: 'structure', lines: [{ line: dl.line, text: dl.text }] };
      structureOpen = braceBalance(t);
      if (structureOpen <= 0) {
        structureOpen = 0;
        flush();
      }
      continue;
    }
    let text = dl.text;
    if (t.startsWith('\\item')) {
      flush();
      text = text.replace(/^\s*\\item\b/, '');
    }
    const endsRow = /\\\\\s*$/.test(text);
    if (endsRow) text = text.replace(/\\\\\s*$/, '');
    cur ??= { kind: 'text', lines: [] };
    cur.lines.push({ line: dl.line, text });
    if (endsRow) flush();
  }
  flush();
  return units;
}

/** Splits a text unit into sentences, keeping the mbox line where each one starts. */
function unitSentences(unit: Unit): { line: number; endLine: number; text: string }[] {
  // Concatenate the unit with a map from character offset to mbox line.
  let joined = '';
  const starts: { offset: number; line: number }[] = [];
  for (const l of unit.lines) {
    if (joined !== '') joined += ' ';
    starts.push({ offset: joined.length, line: l.line });
    joined += l.text;
  }
  const lineAt = (offset: number): number => {
    let line = starts[0].line;
    for (const s of starts) if (s.offset <= offset) line = s.line;
    return line;
  };
  if (unit.kind !== 'text') {
    return [{ line: starts[0].line, endLine: unit.lines[unit.lines.length - 1].line, text: normalizeWhitespace(joined) }];
  }
  const out: { line: number; endLine: number; text: string }[] = [];
  let begin = 0;
  const emit = (end: number) => {
    const piece = joined.slice(begin, end);
    const text = normalizeWhitespace(piece);
    if (text !== '') {
      const lead = piece.length - piece.trimStart().length;
      const trail = piece.trimEnd().length;
      out.push({ line: lineAt(begin + lead), endLine: lineAt(begin + Math.max(lead, trail - 1)), text });
    }
    begin = end;
  };
  for (let i = 0; i < joined.length; i++) {
    if (joined[i] !== '.') continue;
    const next = joined[i + 1];
    if (next !== undefined && !/\s/.test(next)) continue;
    const before = joined.slice(0, i + 1);
    if (/(?:^|\s)(?:i\.e|e\.g)\.$/.test(before)) continue;
    if (normalizeWhitespace(joined.slice(begin, i + 1)).match(/^\d+\.$/) && normalizeWhitespace(joined.slice(0, begin)) === '') continue;
    emit(i + 1);
  }
  emit(joined.length);
  return out;
}

/** Marks which added lines a later patch removed (step 7). Returns line number -> removing patch. */
function removedLines(diff: readonly DiffLine[]): Map<number, number> {
  const removed = new Map<number, number>();
  const live: DiffLine[] = [];
  for (const d of diff) {
    if (d.op === '+') {
      live.push(d);
      continue;
    }
    const want = normalizeWhitespace(d.text);
    for (let j = live.length - 1; j >= 0; j--) {
      const cand = live[j];
      if (cand.file === d.file && cand.patch < d.patch && normalizeWhitespace(cand.text) === want) {
        removed.set(cand.line, d.patch);
        live.splice(j, 1);
        break;
      }
    }
  }
  return removed;
}

/** All sentences the series adds to .tex files (surviving or not), in mbox order. */
export function extractSentences(mboxText: string): SeedSentence[] {
  const diff = diffLines(mboxText);
  const removed = removedLines(diff);
  const added = diff.filter((d) => d.op === '+');
  const blocks: DiffLine[][] = [];
  for (const d of added) {
    const last = blocks[blocks.length - 1];
    const prev = last?.[last.length - 1];
    if (prev && prev.line + 1 === d.line && prev.patch === d.patch && prev.file === d.file) last.push(d);
    else blocks.push([d]);
  }
  const out: SeedSentence[] = [];
  for (const block of blocks) {
    const { patch, file } = block[0];
    for (const unit of blockUnits(block)) {
      const spanned = unit.lines.map((l) => l.line);
      for (const s of unitSentences(unit)) {
        const own = spanned.filter((n) => n >= s.line && n <= s.endLine);
        const killers = own.map((n) => removed.get(n));
        const survives = killers.some((k) => k === undefined);
        const base = {
          patch,
          file,
          line: s.line,
          endLine: s.endLine,
          text: s.text,
          sha256: sentenceDigest(s.text),
          keywords: unit.kind === 'text' ? sentenceKeywords(s.text) : [],
          kind: unit.kind,
          survives,
        };
        out.push(survives ? base : { ...base, removedBy: killers[0] });
      }
    }
  }
  return out;
}

let cached: { path: string; sentences: readonly SeedSentence[] } | undefined;

/**
 * All sentences of the seed at `seedMboxPath()` (cached per path). Throws when the file is
 * absent; callers that can do without it check `seedMboxAvailable()` first.
 */
export function listSentences(mboxPath: string = seedMboxPath()): readonly SeedSentence[] {
  if (cached?.path === mboxPath) return cached.sentences;
  const sentences = Object.freeze(extractSentences(readFileSync(mboxPath, 'utf8')));
  cached = { path: mboxPath, sentences };
  return sentences;
}

/** The sentence of `patch` starting at `line` whose digest is `sha256`, if any. */
export function findSentence(
  sentences: readonly SeedSentence[],
  patch: number,
  line: number,
  sha256: string,
): SeedSentence | undefined {
  return sentences.find((s) => s.patch === patch && s.line === line && s.sha256 === sha256);
}
