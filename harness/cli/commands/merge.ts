/**
 * `vmcts merge`: the packages of the shards of one run into one package.
 *
 *   vmcts merge <dir...> --out <dir> [--sign-key <file>] [--public-key <file>] [--quiet]
 *
 * Each shard package is verified first (hashes, signature, schema); shards of different devices,
 * profiles or profile settings, vmcts builds, seeds or configs, duplicate shards and duplicate tests
 * are refused with one line per reason (exit 2). The merged package is complete only when every
 * shard i/n of one n is present and complete. Exit code: the merged run's, as `vmcts run` would
 * give it (0 conformant, 1 device failures, 2 harness error, 3 incomplete).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import type { SetExitCode } from '../commands.ts';

interface MergeFlags {
  out: string;
  signKey?: string;
  publicKey?: string;
  quiet?: boolean;
}

export function registerMerge(program: Command, setExitCode: SetExitCode): void {
  program
    .command('merge')
    .description('merge the packages of `vmcts run --shard i/n` into one package')
    .argument('<dirs...>', 'shard package folders')
    .requiredOption('--out <dir>', 'folder for the merged package')
    .option('--sign-key <file>', 'sign the merged manifest with this ed25519 private key (PEM)')
    .option('--public-key <file>', 'require every shard to be signed by this ed25519 public key')
    .option('--quiet', 'print nothing but errors')
    .action(async (dirs: string[], flags: MergeFlags) => {
      const { mergePackages, MergeError } = await import('../../../reports/merge.ts');
      const { loadPrivateKey, loadPublicKey, SigningKeyError } = await import('../../../reports/sign.ts');
      const { resultLine } = await import('../../../reports/summary-md.ts');
      let signKey;
      let publicKey;
      try {
        signKey = flags.signKey ? loadPrivateKey(flags.signKey) : undefined;
        publicKey = flags.publicKey ? loadPublicKey(flags.publicKey) : undefined;
      } catch (e) {
        if (e instanceof SigningKeyError) throw new ConfigError(e.message);
        throw e;
      }
      try {
        const { doc, written } = mergePackages(dirs, flags.out, { command: ['vmcts', ...process.argv.slice(2)].join(' '), signKey, publicKey });
        if (!flags.quiet) {
          const shards = doc.merged?.shards.map((s) => s.shard).join(', ');
          process.stdout.write(`Merged shards ${shards}: ${doc.tests.length} tests, ${doc.requirements.length} requirements\n`);
          process.stdout.write(`Result: ${resultLine(doc)} (exit code ${doc.run.exitCode})\n`);
          process.stdout.write(`Package: ${path.relative(process.cwd(), written.dir) || written.dir}${written.signedBy ? ` (signed by ${written.signedBy})` : ''}\n`);
        }
        setExitCode(doc.run.exitCode);
      } catch (e) {
        if (e instanceof MergeError) {
          process.stderr.write(`vmcts merge: cannot merge these packages:\n${e.problems.map((p) => `  ${p}`).join('\n')}\n`);
          setExitCode(2);
          return;
        }
        throw e;
      }
    });
}
