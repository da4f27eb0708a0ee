import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ResultsDocument } from '../../reports/results.ts';
import { hasProgram, IN_CI, ROOT, tmpDir, vmctsAsync, vmctsSync, type CliResult } from './helpers.ts';

const read = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as ResultsDocument;
const verdicts = (d: ResultsDocument) => d.requirements.map((r) => `${r.id} ${r.verdict}`);
const testIds = (d: ResultsDocument) => d.tests.map((t) => t.id).sort();

describe('vmcts run --out, verify, --shard and merge (simulator)', () => {
  const keys = tmpDir('keys');
  const full = tmpDir('full');
  const s1 = tmpDir('shard1');
  const s2 = tmpDir('shard2');
  const merged = path.join(tmpDir('merged'), 'pkg');
  let runs: CliResult[];

  beforeAll(async () => {
    const k = vmctsSync(['keygen', '--out', keys]);
    expect(k.code, k.err).toBe(0);
    runs = await Promise.all([
      vmctsAsync(['run', '--out', full, '--quiet', '--sign-key', path.join(keys, 'vmcts-signing-key.pem')]),
      vmctsAsync(['run', '--shard', '1/2', '--out', s1, '--quiet']),
      vmctsAsync(['run', '--shard', '2/2', '--out', s2, '--quiet']),
    ]);
  }, 180_000);

  it('a run writes the whole package, signed with --sign-key, and verify accepts it (exit 0)', () => {
    const [r] = runs;
    const doc = read(full);
    expect(r.code, r.err).toBe(doc.run.exitCode);
    const v = vmctsSync(['verify', full, '--public-key', path.join(keys, 'vmcts-signing-key.pub.pem')]);
    expect(v.code, v.out + v.err).toBe(0);
    expect(v.out).toMatch(/package valid \(4 files hashed; signed by SHA256:[A-Za-z0-9+/]{43}; \d+ requirements with a verdict; device simulator simulator/);
  });

  it('the junit.xml of a real run validates against reports/junit.xsd', (ctx) => {
    if (!hasProgram('xmllint')) {
      if (IN_CI) throw new Error('xmllint is not installed: .ci/run must install libxml2-utils');
      ctx.skip('xmllint is not installed; outside CI the XSD check is skipped');
    }
    const x = spawnSync('xmllint', ['--noout', '--schema', path.join(ROOT, 'reports/junit.xsd'), path.join(full, 'junit.xml')], { encoding: 'utf8' });
    expect(x.status, x.stderr).toBe(0);
  });

  it('verify names a changed file and exits 1; a missing folder or a bad key is a usage error (exit 2)', () => {
    const copy = tmpDir('tampered');
    cpSync(full, copy, { recursive: true });
    appendFileSync(path.join(copy, 'report.html'), '<!-- -->');
    const v = vmctsSync(['verify', copy]);
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/package INVALID \(1 problem\)\nreport\.html: SHA-256 is [0-9a-f]{64}, manifest\.json says [0-9a-f]{64} \(the file was changed\)\n/);
    const missing = vmctsSync(['verify', path.join(copy, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/verify: .*nope is not a folder/);
    const badKey = vmctsSync(['verify', full, '--public-key', path.join(keys, 'nope.pem')]);
    expect(badKey.code).toBe(2);
    expect(badKey.err).toMatch(/--public-key: public key .*nope\.pem: no such file/);
    const badSign = vmctsSync(['run', '--sign-key', path.join(keys, 'nope.pem'), '--out', copy]);
    expect(badSign.code).toBe(2);
    expect(badSign.err).toMatch(/--sign-key: signing key .*nope\.pem: no such file/);
  });

  it('shards 1/2 and 2/2 merge into one valid package with the tests and verdicts of the full run', () => {
    expect(runs[1].code, runs[1].err).toBe(read(s1).run.exitCode);
    expect(runs[2].code, runs[2].err).toBe(read(s2).run.exitCode);
    expect(read(s1).run.shard).toBe('1/2');
    expect(read(s2).run.shard).toBe('2/2');
    const m = vmctsSync(['merge', s1, s2, '--out', merged, '--sign-key', path.join(keys, 'vmcts-signing-key.pem')]);
    const doc = read(merged);
    expect(m.code, m.out + m.err).toBe(doc.run.exitCode);
    expect(m.out).toMatch(/^Merged shards 1\/2, 2\/2: \d+ tests, \d+ requirements$/m);
    const v = vmctsSync(['verify', merged, '--public-key', path.join(keys, 'vmcts-signing-key.pub.pem')]);
    expect(v.code, v.out).toBe(0);
    const whole = read(full);
    expect(testIds(doc)).toEqual(testIds(whole));
    expect(verdicts(doc)).toEqual(verdicts(whole));
    expect(doc.run.complete).toBe(true);
    expect(doc.run.exitCode).toBe(whole.run.exitCode);
  });

  it('merge refuses what is not a shard, naming it (exit 2)', () => {
    const r = vmctsSync(['merge', full, s2, '--out', tmpDir('refused')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`vmcts merge: cannot merge these packages:\n  ${full} is not a shard package (it was run without --shard)`);
  });
});
