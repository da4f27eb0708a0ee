import path from 'node:path';
import { loadProfile, DEFAULT_PROFILE } from '../../spec/profiles.ts';
import { consoleSummary } from '../../reports/console-summary.ts';
import { writePackage } from '../../reports/package.ts';
import type { ConformanceConfig, ConfigLevel } from '../config/define-config.ts';
import { BUILTIN_CONFIG, findConfigFile, loadConfigFile, validateConfig } from '../config/load-config.ts';
import { ConfigError } from '../errors.ts';
import { assembleResults } from '../run/assemble-results.ts';
import type { RunPlan } from '../run/run-plan.ts';
import { selectRequirements } from '../run/select.ts';
import { runSuites } from '../run/vitest-run.ts';
import { PROJECT_ROOT, toolInfo } from '../tool-info.ts';
import { undoPreparedHosts, withPreparedHost } from '../../transports/host-preparation.ts';
import { findTransport } from '../../transports/index.ts';

export interface RunFlags {
  config?: string;
  transport?: string;
  profile?: string;
  requirement?: string[];
  level?: string[];
  area?: string[];
  test?: string[];
  seed?: string;
  out?: string;
  shard?: string;
  fuzzRuns?: string;
  replay?: string;
  mutant?: string;
  fakeHost?: boolean;
  quiet?: boolean;
  signKey?: string;
}

function intFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new ConfigError(`--${name}: "${v}" is not a whole number`);
  return Number(v);
}

/** Config file, then command-line flags over it; the result is validated again as a whole. */
export async function resolvePlan(flags: RunFlags, argv: string[]): Promise<{ plan: RunPlan; command: string }> {
  const file = findConfigFile(flags.config);
  let config: ConformanceConfig = file ? await loadConfigFile(file) : structuredClone(BUILTIN_CONFIG);
  config = structuredClone(config);
  if (flags.transport) {
    if (config.transport.kind !== flags.transport) config.transport = { kind: flags.transport } as ConformanceConfig['transport'];
  }
  if (flags.fakeHost) {
    const t = config.transport.kind === 'vfio' ? config.transport : { kind: 'vfio' as const, pf: '0000:3b:00.0' };
    config.transport = { ...t, fakeHost: typeof t.fakeHost === 'object' ? t.fakeHost : {} };
  }
  if (flags.mutant && config.transport.kind === 'vfio' && config.transport.fakeHost) {
    const f = config.transport.fakeHost;
    config.transport = { ...config.transport, fakeHost: { ...(typeof f === 'object' ? f : {}), mutant: flags.mutant } };
  } else if (flags.mutant) {
    if (config.transport.kind !== 'simulator' && config.transport.kind !== 'simulator-pci') config.transport = { kind: 'simulator' };
    config.transport = { ...config.transport, mutant: flags.mutant };
  }
  if (flags.profile) config.profile = flags.profile;
  if (flags.requirement?.length) config.requirements = flags.requirement;
  if (flags.level?.length) config.levels = flags.level.map((l) => l.toUpperCase().replace('_', ' ')) as ConfigLevel[];
  if (flags.area?.length) config.areas = flags.area;
  if (flags.test?.length) config.tests = flags.test;
  const seed = intFlag('seed', flags.seed);
  if (seed !== undefined) config.seed = seed;
  if (flags.out) config.outDir = flags.out;
  const fuzzRuns = intFlag('fuzz-runs', flags.fuzzRuns);
  if (fuzzRuns !== undefined) config.fuzz = { ...config.fuzz, runs: fuzzRuns };
  config = validateConfig(config, file ? `${file} with command-line flags` : 'the command-line flags');
  if (flags.shard && !/^\d+\/\d+$/.test(flags.shard)) throw new ConfigError(`--shard: "${flags.shard}" is not of the form i/n`);

  const profile = loadProfile(config.profile ?? DEFAULT_PROFILE, config.overrides);
  const selected = selectRequirements({ levels: config.levels, areas: config.areas, requirements: config.requirements });
  const runSeed = config.seed ?? 1;
  const configArg = file ? ` --config ${path.relative(process.cwd(), path.resolve(file)) || file}` : '';
  const plan: RunPlan = {
    tool: toolInfo(),
    ...(file ? { configFile: path.resolve(file) } : {}),
    config,
    profile: { id: profile.id, settings: profile.settings },
    requirements: selected.map((r) => r.id),
    tests: config.tests ?? [],
    seed: runSeed,
    timeouts: { commandMs: config.timeouts?.commandMs ?? 2000, testMs: config.timeouts?.testMs ?? 30_000, runMs: config.timeouts?.runMs ?? 1_800_000 },
    ...(config.fuzz?.runs ? { fuzzRuns: config.fuzz.runs } : {}),
    ...(flags.replay ? { replayPath: flags.replay } : {}),
    outDir: path.resolve(config.outDir ?? 'vmcts-out'),
    replayBase: `vmcts run${configArg}${flags.transport ? ` --transport ${flags.transport}` : ''}${flags.fakeHost ? ' --fake-host' : ''}${flags.mutant ? ` --mutant ${flags.mutant}` : ''}${flags.profile ? ` --profile ${flags.profile}` : ''} --seed ${runSeed}`,
    ...(flags.shard ? { shard: flags.shard } : {}),
  };
  return { plan, command: ['vmcts', ...argv].join(' ') };
}

export async function runCommand(flags: RunFlags, argv: string[]): Promise<number> {
  const { plan, command } = await resolvePlan(flags, argv);
  const profile = loadProfile(plan.profile.id, plan.config.overrides);
  const selected = selectRequirements({ levels: plan.config.levels, areas: plan.config.areas, requirements: plan.config.requirements });
  const say = (line: string) => {
    if (!flags.quiet) process.stdout.write(line + '\n');
  };
  say(`vmcts ${plan.tool.version} — profile ${profile.id}, transport ${plan.config.transport.kind}, ${selected.length} requirement(s) selected, seed ${plan.seed}`);
  const startedAt = new Date();
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => () => {
    interrupts++;
    // Quitting at once still undoes what host preparation changed.
    if (interrupts > 1) return void undoPreparedHosts().finally(() => process.exit(3));
    process.stderr.write('\nvmcts: interrupted; finishing the report (press Ctrl-C again to quit at once)\n');
    abort.abort(new Error(`interrupted by ${signal}`));
  };
  const onSigint = onSignal('SIGINT');
  const onSigterm = onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    // The transport checks its config and prepares the host (if it must) here, before the test
    // worker starts; the preparation is undone however the run ends.
    const transport = plan.config.transport;
    const registration = findTransport(transport.kind);
    await registration?.validate?.(transport);
    const { collected, incompleteReason } = await withPreparedHost(registration, transport, say, () => runSuites(plan, PROJECT_ROOT, say, abort.signal));
    const doc = assembleResults({
      plan,
      collected,
      selected,
      startedAt,
      endedAt: new Date(),
      incompleteReason,
      profile: {
        id: profile.id,
        title: profile.title,
        settings: { ...profile.settings },
        readings: profile.readings.map((r) => ({ setting: r.setting, errata: r.errata, value: r.value, reading: r.reading, overridden: r.overridden })),
      },
      command,
    });
    const file = writePackage(plan.outDir, doc, { signKey: flags.signKey }).htmlFile;
    if (!flags.quiet) process.stdout.write(consoleSummary(doc) + '\n');
    say(`Report: ${path.relative(process.cwd(), file) || file}`);
    return doc.run.exitCode;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}

