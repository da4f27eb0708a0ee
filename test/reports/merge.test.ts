import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergePackages, MergeError } from '../../reports/merge.ts';
import { writePackage } from '../../reports/package.ts';
import type { ResultsDocument } from '../../reports/results.ts';
import { verifyPackage } from '../../reports/verify.ts';
import { sampleDoc } from './fixtures.ts';
import { tmpDir } from './helpers.ts';

const full = sampleDoc();

/** Shard `i/n` of the sample run: every n-th test, rollups over its own tests (as a shard run computes them). */
function shardDoc(i: number, n: number, over: Parameters<typeof sampleDoc>[0] = {}): ResultsDocument {
  return sampleDoc({ shard: `${i}/${n}`, tests: full.tests.filter((_, k) => k % n === i - 1), ...over });
}

function pkg(doc: ResultsDocument): string {
  const dir = tmpDir('shard');
  writePackage(dir, doc);
  return dir;
}

function refusal(dirs: string[]): string[] {
  try {
    mergePackages(dirs, tmpDir('merged'), { command: 'vmcts merge' });
  } catch (e) {
    if (e instanceof MergeError) return e.problems;
    throw e;
  }
  return [];
}

describe('vmcts merge', () => {
  it('unions the shards into one package with the same tests and rollups as the whole run', () => {
    const shards = [pkg(shardDoc(2, 3)), pkg(shardDoc(1, 3)), pkg(shardDoc(3, 3))];
    const out = tmpDir('merged');
    const { doc } = mergePackages(shards, out, { command: 'vmcts merge a b c --out d' });
    expect(doc.tests.map((t) => t.id).sort()).toEqual(full.tests.map((t) => t.id).sort());
    expect(doc.requirements.map((r) => [r.id, r.verdict, r.tests.sort()])).toEqual(full.requirements.map((r) => [r.id, r.verdict, r.tests.sort()]));
    expect(doc.summary).toEqual(full.summary);
    expect(doc.run).toMatchObject({ complete: true, exitCode: full.run.exitCode, command: 'vmcts merge a b c --out d' });
    expect(doc.run.shard).toBeUndefined();
    expect(doc.merged?.shards.map((s) => s.shard)).toEqual(['1/3', '2/3', '3/3']);
    expect(doc.merged?.shards.every((s) => /^[0-9a-f]{64}$/.test(s.resultsSha256))).toBe(true);
    const v = verifyPackage(out);
    expect(v.problems).toEqual([]);
    expect(v.manifest?.mergedFrom).toEqual(['1/3', '2/3', '3/3']);
  });

  it('is incomplete when a shard is missing or incomplete, and says which', () => {
    const { doc } = mergePackages([pkg(shardDoc(1, 3)), pkg(shardDoc(3, 3, { complete: false, incompleteReason: 'interrupted by SIGINT' }))], tmpDir('merged'), { command: 'vmcts merge' });
    expect(doc.run.complete).toBe(false);
    expect(doc.run.exitCode).toBe(3);
    expect(doc.run.incompleteReason).toBe('shard 2/3 missing; shard 3/3 incomplete: interrupted by SIGINT');
  });

  it('refuses shards of different devices, profiles, builds, seeds or configs, naming both', () => {
    const a = pkg(shardDoc(1, 2));
    expect(refusal([a, pkg(shardDoc(2, 2, { serial: 'SER-0002' }))])).toEqual([
      expect.stringMatching(/^different devices: .+ \(shard 1\/2\) ran on simulator simulator, pci 1af4:1042 subsystem 1af4:0040 rev 1, serial SER-0001, firmware fw 1\.2\.3; .+ \(shard 2\/2\) ran on .*serial SER-0002/),
    ]);
    expect(refusal([a, pkg(shardDoc(2, 2, { profile: 'seed-v2-text-opcodes' }))]).join('\n')).toMatch(/^different profiles: .+ used seed-v2, .+ used seed-v2-text-opcodes$/m);

    const settings = shardDoc(2, 2);
    settings.profile.settings.failureQualifierMismatch = 'fail';
    expect(refusal([a, pkg(settings)])).toEqual([expect.stringMatching(/^different profile settings \(failureQualifierMismatch: warn vs fail\) in /)]);

    const build = shardDoc(2, 2);
    build.tool.commit = 'fedcba9876543210fedcba9876543210fedcba98';
    expect(refusal([a, pkg(build)])).toEqual([expect.stringMatching(/^different vmcts builds: .+ was made by 0\.1\.0 0123456789ab.+, .+ by 0\.1\.0 fedcba98/)]);

    const seed = shardDoc(2, 2);
    seed.seed = 8;
    (seed.config as { seed: number }).seed = 8;
    expect(refusal([a, pkg(seed)])).toEqual([expect.stringMatching(/^different seeds: .+ used 7, .+ used 8$/), expect.stringMatching(/^different configs \(seed\) in /)]);

    // outDir differs between shards of one run and is not a difference.
    const out = shardDoc(2, 2);
    (out.config as { outDir: string }).outDir = '/elsewhere';
    expect(refusal([a, pkg(out)])).toEqual([]);
  });

  it('refuses duplicate shards, duplicate tests, mixed splits and packages that are not shards', () => {
    const a = pkg(shardDoc(1, 2));
    const problems = refusal([a, pkg(shardDoc(1, 2))]);
    expect(problems[0]).toMatch(/ and .+ are both shard 1\/2$/);
    expect(problems.some((p) => /^test mode\.pass-one is in both /.test(p))).toBe(true);
    expect(refusal([a, pkg(shardDoc(2, 3))])[0]).toMatch(/^shards of different splits: .+ is 1\/2, .+ is 2\/3$/);
    expect(refusal([a, pkg(sampleDoc())])).toEqual([expect.stringMatching(/is not a shard package \(it was run without --shard\)/)]);
  });

  it('verifies each shard first: a changed shard is refused with what changed', () => {
    const a = pkg(shardDoc(1, 2));
    const b = pkg(shardDoc(2, 2));
    appendFileSync(path.join(b, 'results.json'), ' ');
    writeFileSync(path.join(a, 'notes.txt'), 'x');
    expect(refusal([a, b])).toEqual([
      `${a}: notes.txt: not listed in manifest.json (a file added to the package)`,
      expect.stringMatching(new RegExp(`^${b.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: results\\.json: SHA-256 is`)),
    ]);
  });
});
