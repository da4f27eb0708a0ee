/**
 * Model-based fuzzing of the device-migration commands (fast-check `fc.commands` /
 * `fc.asyncModelRun`): random sequences of every command with valid and invalid inputs, mode changes
 * and member actions, each outcome judged by the permissive oracle (harness/oracle), which names the
 * requirement a wrong outcome breaks. A failure shrinks to a minimal sequence and prints a replay line.
 * Budgets: `--fuzz-runs N` (or the config's fuzz.runs) runs each property N times; the defaults keep
 * the whole folder within about 2 s of a simulator run.
 */
import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import { fuzzOptions, fuzzTimeoutMs, fuzzWorld, reportFuzz } from '../../harness/oracle/fuzz-test.ts';
import { type MachineKind, runMachine } from '../../harness/oracle/machine.ts';
import { ORACLE_RULES } from '../../harness/oracle/oracle.ts';

/** Owner rules the context machines exercise (the in-use opcode rule is not: they send only commands in use). */
const CONTEXT_RULES = ORACLE_RULES.owner.filter((r) => r !== 'admin.gd10-unlisted-opcode-invalid-opcode');

async function machine(t: ConformanceContext, kind: MachineKind, defaultRuns: number): Promise<void> {
  const member = kind === 'member' || kind === 'records';
  const world = fuzzWorld(t, { workload: member, guestInit: { queues: 2 } });
  try {
    const out = await runMachine(world, kind, fuzzOptions(t, defaultRuns));
    reportFuzz(t, out, world);
  } finally {
    world.release();
    await t.session.baseline(t.members);
  }
}

conformanceTest(
  {
    id: 'fuzz.mode-context-machine',
    title: 'Random sequences of mode and context commands (valid and invalid) get only outcomes the draft allows',
    requirements: [...CONTEXT_RULES],
    commandSets: ['context'],
    timeoutMs: fuzzTimeoutMs(3),
    breaks: ['driver.read-complete-context', 'driver.write-complete-context', 'driver.no-leave-freeze-with-partial-write', 'driver.mode-set-valid-value', 'driver.size-get-freeze-mode-0-or-1'],
  },
  (t) => machine(t, 'context', 250),
);

conformanceTest(
  {
    id: 'fuzz.fields-query-machine',
    title: 'FIELDS_QUERY answers consistently with the contexts READ returns, in any mode and stream state',
    requirements: [...ORACLE_RULES.fieldsQuery, ...CONTEXT_RULES],
    commandSets: ['context', 'fields-query'],
    timeoutMs: fuzzTimeoutMs(3),
    breaks: ['driver.read-complete-context', 'driver.write-complete-context', 'driver.no-leave-freeze-with-partial-write', 'driver.mode-set-valid-value', 'driver.size-get-freeze-mode-0-or-1'],
  },
  (t) => machine(t, 'fields', 30),
);

conformanceTest(
  {
    id: 'fuzz.write-record-commands',
    title: 'Random sequences of write-record commands (valid and invalid START and READ) get only outcomes the draft allows',
    requirements: [...ORACLE_RULES.writeRecordsOwner],
    commandSets: ['write-record'],
    timeoutMs: fuzzTimeoutMs(3),
    breaks: ['driver.records-read-length-page-multiple', 'driver.records-read-range-inside-started', 'driver.drain-records-before-stop', 'driver.stop-recording-it-started'],
  },
  (t) => machine(t, 'records-admin', 60),
);

conformanceTest(
  {
    id: 'fuzz.member-machine',
    title: 'Mode and context commands interleaved with guest I/O, kicks in Stop, member FLR and reset: allowed outcomes only, no request lost',
    requirements: [...CONTEXT_RULES, ...ORACLE_RULES.member, 'member.stop-accepts-notifications', 'ctx-format.context-sufficient-to-resume', 'ctx-format.split-runtime-resume-index'],
    commandSets: ['context'],
    needs: ['member-port', 'flr'],
    timeoutMs: fuzzTimeoutMs(15),
    breaks: ['driver.read-complete-context', 'driver.write-complete-context', 'driver.no-leave-freeze-with-partial-write', 'driver.mode-set-valid-value', 'driver.size-get-freeze-mode-0-or-1'],
  },
  (t) => machine(t, 'member', 60),
);

conformanceTest(
  {
    id: 'fuzz.write-record-completeness',
    title: 'Every page the device writes inside a started range is reported (read-and-clear, re-dirtying, FLR, Stop), no record outside',
    requirements: [...ORACLE_RULES.writeRecordsOwner, ...ORACLE_RULES.writeRecordsMember],
    commandSets: ['write-record'],
    needs: ['member-port', 'flr'],
    timeoutMs: fuzzTimeoutMs(20),
    breaks: ['driver.records-read-length-page-multiple', 'driver.records-read-range-inside-started', 'driver.drain-records-before-stop', 'driver.stop-recording-it-started'],
  },
  (t) => machine(t, 'records', 60),
);
