import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import type { SetExitCode } from '../commands.ts';

/** Repeatable, comma-separated list option. */
export const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

export function registerRun(program: Command, setExitCode: SetExitCode): void {
  program
    .command('run')
    .description('run the conformance suite against a device and write the reports')
    .option('--config <file>', 'config file (default: conformance.config.ts in the current folder)')
    .option('--transport <kind>', 'simulator | simulator-pci | vfio | vfio-user (overrides the config)')
    .option('--profile <name>', 'spec profile (default seed-v2)')
    .option('--requirement <id>', 'check only this requirement (repeatable, comma-separated)', collect)
    .option('--level <level>', 'MUST | MUST_NOT | SHOULD | SHOULD_NOT | MAY (repeatable)', collect)
    .option('--area <area>', 'catalog area (repeatable)', collect)
    .option('--test <id>', 'run only this test (repeatable; used by replay commands)', collect)
    .option('--seed <n>', 'seed of everything random in the run')
    .option('--out <dir>', 'output folder for results.json and the other reports')
    .option('--shard <i/n>', 'run shard i of n')
    .option('--fuzz-runs <n>', 'property-based fuzzing budget')
    .option('--replay <path>', 'run a fuzz failure again: the path its replay line printed (with --test and --seed)')
    .option('--fake-host', 'vfio transport against the in-memory fake host (a card of the reference device\'s PCI models): the whole vfio code path without hardware')
    .option('--mutant <name>', 'run against a seeded-bug variant of the reference device (simulator; see `vmcts mutants`)')
    .option('--quiet', 'print nothing but errors')
    .option('--sign-key <file>', 'sign the package manifest with this ed25519 private key (PEM; see `vmcts keygen`)')
    .action(async (flags) => {
      if (flags.signKey) {
        // A key that cannot sign is a usage error before the run, not a failure after it.
        const { loadPrivateKey } = await import('../../../reports/sign.ts');
        try {
          loadPrivateKey(flags.signKey);
        } catch (e) {
          throw new ConfigError(`--sign-key: ${(e as Error).message}`);
        }
      }
      // Loaded on use: vitest and the catalog are not needed by the other commands.
      const { runCommand } = await import('../run-command.ts');
      setExitCode(await runCommand(flags, process.argv.slice(2)));
    });
}
