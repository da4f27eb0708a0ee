import { beforeAll, describe, expect, it } from 'vitest';
import { MUTANTS } from '../../device/mutants/index.ts';
import { mutantArea, runMatrix, type MutantResult } from '../../harness/mutation/matrix.ts';

/**
 * The mutation matrix over simulator-pci: every seeded bug must be caught through the virtio-pci
 * driver and the PCI models too. `npm test` runs a fixed sample (the first mutant of each area that
 * the PCI path is expected to catch); `VMCTS_PCI_MATRIX=all` (the `.ci/run` step) runs every mutant.
 */
const ALL = process.env.VMCTS_PCI_MATRIX === 'all';

/**
 * Mutants the PCI path does not catch yet, each with the reason. They are run too: one that is
 * caught fails the test, so the list only shrinks (drop the entry when the reason is gone).
 */
const PCI_PATH_SURVIVORS: Readonly<Record<string, string>> = {
  'first-list-use-after-reset-refused':
    "the driver resets the owner when it opens it (virtio 1.3 3.1.1), so the bug refuses the session's own first LIST_USE; the harness reports that as 'could not open the device' (HARNESS_ERROR) rather than charging a requirement",
  'first-list-use-after-reset-eagain':
    "as above, with EAGAIN: the session's negotiation does not retry EAGAIN (VR7), so the open fails instead of the in-use-list test seeing the EAGAIN after its own reset",
  'no-admin-queue-advertised':
    "the driver refuses a device whose admin_queue_num reads 0 when it opens it (as Linux does), so the harness reports 'could not open the device' (HARNESS_ERROR) rather than charging avq.admin-queue-present-when-negotiated",
  'commands-run-concurrently':
    "device/pci's admin-queue engine serves one chain at a time, so the reference device's concurrent submit never has two commands at once: the device as a whole stays in order",
  'member-answers-during-flr':
    'the VF model answers configuration reads during an FLR, so flr() resolves before the FLR ends and the command answered during it looks late (core: a function reads all ones while the FLR runs)',
  'member-answers-during-pm-transition': 'as above, for the D0 -> D3hot transition',
  'fuzz-split-own-desc-write-refused':
    'the PCI models complete requests on their own at once, so the fuzz seldom reads a context with device-owned descriptors (core: a holdRequests stimulus the binding offers)',
};

function sample(): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of MUTANTS) {
    const area = mutantArea(m);
    if (seen.has(area) || m.name in PCI_PATH_SURVIVORS) continue;
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

  it('names only mutants that exist among the known survivors', () => {
    const names = new Set(MUTANTS.map((m) => m.name));
    expect(Object.keys(PCI_PATH_SURVIVORS).filter((n) => !names.has(n))).toEqual([]);
  });

  it('kills every mutant it runs, except the known survivors, which still survive', () => {
    expect(results.length).toBe(ALL ? MUTANTS.length : sample().length);
    const describe = (r: MutantResult) => `${r.name}: ${r.detail.map((d) => `${d.requirement}=${d.outcome} [${d.tests.join(', ') || 'no test'}]`).join('; ')}`;
    const survivors = results.filter((r) => !r.killed && !(r.name in PCI_PATH_SURVIVORS)).map(describe);
    expect(survivors, `surviving mutants:\n  ${survivors.join('\n  ')}`).toEqual([]);
    const stale = results.filter((r) => r.killed && r.name in PCI_PATH_SURVIVORS).map((r) => r.name);
    expect(stale, `caught now, drop them from PCI_PATH_SURVIVORS: ${stale.join(', ')}`).toEqual([]);
  });

  it('runs without harness errors (beyond the known survivors that fail the open)', () => {
    const errs = results.filter((r) => !(r.name in PCI_PATH_SURVIVORS)).flatMap((r) => r.harnessErrors.map((e) => `${r.name}: ${e}`));
    expect(errs).toEqual([]);
  });
});
