/**
 * Which conformance tests cover which catalog requirement, found by reading the test sources.
 *
 * A conformance test names the requirements it checks in its declaration, as a property
 * `requirements: ['mode.set-same-mode-succeeds', ...]`. This scanner reads every `.ts` file under
 * `suites/` (the folder may be absent or empty) and, for each such property, takes as the test's
 * title the nearest string literal before it that is either
 *   - a `title: '...'` property, or
 *   - the first argument of a call such as `test('...'`, `it('...'`, `conformanceTest('...'`,
 * looking back no further than the previous `requirements:` of the same file. When it finds none,
 * the file path (relative to the project root) stands in for the title.
 *
 * It is a text scan, not a parser: it is meant for the `tests` column of `vmcts list` and for a
 * coverage self-test, and will be replaced by the runner's own registry.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...tsFiles(p));
    else if (ent.isFile() && ent.name.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}

const REQUIREMENTS_RE = /\brequirements\s*:\s*\[([^\]]*)\]/g;
const STRING_RE = /(['"`])((?:\\.|(?!\1)[^\\\n])*)\1/g;
const TITLE_RE = /(?:\btitle\s*:\s*|\b[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*\s*\(\s*)(['"`])((?:\\.|(?!\1)[^\\\n])*)\1/g;

/** Map from requirement id to the titles (or file paths) of the tests that name it. */
export function coveringTests(suitesDir: string = path.join(PROJECT_ROOT, 'suites')): Map<string, string[]> {
  const map = new Map<string, Set<string>>();
  for (const file of tsFiles(suitesDir)) {
    const text = readFileSync(file, 'utf8');
    const rel = path.relative(PROJECT_ROOT, file).split(path.sep).join('/');
    let previousEnd = 0;
    for (const m of text.matchAll(REQUIREMENTS_RE)) {
      const start = m.index ?? 0;
      let title: string | undefined;
      for (const t of text.slice(previousEnd, start).matchAll(TITLE_RE)) title = t[2];
      previousEnd = start + m[0].length;
      for (const s of m[1].matchAll(STRING_RE)) {
        const id = s[2];
        if (!map.has(id)) map.set(id, new Set());
        map.get(id)!.add(title ?? rel);
      }
    }
  }
  return new Map([...map].map(([id, titles]) => [id, [...titles].sort()]));
}
