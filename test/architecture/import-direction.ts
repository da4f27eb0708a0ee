/**
 * The import direction of the project (DESIGN.md): suites -> harness -> transports -> device, and
 * reports -> protocol, spec. Every folder may import the two shared bottom layers, protocol/ (wire
 * formats and contracts) and spec/ (catalog and profiles); those two import nothing of ours but each
 * other (protocol/wire-options.ts takes its settings type from spec/, spec/ throws protocol/errors).
 * reports/ (the results format the harness fills) is imported by the harness and the tools only.
 * suites/ import neither transports/ nor device/: a test reaches a device through the harness alone.
 * bench/, test/, bin/ and the files at the root (configs) may import anything.
 */

/** What each folder may import (its own files always). A folder not listed here may import anything. */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  suites: ['harness', 'protocol', 'spec'],
  harness: ['transports', 'protocol', 'spec', 'reports'],
  transports: ['device', 'protocol', 'spec'],
  device: ['protocol', 'spec'],
  reports: ['protocol', 'spec'],
  protocol: ['spec'],
  spec: ['protocol'],
};

/** Single edges allowed against the direction, each with its reason. */
export const EXCEPTIONS: readonly { from: string; to: string; why: string }[] = [
  { from: 'harness/cli/commands/bench.ts', to: 'bench', why: 'the `vmcts bench` command loads the benchmarks on use' },
];

export interface ImportEdge {
  file: string;
  line: number;
  specifier: string;
  /** Repository-relative path the specifier resolves to. */
  target: string;
}

/** The source with comments blanked out (strings and template literals kept), so commented imports do not count. */
export function stripComments(src: string): string {
  let out = '';
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    const next = src[i + 1];
    if (c === '/' && next === '/') {
      while (i < n && src[i] !== '\n') {
        out += ' ';
        i++;
      }
    } else if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      for (; i < stop; i++) out += src[i] === '\n' ? '\n' : ' ';
    } else if (c === '"' || c === "'" || c === '`') {
      out += c;
      i++;
      while (i < n && src[i] !== c) {
        if (src[i] === '\\') {
          out += src[i++];
        }
        if (i < n) out += src[i++];
      }
      if (i < n) out += src[i++];
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const STATIC = /^[ \t]*(?:import|export)\b[^;'"`]*?\bfrom\s*['"]([^'"]+)['"]/gm;
const BARE = /^[ \t]*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Relative imports of one file (static, type-only, re-exports, side-effect and dynamic), resolved against the repository root. */
export function importsOf(file: string, src: string): ImportEdge[] {
  const code = stripComments(src);
  const out: ImportEdge[] = [];
  const dir = file.split('/').slice(0, -1);
  for (const re of [STATIC, BARE, DYNAMIC]) {
    for (const m of code.matchAll(re)) {
      const specifier = m[1];
      if (!specifier.startsWith('./') && !specifier.startsWith('../')) continue;
      const parts = [...dir];
      for (const p of specifier.split('/')) {
        if (p === '..') parts.pop();
        else if (p !== '.') parts.push(p);
      }
      out.push({ file, line: code.slice(0, m.index).split('\n').length, specifier, target: parts.join('/') });
    }
  }
  return out;
}

function folderOf(path: string): string | undefined {
  const i = path.indexOf('/');
  return i < 0 ? undefined : path.slice(0, i);
}

/** Imports that run against the direction, as "file:line imports specifier (from -> to)". */
export function directionViolations(files: readonly { path: string; source: string }[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const from = folderOf(f.path);
    if (from === undefined || !(from in ALLOWED)) continue;
    for (const e of importsOf(f.path, f.source)) {
      const to = folderOf(e.target) ?? e.target;
      if (to === from || ALLOWED[from].includes(to)) continue;
      if (EXCEPTIONS.some((x) => x.from === f.path && x.to === to)) continue;
      out.push(`${e.file}:${e.line} imports ${e.specifier} (${from} -> ${to})`);
    }
  }
  return out;
}
