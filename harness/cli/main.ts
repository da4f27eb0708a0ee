import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands.ts';
import { ConfigError, HarnessError } from '../errors.ts';

/** Exit codes of DESIGN.md: 0 conformant, 1 device failures, 2 config/harness error, 3 incomplete run. */
export const EXIT = { OK: 0, DEVICE_FAILURES: 1, CONFIG_OR_HARNESS: 2, INCOMPLETE: 3 } as const;

export async function main(argv: string[]): Promise<number> {
  const program = new Command('vmcts')
    .description('Conformance suite for virtio device-migration group administration commands')
    .exitOverride()
    .showHelpAfterError();
  let exitCode: number = EXIT.OK;
  registerCommands(program, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return e.exitCode === 0 ? EXIT.OK : EXIT.CONFIG_OR_HARNESS;
    }
    if (e instanceof ConfigError || e instanceof HarnessError) {
      process.stderr.write(`vmcts: ${e.message}\n`);
      return EXIT.CONFIG_OR_HARNESS;
    }
    throw e;
  }
  return exitCode;
}
