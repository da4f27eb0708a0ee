import { describe, expect, it } from 'vitest';
import { executeConformanceTest, testSeed } from '../../harness/ctest.ts';
import { FuzzWorld } from '../../harness/oracle/fuzz-world.ts';
import { type MachineKind, runMachine, splitReplay } from '../../harness/oracle/machine.ts';
import { runRoundTrip } from '../../harness/oracle/round-trip.ts';
import { fuzzEnvOf, openFuzzSession } from '../../harness/oracle/session-env.ts';
import type { RunPlan } from '../../harness/run/run-plan.ts';
import { collectSuiteDefs } from '../../harness/test-registry.ts';
import type { Session } from '../../harness/session/session.ts';
import { loadProfile } from '../../spec/profiles.ts';
import { toolInfo } from '../../harness/tool-info.ts';

/** Driver rules the fuzz tests break on purpose (their `breaks`): everything else must be obeyed. */
const BREAKS = new Set([
  'driver.read-complete-context',
  'driver.write-complete-context',
  'driver.no-leave-freeze-with-partial-write',
  'driver.mode-set-valid-value',
  'driver.size-get-freeze-mode-0-or-1',
  'driver.records-read-length-page-multiple',
  'driver.records-read-range-inside-started',
  'driver.drain-records-before-stop',
  'driver.stop-recording-it-started',
]);

async function machine(s: Session, kind: MachineKind, runs: number, seed: number, replay?: string) {
  const member = kind === 'member' || kind === 'records';
  const world = new FuzzWorld(fuzzEnvOf(s, [1]), { workloadMembers: member ? [1] : [], guestInit: { queues: 2 } });
  s.monitor.beginTest([...BREAKS]);
  try {
    const out = await runMachine(world, kind, { seed, numRuns: runs, replay });
    return { out, world, monitor: s.monitor.endTest() };
  } finally {
    world.release();
  }
}

describe('the oracle against the reference device', () => {
  for (const [kind, runs] of [
    ['context', 300],
    ['fields', 60],
    ['records-admin', 150],
    ['member', 60],
    ['records', 60],
  ] as [MachineKind, number][]) {
    it(`accepts every outcome of ${runs} random ${kind} sequences`, async () => {
      const s = await openFuzzSession({ seed: 11 });
      try {
        const { out, world, monitor } = await machine(s, kind, runs, 1234);
        expect(out.error, String(out.error)).toBeUndefined();
        expect(out.failure?.steps.join('\n') ?? '').toBe('');
        expect(out.details?.failed).toBe(false);
        expect(out.runs).toBe(runs);
        expect([...world.soft.values()].map((x) => `${x.v.rule}: ${x.v.observed}`)).toEqual([]);
        expect(monitor.map((v) => `${v.rule}: ${v.message}`)).toEqual([]);
      } finally {
        await s.close();
      }
    }, 120_000);
  }

  it('accepts round trips of members with four queues', async () => {
    const s = await openFuzzSession({ seed: 6, devices: [{ type: 'block', numQueues: 4 }, { type: 'block', numQueues: 4 }] });
    try {
      const world = new FuzzWorld(fuzzEnvOf(s, [1, 2]), { workloadMembers: [1] });
      const out = await runRoundTrip(world, { seed: 17, numRuns: 30 });
      world.release();
      expect(out.failure?.steps.join('\n') ?? '').toBe('');
      expect(out.details?.failed).toBe(false);
    } finally {
      await s.close();
    }
  }, 120_000);

  it('accepts 40 random context round trips and sees every migrated request finish', async () => {
    const s = await openFuzzSession({ seed: 5 });
    try {
      const world = new FuzzWorld(fuzzEnvOf(s, [1, 2]), { workloadMembers: [1] });
      s.monitor.beginTest([...BREAKS]);
      const out = await runRoundTrip(world, { seed: 99, numRuns: 40 });
      world.release();
      expect(out.error, String(out.error)).toBeUndefined();
      expect(out.failure?.steps.join('\n') ?? '').toBe('');
      expect(out.details?.failed).toBe(false);
      expect([...world.soft.values()].map((x) => `${x.v.rule}: ${x.v.observed}`)).toEqual([]);
      expect(s.monitor.endTest().map((v) => `${v.rule}: ${v.message}`)).toEqual([]);
    } finally {
      await s.close();
    }
  }, 120_000);
});

describe('fuzz failures', () => {
  it('shrink to a short sequence and replay exactly from seed and path', async () => {
    const s = await openFuzzSession({ mutant: 'fuzz-discard-reread-unlocks-mode' });
    try {
      const first = await machine(s, 'context', 1000, 1859612755);
      expect(first.out.failure, 'the mutant was not caught').toBeDefined();
      const f = first.out.failure!;
      expect(f.violations.map((v) => v.rule)).toContain('mode.set-fails-while-read-partial');
      expect(f.sequence.length).toBeLessThanOrEqual(8);
      expect(f.sequence.at(-1)).toBe('MODE_SET(1, Active)');
      const replay = first.out.replay!;
      expect(splitReplay(replay).commandsPath).toBeDefined();
      const again = await machine(s, 'context', 1000, 1859612755, replay);
      expect(again.out.details?.numRuns).toBe(1);
      expect(again.out.failure?.sequence).toEqual(f.sequence);
      expect(again.out.failure?.steps).toEqual(f.steps);
    } finally {
      await s.close();
    }
  }, 120_000);

  it('are reported with the requirement, the shrunk sequence and a replay line with the run seed', async () => {
    const profile = loadProfile('seed-v2');
    const plan: RunPlan = {
      tool: toolInfo(),
      config: { transport: { kind: 'simulator', mutant: 'fuzz-refused-mode-set-restarts-stream' } },
      profile: { id: profile.id, settings: profile.settings },
      requirements: [],
      tests: [],
      seed: 1,
      timeouts: { commandMs: 1000, testMs: 30_000, runMs: 600_000 },
      outDir: '/dev/null',
      replayBase: 'vmcts run --mutant fuzz-refused-mode-set-restarts-stream --seed 1',
    };
    const def = (await collectSuiteDefs()).find((d) => d.def.id === 'fuzz.mode-context-machine')!;
    let session: Session | undefined;
    try {
      const meta = await executeConformanceTest(def.def, def.body, plan, async () => (session ??= await openFuzzSession({ mutant: 'fuzz-refused-mode-set-restarts-stream' })));
      expect(meta.verdict).toBe('FAIL');
      const failed = Object.entries(meta.outcomes).filter(([, o]) => o === 'FAIL').map(([r]) => r);
      expect(failed.some((r) => r === 'ctx-size.zero-after-stream-end' || r === 'ctx-read.zero-len-after-stream-end')).toBe(true);
      const text = meta.messages.join('\n');
      expect(text).toMatch(/shrunk command sequence: \[MODE_SET\(1, Freeze\), .*MODE_SET\(1, reserved/);
      expect(text).toMatch(new RegExp(`seed ${testSeed(1, 'fuzz.mode-context-machine')} \\(run seed 1\\), path \\d+(:\\d+)*`));
      const line = /replay: (vmcts run .*)/.exec(text)![1];
      expect(line).toMatch(/^vmcts run --mutant fuzz-refused-mode-set-restarts-stream --seed 1 --test fuzz\.mode-context-machine --replay \d+(:\d+)*@\S+$/);
      // The wire trace holds the failing run, not every run of the property.
      expect(meta.trace.length).toBeLessThan(40);
      // Replaying the printed path runs that one sequence and fails the same way.
      const replayPath = line.split('--replay ')[1];
      const again = await executeConformanceTest(def.def, def.body, { ...plan, tests: ['fuzz.mode-context-machine'], replayPath }, async () => session!);
      expect(again.verdict).toBe('FAIL');
      expect(again.messages.find((m) => m.startsWith('shrunk command sequence'))).toBe(meta.messages.find((m) => m.startsWith('shrunk command sequence')));
      expect(again.messages.join('\n')).toMatch(/failed after 1 run\(s\), shrunk 0 time\(s\)/);
    } finally {
      await (session as Session | undefined)?.close();
    }
  }, 120_000);
});
