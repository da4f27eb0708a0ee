import { MUTANTS } from '../device/mutants/index.ts';
import { mutationScore, runMatrix } from '../harness/mutation/matrix.ts';
import { atLeast, info, round, type Benchmark, type BenchFigure } from './figure.ts';

/**
 * Mutation score: the share of seeded-bug devices whose broken rule the suite catches (issue 7). The
 * target is every one of them; per-area scores are printed beside it.
 */
export const mutationScoreBench: Benchmark = {
  id: 'mutation-score',
  title: 'seeded-bug devices caught by the suite (killed / total, per area)',
  async run(o): Promise<BenchFigure[]> {
    const t0 = performance.now();
    // --quick (the self-test of `vmcts bench`) scores a sample: the full matrix is its own self-test.
    const results = await runMatrix(o.quick ? { only: MUTANTS.filter((_, i) => i % 25 === 0).map((m) => m.name) } : {});
    const s = mutationScore(results);
    for (const r of results) if (!r.killed) o.log?.(`mutation-score: ${r.name} SURVIVED (${r.detail.map((d) => `${d.requirement}=${d.outcome}`).join(', ')})`);
    const figures: BenchFigure[] = [atLeast('mutation-score', round(s.total ? s.killed / s.total : 0, 4), `killed/total (${s.killed}/${s.total})`, 1)];
    for (const [area, a] of Object.entries(s.byArea).sort()) figures.push(info(`mutation-score-${area}`, round(a.killed / a.total, 4), `killed/total (${a.killed}/${a.total})`));
    figures.push(info('mutation-matrix-seconds', round((performance.now() - t0) / 1000, 2), 's'));
    return figures;
  },
};
