import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConformanceTestDef, TestBody } from './ctest.ts';
import { PROJECT_ROOT } from './tool-info.ts';

/** A conformance test as declared, and the suite file that declared it. */
export interface RegisteredTest {
  def: ConformanceTestDef;
  body: TestBody;
  file: string;
}

const registry: RegisteredTest[] = [];
let loadingFile = '(unknown)';

/** Called by conformanceTest for every declaration, selected or not, inside a run or not. */
export function registerTestDef(def: ConformanceTestDef, body: TestBody): void {
  registry.push({ def, body, file: loadingFile });
}

function suiteFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...suiteFiles(p));
    else if (e.isFile() && e.name.endsWith('.suite.ts')) out.push(p);
  }
  return out.sort();
}

let collected: Promise<RegisteredTest[]> | undefined;

/**
 * Every conformance test of suites/, found by importing the suite files outside a run: a test
 * declares itself even when it is not registered with vitest, so `vmcts list` and the coverage
 * self-test see exactly what a run would (no text scanning).
 */
export function collectSuiteDefs(root = PROJECT_ROOT): Promise<RegisteredTest[]> {
  collected ??= (async () => {
    for (const f of suiteFiles(path.join(root, 'suites'))) {
      loadingFile = path.relative(root, f).split(path.sep).join('/');
      await import(pathToFileURL(f).href);
    }
    loadingFile = '(unknown)';
    return [...registry];
  })();
  return collected;
}
