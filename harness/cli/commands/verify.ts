/**
 * `vmcts verify`: checks a certification package (the folder `vmcts run --out DIR` or `vmcts merge`
 * wrote).
 *
 *   vmcts verify <dir> [--public-key <file>] [--allow-incomplete] [--json]
 *
 * Exit codes: 0 the package is valid (every hash and the signature hold, no file missing or added,
 * results.json valid, every requirement of the catalog has a verdict, one device identity, the run
 * complete, or incomplete with --allow-incomplete); 1 it is not, each problem on its own line;
 * 2 usage error (no such folder, unreadable key). `--json` prints `{ valid, problems, notes, signedBy,
 * incomplete }` instead.
 */
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { toolInfo } from '../../tool-info.ts';
import type { SetExitCode } from '../commands.ts';

interface VerifyFlags {
  publicKey?: string;
  allowIncomplete?: boolean;
  json?: boolean;
}

export function registerVerify(program: Command, setExitCode: SetExitCode): void {
  program
    .command('verify')
    .description('check a certification package: hashes, signature, schema, a verdict for every requirement, one device')
    .argument('<dir>', 'package folder (vmcts run --out DIR, vmcts merge --out DIR)')
    .option('--public-key <file>', 'require a signature by this ed25519 public key (PEM or base64 SPKI)')
    .option('--allow-incomplete', 'accept a valid package of an aborted run (exit 0, says so)')
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, flags: VerifyFlags) => {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(`verify: ${dir} is not a folder`);
      // Loaded on use: the report modules and the catalog are not needed by the other commands.
      const { verifyPackage, formatVerify } = await import('../../../reports/verify.ts');
      const { loadPublicKey, SigningKeyError } = await import('../../../reports/sign.ts');
      let publicKey;
      try {
        publicKey = flags.publicKey ? loadPublicKey(flags.publicKey) : undefined;
      } catch (e) {
        if (e instanceof SigningKeyError) throw new ConfigError(`--public-key: ${e.message}`);
        throw e;
      }
      const opts = { publicKey, allowIncomplete: flags.allowIncomplete, toolVersion: toolInfo().version };
      const res = verifyPackage(dir, opts);
      if (flags.json) {
        const out = { dir, valid: res.valid, problems: res.problems, notes: res.notes, signedBy: res.signedBy ?? null, incomplete: res.incomplete ?? null };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        process.stdout.write(`${formatVerify(res, opts).join('\n')}\n`);
      }
      setExitCode(res.valid ? 0 : 1);
    });
}
