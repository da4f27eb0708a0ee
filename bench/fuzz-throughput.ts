import { FuzzWorld } from '../harness/oracle/fuzz-world.ts';
import { type MachineKind, runMachine } from '../harness/oracle/machine.ts';
import { fuzzEnvOf, openFuzzSession } from '../harness/oracle/session-env.ts';
import { atLeast, type Benchmark, type BenchFigure, type BenchOptions, info, median, round } from './figure.ts';

/** The target: command sequences of up to 30 commands per second against the simulator. */
export const FUZZ_SEQUENCES_PER_SECOND_TARGET = 1_000;

interface Rate {
  sequences: number;
  commands: number;
  seconds: number;
  cpuSeconds: number;
}

/**
 * One timed fuzz property: `runs` sequences of up to 30 commands of a state machine, each on a
 * session-baselined member and judged command by command by the oracle, exactly as the conformance
 * test runs them (suites/fuzz). Wall and CPU time both (a loaded machine shows in the difference).
 */
async function measure(kind: MachineKind, runs: number, seed: number): Promise<Rate> {
  const s = await openFuzzSession({ seed });
  try {
    s.admin.logLimit = 200;
    const member = kind === 'member' || kind === 'records';
    const world = new FuzzWorld(fuzzEnvOf(s, [1]), { workloadMembers: member ? [1] : [], guestInit: { queues: 2 } });
    const seq0 = s.admin.log.at(-1)?.seq ?? 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const out = await runMachine(world, kind, { seed, numRuns: runs });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    world.release();
    if (out.error !== undefined || out.details?.failed) {
      throw new Error(`fuzz-throughput: the ${kind} machine failed against the reference device: ${out.failure?.steps.join(' | ') ?? String(out.error ?? out.details?.errorInstance)}`);
    }
    return { sequences: out.runs, commands: (s.admin.log.at(-1)?.seq ?? 0) - seq0, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await s.close();
  }
}

/**
 * Fuzzing throughput against the simulator: model-based sequences of up to 30 admin commands (mode
 * and context commands with valid and invalid inputs, the session baseline between sequences, every
 * outcome judged by the oracle) per second, the figure the issue holds to 1,000/s; and, for
 * information, the member machine (guest I/O, FLR, virtio reset), whose rate is bounded by the turns
 * of the event loop the reference device's own work and the baseline's member reset take.
 */
export const fuzzThroughput: Benchmark = {
  id: 'fuzz-throughput',
  title: 'model-based fuzz sequences (up to 30 commands, oracle-checked) per second against the simulator',
  async run(o: BenchOptions): Promise<BenchFigure[]> {
    const runs = o.quick ? 150 : 1000;
    const rounds = o.quick ? 2 : 5;
    await measure('context', o.quick ? 50 : 300, 7); // warm-up
    const rates: Rate[] = [];
    for (let r = 0; r < rounds; r++) rates.push(await measure('context', runs, 100 + r));
    const seqRates = rates.map((x) => x.sequences / x.seconds);
    const cmdRates = rates.map((x) => x.commands / x.seconds);
    const cpuRates = rates.map((x) => x.sequences / x.cpuSeconds);
    const member = await measure('member', o.quick ? 20 : 100, 3);
    o.log?.(
      `fuzz-throughput: ${rounds} rounds of ${runs} context sequences: ${seqRates.map((x) => Math.round(x)).join(', ')} /s (${Math.round(median(cmdRates))} admin commands/s, ${round(rates[0].commands / rates[0].sequences, 1)} commands per sequence with the baseline); member machine ${Math.round(member.sequences / member.seconds)} /s (CPU ${round(member.cpuSeconds / member.seconds, 2)} of wall: the rest is time the process did not run or waited for the device)`,
    );
    return [
      atLeast('fuzz-sequences-per-second', round(median(seqRates), 0), 'sequences/s', FUZZ_SEQUENCES_PER_SECOND_TARGET),
      info('fuzz-sequences-per-cpu-second', round(median(cpuRates), 0), 'sequences/CPU-s'),
      info('fuzz-admin-commands-per-second', round(median(cmdRates), 0), 'commands/s'),
      info('fuzz-member-sequences-per-second', round(member.sequences / member.seconds, 0), 'sequences/s'),
    ];
  },
};
