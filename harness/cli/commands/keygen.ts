/**
 * `vmcts keygen`: an ed25519 key pair for signing certification packages.
 *
 *   vmcts keygen --out <dir> [--name <base>] [--force]
 *
 * Writes <base>.pem (the private key, PKCS#8, mode 0600: give it to `vmcts run --sign-key`) and
 * <base>.pub.pem (the public key, SPKI: give it to `vmcts verify --public-key`). <base> defaults to
 * vmcts-signing-key. Existing files are kept unless --force.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import type { SetExitCode } from '../commands.ts';

interface KeygenFlags {
  out: string;
  name: string;
  force?: boolean;
}

export function registerKeygen(program: Command, setExitCode: SetExitCode): void {
  program
    .command('keygen')
    .description('create an ed25519 key pair for signing certification packages')
    .requiredOption('--out <dir>', 'folder for the key files')
    .option('--name <base>', 'base name of the key files', 'vmcts-signing-key')
    .option('--force', 'overwrite existing key files')
    .action(async (flags: KeygenFlags) => {
      const { generateSigningKeyPair, fingerprint, parsePublicKey } = await import('../../../reports/sign.ts');
      const priv = path.join(flags.out, `${flags.name}.pem`);
      const pub = path.join(flags.out, `${flags.name}.pub.pem`);
      for (const f of [priv, pub]) if (existsSync(f) && !flags.force) throw new ConfigError(`keygen: ${f} exists; use --force to replace it`);
      const { privateKeyPem, publicKeyPem } = generateSigningKeyPair();
      mkdirSync(flags.out, { recursive: true });
      writeFileSync(priv, privateKeyPem, { mode: 0o600 });
      chmodSync(priv, 0o600);
      writeFileSync(pub, publicKeyPem, { mode: 0o644 });
      process.stdout.write(`Private key: ${priv} (keep it secret; vmcts run --sign-key)\nPublic key:  ${pub} (vmcts verify --public-key)\nFingerprint: ${fingerprint(parsePublicKey(publicKeyPem))}\n`);
      setExitCode(0);
    });
}
