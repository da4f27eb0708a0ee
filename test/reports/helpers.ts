import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** True under CI (CI=1 or CI=true): a missing system tool is then a failure, not a skip. */
export const IN_CI = !!process.env.CI && process.env.CI !== '0' && process.env.CI !== 'false';

export function tmpDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `vmcts-${prefix}-`));
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** `vmcts ARGS` in a child process (async, so several runs can share the machine's cores). */
export function vmctsAsync(args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'bin/vmcts.mjs'), ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (err += String(d)));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

export function vmctsSync(args: string[]): CliResult {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/vmcts.mjs'), ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** Whether a program is on PATH. */
export function hasProgram(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}
