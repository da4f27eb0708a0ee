/**
 * `vmcts bench`: benchmark figures measured in one run.
 *
 *   vmcts bench [--json] [--quick] [--only <id,...>] [--strict]
 *
 * Human output: one line per figure (value, unit, target, met / NOT MET); progress notes go to
 * stderr. `--json` prints only `{ "figures": [{ "name", "value", "unit", "target", "met" }] }` on
 * stdout. The exit code is 0 whatever the figures (benchmarks are not timed tests) unless
 * `--strict` is given, which exits 1 when any target is not met.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import type { SetExitCode } from '../commands.ts';
import { collect } from './run.ts';

interface BenchFlags {
  json?: boolean;
  quick?: boolean;
  only?: string[];
  strict?: boolean;
}

export function registerBench(program: Command, setExitCode: SetExitCode): void {
  program
    .command('bench')
    .description('benchmarks: admin commands/s through the simulator, device-context codec vs Buffer.copy, a 65,535-queue context round trip')
    .option('--json', 'print only the JSON { figures: [{ name, value, unit, target, met }] }')
    .option('--quick', 'fewer iterations (self-tests; values are less stable)')
    .option('--only <id>', 'run only these benchmarks (repeatable, comma-separated)', collect)
    .option('--strict', 'exit 1 when a figure does not meet its target')
    .action(async (flags: BenchFlags) => {
      // Loaded on use: the other commands need none of the benchmark code.
      const { BENCHMARKS, runBenchmarks } = await import('../../../bench/index.ts');
      const unknown = (flags.only ?? []).filter((id) => !BENCHMARKS.some((b) => b.id === id));
      if (unknown.length) throw new ConfigError(`unknown benchmark '${unknown.join("', '")}'; known: ${BENCHMARKS.map((b) => b.id).join(', ')}`);
      const figures = await runBenchmarks({
        quick: flags.quick,
        only: flags.only,
        log: flags.json ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ figures }, null, 2)}\n`);
      } else {
        const nameW = Math.max(...figures.map((f) => f.name.length));
        const valW = Math.max(...figures.map((f) => formatValue(f.value).length));
        const unitW = Math.max(...figures.map((f) => f.unit.length));
        for (const f of figures) {
          const verdict = f.met === null ? '' : f.met ? 'met' : 'NOT MET';
          const target = f.target === null ? '(no target)' : `target ${f.target}`;
          process.stdout.write(`${f.name.padEnd(nameW)}  ${formatValue(f.value).padStart(valW)} ${f.unit.padEnd(unitW)}  ${target}${verdict ? `  ${verdict}` : ''}\n`);
        }
      }
      setExitCode(flags.strict && figures.some((f) => f.met === false) ? 1 : 0);
    });
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toLocaleString('en-US', { maximumFractionDigits: 4 });
}
