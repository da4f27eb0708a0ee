#!/usr/bin/env node
// `npm test`: type-check, then the project's own tests. Ends with the line `N passed, N failed`.
import { spawnSync } from 'node:child_process';

const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const tsc = spawnSync('npx', ['tsc', '--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit', env });
if (tsc.status !== 0) {
  process.stdout.write('type check failed\n0 passed, 1 failed\n');
  process.exit(1);
}
const args = ['vitest', 'run', ...process.argv.slice(2)];
const r = spawnSync('npx', args, { stdio: 'inherit', env });
process.exit(r.status ?? 1);
