import type { Command } from 'commander';
import { registerBench } from './commands/bench.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerKeygen } from './commands/keygen.ts';
import { registerListCommand } from './commands/list.ts';
import { registerMerge } from './commands/merge.ts';
import { registerMutants } from './commands/mutants.ts';
import { registerRun } from './commands/run.ts';
import { registerVerify } from './commands/verify.ts';

/** Sets the process exit code a subcommand decided on. */
export type SetExitCode = (code: number) => void;

/**
 * Every subcommand lives in its own module under ./commands/ and registers itself here;
 * the list is explicit so start-up loads nothing by directory scan.
 */
export function registerCommands(program: Command, setExitCode: SetExitCode): void {
  registerRun(program, setExitCode);
  registerListCommand(program, setExitCode);
  registerBench(program, setExitCode);
  registerVerify(program, setExitCode);
  registerMerge(program, setExitCode);
  registerKeygen(program, setExitCode);
  registerMutants(program, setExitCode);
  registerDoctor(program, setExitCode);
}
