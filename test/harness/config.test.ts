import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, validateConfig } from '../../harness/config/load-config.ts';
import { ConfigError } from '../../harness/errors.ts';

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config validation', () => {
  it('accepts the default shapes of each transport', () => {
    expect(validateConfig({ transport: { kind: 'simulator' } }, 'x')).toBeTruthy();
    expect(validateConfig({ transport: { kind: 'vfio', pf: '0000:3b:00.0', vfs: ['0000:3b:00.1'] } }, 'x')).toBeTruthy();
    expect(validateConfig({ transport: { kind: 'vfio-user', socket: '/run/dev.sock' }, levels: ['MUST'], seed: 3 }, 'x')).toBeTruthy();
  });

  it('names the key, the value and what is allowed', () => {
    expect(message(() => validateConfig({ transport: { kind: 'vfioo' } }, 'c.ts'))).toMatch(/transport\.kind: "vfioo" is not allowed; allowed: "simulator", "simulator-pci", "vfio", "vfio-user"/);
    expect(message(() => validateConfig({ transport: { kind: 'simulator' }, levle: ['MUST'] }, 'c.ts'))).toMatch(/levle: unknown key; allowed here: transport, profile/);
    expect(message(() => validateConfig({ transport: { kind: 'simulator' }, levels: ['MUSTY'] }, 'c.ts'))).toMatch(/levels\[0\]: "MUSTY" is not allowed; allowed: "MUST"/);
    expect(message(() => validateConfig({ transport: { kind: 'vfio' } }, 'c.ts'))).toMatch(/transport\.pf: missing; it is required/);
    expect(message(() => validateConfig({ transport: { kind: 'vfio', pf: '3b:00.0' } }, 'c.ts'))).toMatch(/transport\.pf: "3b:00\.0" is not allowed; expected the form DDDD:BB:DD\.F/);
    expect(message(() => validateConfig({ transport: { kind: 'simulator', devices: [{ type: 'net' }] } }, 'c.ts'))).toMatch(/transport\.devices\[0\]\.type: "net" is not allowed; allowed: "block", "entropy"/);
    expect(message(() => validateConfig({ transport: { kind: 'simulator' }, timeouts: { commandMs: 0 } }, 'c.ts'))).toMatch(/timeouts\.commandMs: 0 is not allowed; at least 1/);
    expect(message(() => validateConfig({}, 'c.ts'))).toMatch(/transport: missing/);
  });

  it('loads TypeScript and JSON config files and reports broken ones', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmcts-cfg-'));
    const json = path.join(dir, 'c.json');
    writeFileSync(json, JSON.stringify({ transport: { kind: 'simulator' }, seed: 7 }));
    expect((await loadConfigFile(json)).seed).toBe(7);
    writeFileSync(path.join(dir, 'bad.json'), '{ not json');
    await expect(loadConfigFile(path.join(dir, 'bad.json'))).rejects.toThrow(/is not valid JSON/);
    await expect(loadConfigFile(path.join(dir, 'none.ts'))).rejects.toThrow(/does not exist/);
  });
});
