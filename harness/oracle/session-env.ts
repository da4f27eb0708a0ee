/**
 * The fuzz environment over a harness Session: its admin client, member ports, command sets and the
 * session baseline between runs. `openFuzzSession` opens a session on the simulator outside a
 * conformance run (benchmarks, self-tests), with the same plan shape `vmcts run` builds.
 */
import type { AdminTransport } from '../../protocol/admin-transport.ts';
import type { SimulatorMemberConfig } from '../config/define-config.ts';
import { loadProfile } from '../../spec/profiles.ts';
import type { RunPlan } from '../run/run-plan.ts';
import { Session } from '../session/session.ts';
import { toolInfo } from '../tool-info.ts';
import type { FuzzEnv } from './fuzz-world.ts';

export function fuzzEnvOf(session: Session, members: readonly number[]): FuzzEnv {
  const tr = session.transport;
  return {
    admin: session.admin,
    wire: session.wire,
    settings: session.plan.profile.settings,
    members: [...members],
    ...(tr.capabilities.memberPort ? { port: (m: number) => tr.member(m) } : {}),
    sets: { ...session.commandSets },
    inUse: session.inUse,
    baseline: (ms) => session.baseline(ms),
  };
}

/**
 * A session on the simulator (the reference device, or a mutant of it) with a seed-v2 plan; over
 * `transport` when given (a device a self-test built itself).
 */
export async function openFuzzSession(o: { seed?: number; mutant?: string; devices?: SimulatorMemberConfig[]; transport?: AdminTransport } = {}): Promise<Session> {
  const profile = loadProfile('seed-v2');
  const plan: RunPlan = {
    tool: toolInfo(),
    config: { transport: { kind: 'simulator', ...(o.devices ? { devices: o.devices } : {}), ...(o.mutant ? { mutant: o.mutant } : {}) } },
    profile: { id: profile.id, settings: profile.settings },
    requirements: [],
    tests: [],
    seed: o.seed ?? 1,
    timeouts: { commandMs: 2000, testMs: 30_000, runMs: 600_000 },
    outDir: '',
    replayBase: 'vmcts run',
  };
  return Session.open(plan, o.transport);
}
