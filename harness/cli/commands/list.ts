/**
 * `vmcts list`: the requirement catalog as a table or as JSON.
 *
 *   vmcts list [--json] [--level <L...>] [--role <R...>] [--area <A...>] [--profile <name>]
 *
 * Levels may be written `MUST NOT`, `must-not` or `MUST_NOT`. `--role driver` selects both driver
 * roles (owner-driver, member-driver). The first line of the table names the active profile; the
 * JSON form is `{ profile, requirements }` where every requirement carries its covering `tests`.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { coveringTests } from '../../catalog-coverage.ts';
import {
  AREAS,
  LEVELS,
  loadCatalog,
  ROLE_FILTERS,
  type RequirementArea,
  type RequirementLevel,
  type RoleFilter,
} from '../../../spec/catalog.ts';
import { DEFAULT_PROFILE, loadProfile, profileHeader } from '../../../spec/profiles.ts';
import type { SetExitCode } from '../commands.ts';

interface ListOptions {
  json?: boolean;
  level?: string[];
  role?: string[];
  area?: string[];
  profile: string;
}

function pick<T extends string>(what: string, given: string[] | undefined, allowed: readonly T[], normalize: (s: string) => string): T[] | undefined {
  if (!given || given.length === 0) return undefined;
  return given.map((g) => {
    const v = normalize(g);
    if (!(allowed as readonly string[]).includes(v)) {
      throw new ConfigError(`unknown ${what} '${g}'; allowed: ${allowed.join(', ')}`);
    }
    return v as T;
  });
}

/** Pads every column to its widest cell; plain text, no colours. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function registerListCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('list')
    .description('print the requirement catalog (id, level, role, area, testability, covering tests)')
    .option('--json', 'print JSON: { profile, requirements }')
    .option('--level <level...>', `filter by level (${LEVELS.join(', ')})`)
    .option('--role <role...>', `filter by role (${ROLE_FILTERS.join(', ')})`)
    .option('--area <area...>', `filter by area (${AREAS.join(', ')})`)
    .option('--profile <name>', 'spec profile to report as active', DEFAULT_PROFILE)
    .action(async (opts: ListOptions) => {
      const level = pick<RequirementLevel>('level', opts.level, LEVELS, (s) => s.toUpperCase().replace(/[-_]+/g, ' ').trim());
      const role = pick<RoleFilter>('role', opts.role, ROLE_FILTERS, (s) => s.toLowerCase());
      const area = pick<RequirementArea>('area', opts.area, AREAS, (s) => s.toLowerCase());
      // `vmcts list | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(0);
        throw e;
      });
      const profile = loadProfile(opts.profile);
      const catalog = loadCatalog();
      const tests = await coveringTests();
      const entries = catalog.filter({ level, role, area });
      if (opts.json) {
        const requirements = entries.map((r) => ({ ...r, tests: tests.get(r.id) ?? [] }));
        const out = {
          profile: { id: profile.id, title: profile.title, settings: profile.settings, readings: profile.readings },
          requirements,
        };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        const rows = entries.map((r) => [r.id, r.level, r.role, r.area, r.testability.class, (tests.get(r.id) ?? []).join('; ') || '-']);
        process.stdout.write(`${profileHeader(profile)}\n`);
        process.stdout.write(`${formatTable(['id', 'level', 'role', 'area', 'testability', 'tests'], rows)}\n`);
        process.stdout.write(`${entries.length} of ${catalog.size} requirements\n`);
      }
      setExitCode(0);
    });
}
