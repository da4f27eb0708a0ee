import type { Mutant } from './mutant.ts';

/**
 * A device that wedges: DEV_MODE_SET never completes (the firmware waits forever for a PCI
 * transaction that never finishes). The harness must time the command out, mark the test TIMEOUT or
 * WEDGED, try recovery, and still write a valid report.
 */
export const HANG_MUTANTS: Mutant[] = [
  {
    name: 'hang-on-mode-set',
    description: 'DEV_MODE_SET never completes: the command stays on the admin queue with no used-ring entry',
    targets: ['mode.set-same-mode-succeeds'],
    apply(device) {
      device.handlers.DEV_MODE_SET = () => new Promise(() => undefined);
    },
  },
];
