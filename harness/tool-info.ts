import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (where package.json and suites/ are). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let info: { name: string; version: string; commit?: string } | undefined;

/** Tool name, version and git commit (when run from a checkout), for every report. */
export function toolInfo(): { name: string; version: string; commit?: string } {
  if (info) return info;
  const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || undefined;
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    if (commit && dirty) commit += '-dirty';
  } catch {
    commit = undefined;
  }
  info = { name: pkg.name, version: pkg.version, ...(commit ? { commit } : {}) };
  return info;
}
