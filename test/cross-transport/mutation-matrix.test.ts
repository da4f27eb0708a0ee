import { beforeAll, describe, expect, it } from 'vitest';
import { MUTANTS } from '../../device/mutants/index.ts';
import { mutantArea, runMatrix, type MutantResult } from '../../harness/mutation/matrix.ts';

/**
 * The mutation matrix over simulator-pci: every seeded bug must be caught through the virtio-pci
 * driver and the PCI models too. `npm test` runs a fixed sample (the first mutant of each area);
 * `VMCTS_PCI_MATRIX=all` (the `.ci/run` step) runs every mutant.
 */
const ALL = process.env.VMCTS_PCI_MATRIX === 'all';

function sample(): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of MUTANTS) {
    const area = mutantArea(m);
    if (seen.has(area)) continue;
    seen.add(area);
    out.push(m.name);
  }
  return out;
}

describe(`the mutation matrix over simulator-pci (${ALL ? 'every mutant' : 'one mutant per area'})`, () => {
  let results: MutantResult[];
  beforeAll(async () => {
    results = await runMatrix({ transport: 'simulator-pci', ...(ALL ? {} : { only: sample() }) });
  }, ALL ? 1_200_000 : 300_000);

  it('kills every mutant it runs', () => {
    expect(results.length).toBe(ALL ? MUTANTS.length : sample().length);
    const survivors = results.filter((r) => !r.killed).map((r) => `${r.name}: ${r.detail.map((d) => `${d.requirement}=${d.outcome} [${d.tests.join(', ') || 'no test'}]`).join('; ')}`);
    expect(survivors, `surviving mutants:\n  ${survivors.join('\n  ')}`).toEqual([]);
  });

  it('runs without harness errors', () => {
    const errs = results.flatMap((r) => r.harnessErrors.map((e) => `${r.name}: ${e}`));
    expect(errs).toEqual([]);
  });
});
