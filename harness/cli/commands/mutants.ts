import type { Command } from 'commander';
import type { SetExitCode } from '../commands.ts';
import { collect } from './run.ts';

interface MutantsFlags {
  json?: boolean;
  run?: boolean;
  only?: string[];
}

/** `vmcts mutants`: the seeded-bug devices and the requirement each breaks; `--run` runs the mutation matrix. */
export function registerMutants(program: Command, setExitCode: SetExitCode): void {
  program
    .command('mutants')
    .description('list the seeded-bug variants of the reference device (`--run`: check the suite catches each)')
    .option('--json', 'print JSON')
    .option('--run', 'run the mutation matrix: each mutant against the tests of its target requirements')
    .option('--only <name>', 'only these mutants (repeatable, comma-separated)', collect)
    .action(async (flags: MutantsFlags) => {
      const { loadMutants } = await import('../../../transports/simulator/index.ts');
      const { mutantArea, mutationScore, runMatrix } = await import('../../mutation/matrix.ts');
      const list = (await loadMutants()).filter((m) => !flags.only?.length || flags.only.includes(m.name));
      if (!flags.run) {
        if (flags.json) {
          process.stdout.write(JSON.stringify(list.map((m) => ({ name: m.name, area: mutantArea(m), targets: m.targets, expect: m.expect ?? 'FAIL', description: m.description })), null, 2) + '\n');
        } else {
          const w = Math.max(4, ...list.map((m) => m.name.length));
          for (const m of list) process.stdout.write(`${m.name.padEnd(w)}  ${m.targets.join(', ')}\n${' '.repeat(w + 2)}${m.description}\n`);
          process.stdout.write(`${list.length} mutants; run one with: vmcts run --mutant <name>\n`);
        }
        setExitCode(0);
        return;
      }
      const results = await runMatrix({
        only: flags.only,
        onResult: (r) => {
          if (!flags.json) process.stdout.write(`${r.killed ? 'killed  ' : 'SURVIVED'} ${r.name}  ${r.detail.map((d) => `${d.requirement}=${d.outcome}`).join(', ')}\n`);
        },
      });
      const s = mutationScore(results);
      if (flags.json) process.stdout.write(JSON.stringify({ score: s, results }, null, 2) + '\n');
      else {
        process.stdout.write(`\nMutation score: ${s.killed}/${s.total}\n`);
        for (const [a, v] of Object.entries(s.byArea).sort()) process.stdout.write(`  ${a.padEnd(12)} ${v.killed}/${v.total}\n`);
      }
      setExitCode(s.killed === s.total ? 0 : 1);
    });
}
