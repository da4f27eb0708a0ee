import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResultsDocument } from '../../reports/results.ts';
import { ROOT, tmpDir, vmctsAsync, vmctsSync } from './helpers.ts';

const read = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as ResultsDocument;
const TEST_LINE = /^(PASS|FAIL|WARN|NOT_APPLICABLE|NOT_TESTED|TIMEOUT|WEDGED|HARNESS_ERROR)\s+\S/m;

/** A config file for the simulator with the device mutant that never completes DEV_MODE_SET. */
function hangConfig(commandMs: number): string {
  const file = path.join(tmpDir('cfg'), 'hang.config.json');
  writeFileSync(file, JSON.stringify({ transport: { kind: 'simulator', mutant: 'hang-on-mode-set' }, timeouts: { commandMs, testMs: commandMs * 4 } }));
  return file;
}

describe('aborted and wedged runs still write a valid package', () => {
  it('SIGINT: exit code 3, a package verify accepts as valid but reports incomplete', async () => {
    const out = tmpDir('sigint');
    // MODE_SET hangs for a minute: the run is certainly still going when SIGINT arrives.
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/vmcts.mjs'), 'run', '--config', hangConfig(60_000), '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const interrupt = () => {
      if (!sent) {
        sent = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', (d) => {
      stdout += String(d);
      // Shortly after the first test line; a run whose first test hangs gets it shortly after the start.
      if (TEST_LINE.test(stdout)) setTimeout(interrupt, 100);
      else if (/^vmcts \S+ — profile/m.test(stdout)) setTimeout(interrupt, 2_000);
    });
    child.stderr.on('data', (d) => (stderr += String(d)));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(sent).toBe(true);
    expect(stderr).toContain('vmcts: interrupted; finishing the report');
    expect(code, stdout + stderr).toBe(3);
    expect(stdout).toMatch(/Result: INCOMPLETE: interrupted by SIGINT \(exit code 3\)/);
    const doc = read(out);
    expect(doc.run).toMatchObject({ complete: false, incompleteReason: 'interrupted by SIGINT', exitCode: 3 });

    const strict = vmctsSync(['verify', out]);
    expect(strict.code, strict.out).toBe(1);
    expect(strict.out).toMatch(/package INVALID \(1 problem\)\nrun incomplete: interrupted by SIGINT\n/);
    const lenient = vmctsSync(['verify', '--allow-incomplete', out]);
    expect(lenient.code, lenient.out).toBe(0);
    expect(lenient.out).toMatch(/package valid but INCOMPLETE .*\nrun incomplete: interrupted by SIGINT \(accepted: --allow-incomplete\)/);
  }, 90_000);

  it('a device that stops answering: TIMEOUT or WEDGED with the trace, the exit code the rules give, a valid package', async () => {
    const out = tmpDir('hang');
    const r = await vmctsAsync(['run', '--config', hangConfig(300), '--test', 'mode.set-same-mode', '--out', out]);
    const doc = read(out);
    const t = doc.tests.find((x) => x.id === 'mode.set-same-mode');
    expect(t, r.out).toBeDefined();
    expect(['TIMEOUT', 'WEDGED']).toContain(t!.verdict);
    expect(t!.trace.join('\n')).toMatch(/DEV_MODE_SET\(0x8\) .*no completion/);
    expect(t!.replay).toMatch(/--test mode\.set-same-mode$/);
    expect(r.code).toBe(doc.run.exitCode);
    expect([1, 3]).toContain(r.code);
    expect(doc.requirements.find((q) => q.id === 'mode.set-same-mode-succeeds')?.verdict).toBe('FAILED');
    const v = vmctsSync(['verify', '--allow-incomplete', out]);
    expect(v.code, v.out).toBe(0);
  }, 90_000);
});
