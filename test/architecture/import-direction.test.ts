import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { directionViolations, importsOf, stripComments } from './import-direction.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Every TypeScript file of the project (node_modules and dot folders left out), repository-relative. */
function sourceFiles(dir = ROOT): { path: string; source: string }[] {
  const out: { path: string; source: string }[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(abs));
    else if (/\.m?ts$/.test(e.name)) out.push({ path: path.relative(ROOT, abs).split(path.sep).join('/'), source: readFileSync(abs, 'utf8') });
  }
  return out;
}

describe('import direction: suites -> harness -> transports -> device; reports -> protocol, spec', () => {
  it('holds for every file of the project', () => {
    const files = sourceFiles();
    expect(files.length).toBeGreaterThan(100);
    expect(directionViolations(files)).toEqual([]);
  });

  it('finds static, type-only, re-export, side-effect and dynamic imports, not those in comments or strings', () => {
    const src = [
      "import { A } from '../device/a.ts';",
      "import type { B } from '../device/b.ts';",
      'import {',
      '  C,',
      "} from '../device/c.ts';",
      "export { D } from '../device/d.ts';",
      "import '../device/e.ts';",
      "const f = await import('../device/f.ts');",
      "// import { G } from '../device/g.ts';",
      "/* import { H } from '../device/h.ts'; */",
      "const s = \"import { I } from '../device/i.ts'\";",
      "import { J } from 'node:fs';",
    ].join('\n');
    expect(importsOf('harness/x.ts', src).map((e) => e.target)).toEqual(['device/a.ts', 'device/b.ts', 'device/c.ts', 'device/d.ts', 'device/e.ts', 'device/f.ts']);
    expect(stripComments("a // b\nc /* d\ne */ f 'g // h'")).toBe("a     \nc     \n     f 'g // h'");
  });

  it('fails on a planted import against the direction, and only there', () => {
    const files = [
      { path: 'harness/session/open.ts', source: "import { ReferenceDevice } from '../../device/reference-device.ts';\nimport { x } from '../../transports/index.ts';" },
      { path: 'suites/member/a.suite.ts', source: "import { SimulatorTransport } from '../../transports/simulator/simulator-transport.ts';\nimport { t } from '../../harness/ctest.ts';" },
      { path: 'spec/catalog.ts', source: "import { HarnessError } from '../harness/errors.ts';\nimport { ConfigError } from '../protocol/errors.ts';" },
      { path: 'device/member/x.ts', source: "const m = await import('../../transports/index.ts');" },
      { path: 'protocol/x.ts', source: "import type { R } from '../reports/results.ts';" },
      { path: 'reports/x.ts', source: "import { S } from '../harness/session/session.ts';" },
      { path: 'test/anything.test.ts', source: "import { D } from '../device/reference-device.ts';" },
      { path: 'bench/x.ts', source: "import { D } from '../device/reference-device.ts';" },
    ];
    expect(directionViolations(files)).toEqual([
      'harness/session/open.ts:1 imports ../../device/reference-device.ts (harness -> device)',
      'suites/member/a.suite.ts:1 imports ../../transports/simulator/simulator-transport.ts (suites -> transports)',
      'spec/catalog.ts:1 imports ../harness/errors.ts (spec -> harness)',
      'device/member/x.ts:1 imports ../../transports/index.ts (device -> transports)',
      'protocol/x.ts:1 imports ../reports/results.ts (protocol -> reports)',
      'reports/x.ts:1 imports ../harness/session/session.ts (reports -> harness)',
    ]);
  });
});
