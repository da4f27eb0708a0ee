import { describe, beforeAll, expect, it } from 'vitest';
import type { ResultsDocument } from '../../reports/results.ts';
import { compareRuns, describeDifference } from './compare-runs.ts';
import { fullRun } from './full-run.ts';

/**
 * The same reference device through the simulator (frames handed to the device) and through
 * simulator-pci (the virtio-pci driver, a real admin virtqueue, register-level PCI models) must get
 * the same verdict and reason for every requirement, except where a transport declares it lacks a
 * capability the other has.
 */
describe('cross-transport: simulator and simulator-pci give the same verdicts', () => {
  let sim: ReturnType<typeof fullRun>;
  let pci: ReturnType<typeof fullRun>;

  beforeAll(() => {
    sim = fullRun('simulator');
    pci = fullRun('simulator-pci');
  }, 300_000);

  it('both runs are conformant and complete', () => {
    expect(sim.code, sim.out).toBe(0);
    expect(pci.code, pci.out).toBe(0);
    expect(pci.doc.device?.transport).toBe('simulator-pci');
    expect(pci.doc.run.complete).toBe(true);
  });

  it('every requirement has the same verdict and reason on both, or a declared capability explains why not', () => {
    const diffs = compareRuns(sim.doc, pci.doc);
    const unexplained = diffs.filter((d) => !d.explainedBy).map((d) => describeDifference(d, ['simulator', 'simulator-pci']));
    expect(unexplained, `requirements whose verdicts differ:\n  ${unexplained.join('\n  ')}`).toEqual([]);
  });

  it('ran the same tests with the same verdicts', () => {
    const verdicts = (d: ResultsDocument) => Object.fromEntries(d.tests.map((t) => [t.id, t.verdict]));
    const a = verdicts(sim.doc);
    const b = verdicts(pci.doc);
    const differ = Object.keys({ ...a, ...b })
      .filter((id) => a[id] !== b[id])
      .map((id) => `${id}: simulator ${a[id] ?? '(absent)'}, simulator-pci ${b[id] ?? '(absent)'} — ${pci.doc.tests.find((t) => t.id === id)?.messages.join('; ') ?? ''}`);
    expect(differ, `tests whose verdicts differ:\n  ${differ.join('\n  ')}`).toEqual([]);
  });
});
