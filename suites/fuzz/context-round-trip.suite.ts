/**
 * Context round trip as a property (harness/oracle/round-trip.ts): random member state read on the
 * source (pre-copy in Active, final read in Freeze), written on the destination in random chunks,
 * resumed there; the destination's registers and device configuration must equal the source's and
 * the guest must go on with no request lost or repeated. Abort paths use DISCARD.
 */
import { conformanceTest } from '../../harness/ctest.ts';
import { fuzzOptions, fuzzTimeoutMs, fuzzWorld, reportFuzz } from '../../harness/oracle/fuzz-test.ts';
import { ORACLE_RULES } from '../../harness/oracle/oracle.ts';
import { runRoundTrip } from '../../harness/oracle/round-trip.ts';

conformanceTest(
  {
    id: 'fuzz.context-round-trip',
    title: 'A context read from a random member state and written to another member resumes it exactly (stop-and-copy, pre-copy, aborts)',
    requirements: [
      ...ORACLE_RULES.owner.filter((r) => r !== 'admin.gd10-unlisted-opcode-invalid-opcode'),
      'ctx-format.context-sufficient-to-resume',
      'ctx-format.split-runtime-resume-index',
      'ctx-write.effective-on-leaving-freeze',
      'ctx-write.last-written-context-used',
      'member.stop-accepts-notifications',
    ],
    commandSets: ['context'],
    members: 2,
    needs: ['member-port', 'separate-memory'],
    timeoutMs: fuzzTimeoutMs(25),
    breaks: ['driver.read-complete-context', 'driver.write-complete-context', 'driver.no-leave-freeze-with-partial-write'],
  },
  async (t) => {
    const world = fuzzWorld(t, { workload: true });
    try {
      const out = await runRoundTrip(world, fuzzOptions(t, 30));
      reportFuzz(t, out, world);
    } finally {
      world.release();
      await t.session.baseline(t.members);
    }
  },
);
