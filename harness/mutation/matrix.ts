import { loadMutants, type Mutant } from '../../transports/simulator/index.ts';
import { DEFAULT_PROFILE, loadProfile } from '../../spec/profiles.ts';
import { loadCatalog } from '../../spec/catalog.ts';
import type { RequirementOutcome, TestVerdict } from '../../reports/verdicts.ts';
import { executeConformanceTest } from '../ctest.ts';
import type { RunPlan } from '../run/run-plan.ts';
import { Session } from '../session/session.ts';
import { collectSuiteDefs, type RegisteredTest } from '../test-registry.ts';
import { toolInfo } from '../tool-info.ts';

/** What one mutant did to its target requirements. */
export interface MutantResult {
  name: string;
  description: string;
  area: string;
  targets: string[];
  expect: 'FAIL' | 'WARN';
  /** Every target got the expected verdict from at least one test. */
  killed: boolean;
  /** Per target: the worst outcome any test gave it, and the tests that covered it. */
  detail: { requirement: string; outcome: RequirementOutcome | 'NO_TEST'; tests: string[] }[];
  /** Tests that ended in a harness error (the matrix cannot judge those). */
  harnessErrors: string[];
  durationMs: number;
}

export interface MatrixOptions {
  /** Only these mutants (default all). */
  only?: string[];
  /** Per-command timeout (short: hanging mutants must not hold the matrix). */
  commandMs?: number;
  testMs?: number;
  seed?: number;
  /** The transport the mutant device is reached through (default the simulator). */
  transport?: 'simulator' | 'simulator-pci';
  onResult?: (r: MutantResult) => void;
}

/** The area a requirement id belongs to (its prefix). */
function areaOf(id: string): string {
  return id.split('.')[0];
}

/** The area a mutant is scored under: the area of its first target. */
export function mutantArea(m: Mutant): string {
  return m.targets.length ? areaOf(m.targets[0]) : 'none';
}

const KILLS: Record<'FAIL' | 'WARN', ReadonlySet<TestVerdict>> = {
  FAIL: new Set(['FAIL', 'TIMEOUT', 'WEDGED']),
  WARN: new Set(['WARN', 'FAIL', 'TIMEOUT', 'WEDGED']),
};

const RANK: Record<string, number> = { PASS: 0, NOT_APPLICABLE: 1, NOT_TESTED: 2, HARNESS_ERROR: 3, WARN: 4, FAIL: 5, TIMEOUT: 6, WEDGED: 7 };

function planFor(mutant: string, o: MatrixOptions): RunPlan {
  const profile = loadProfile(DEFAULT_PROFILE);
  return {
    tool: toolInfo(),
    config: { transport: { kind: o.transport ?? 'simulator', mutant } },
    profile: { id: profile.id, settings: profile.settings },
    requirements: loadCatalog().requirements.map((r) => r.id),
    tests: [],
    seed: o.seed ?? 1,
    timeouts: { commandMs: o.commandMs ?? 300, testMs: o.testMs ?? 10_000, runMs: 600_000 },
    outDir: '/dev/null',
    replayBase: `vmcts run${o.transport ? ` --transport ${o.transport}` : ''} --mutant ${mutant} --seed ${o.seed ?? 1}`,
  };
}

/**
 * Runs the tests that cover a mutant's targets against a reference device carrying that bug, in
 * this process (no vitest start per mutant), and says whether each target was caught.
 */
export async function runMutant(mutant: Mutant, tests: readonly RegisteredTest[], o: MatrixOptions = {}): Promise<MutantResult> {
  const t0 = performance.now();
  const plan = planFor(mutant.name, o);
  const expect = mutant.expect ?? 'FAIL';
  // Focused tests first, property-based ones (fuzz.*) last: the matrix stops as soon as every target
  // is caught, so the slower fuzz properties run only for bugs the focused tests miss.
  const covering = tests
    .filter((t) => t.def.requirements.some((r) => mutant.targets.includes(r)))
    .sort((a, b) => Number(a.def.id.startsWith('fuzz.')) - Number(b.def.id.startsWith('fuzz.')));
  const caught = () => mutant.targets.every((r) => KILLS[expect].has((worst.get(r) ?? 'PASS') as TestVerdict));
  const worst = new Map<string, RequirementOutcome>();
  const harnessErrors: string[] = [];
  let session: Session | undefined;
  const open = async () => (session ??= await Session.open(plan));
  try {
    for (const t of covering) {
      if (caught()) break;
      const meta = await executeConformanceTest(t.def, t.body, plan, open);
      if (meta.verdict === 'HARNESS_ERROR') harnessErrors.push(`${t.def.id}: ${meta.messages.join('; ')}`);
      for (const r of mutant.targets) {
        const out = meta.outcomes[r];
        if (out && (RANK[out] ?? 0) > (RANK[worst.get(r) ?? 'PASS'] ?? 0)) worst.set(r, out);
        else if (out && !worst.has(r)) worst.set(r, out);
      }
    }
  } finally {
    await (session as Session | undefined)?.close();
  }
  const detail = mutant.targets.map((r) => ({
    requirement: r,
    outcome: (worst.get(r) ?? (covering.some((t) => t.def.requirements.includes(r)) ? 'PASS' : 'NO_TEST')) as RequirementOutcome | 'NO_TEST',
    tests: covering.filter((t) => t.def.requirements.includes(r)).map((t) => t.def.id),
  }));
  return {
    name: mutant.name,
    description: mutant.description,
    area: mutantArea(mutant),
    targets: mutant.targets,
    expect,
    killed: detail.length > 0 && detail.every((d) => d.outcome !== 'NO_TEST' && KILLS[expect].has(d.outcome)),
    detail,
    harnessErrors,
    durationMs: performance.now() - t0,
  };
}

/** The whole matrix: every mutant against the tests of its targets. */
export async function runMatrix(o: MatrixOptions = {}): Promise<MutantResult[]> {
  const tests = await collectSuiteDefs();
  const out: MutantResult[] = [];
  for (const m of await loadMutants()) {
    if (o.only?.length && !o.only.includes(m.name)) continue;
    const r = await runMutant(m, tests, o);
    o.onResult?.(r);
    out.push(r);
  }
  return out;
}

/** Killed / total, overall and per area. */
export function mutationScore(results: readonly MutantResult[]): { killed: number; total: number; byArea: Record<string, { killed: number; total: number }> } {
  const byArea: Record<string, { killed: number; total: number }> = {};
  for (const r of results) {
    const a = (byArea[r.area] ??= { killed: 0, total: 0 });
    a.total++;
    if (r.killed) a.killed++;
  }
  return { killed: results.filter((r) => r.killed).length, total: results.length, byArea };
}
