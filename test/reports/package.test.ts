import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson, type Manifest, manifestSigningBytes, sha256Hex, stringifyManifest } from '../../reports/manifest.ts';
import { PACKAGE_FILES, writePackage } from '../../reports/package.ts';
import type { ResultsDocument } from '../../reports/results.ts';
import { fingerprint, generateSigningKeyPair, loadPrivateKey, loadPublicKey, parsePublicKey, SigningKeyError } from '../../reports/sign.ts';
import { stringifyResults } from '../../reports/write-results.ts';
import { verifyPackage } from '../../reports/verify.ts';
import { sampleDoc } from './fixtures.ts';
import { tmpDir } from './helpers.ts';

function keys(): { priv: string; pub: string } {
  const dir = tmpDir('keys');
  const { privateKeyPem, publicKeyPem } = generateSigningKeyPair();
  writeFileSync(path.join(dir, 'k.pem'), privateKeyPem);
  writeFileSync(path.join(dir, 'k.pub.pem'), publicKeyPem);
  return { priv: path.join(dir, 'k.pem'), pub: path.join(dir, 'k.pub.pem') };
}

function copy(dir: string): string {
  const to = tmpDir('copy');
  cpSync(dir, to, { recursive: true });
  return to;
}

const messages = (r: ReturnType<typeof verifyPackage>) => r.problems.map((p) => p.message);
const readManifest = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;

/** Rewrites results.json and its manifest entry (a tamperer who also fixes the hash of an unsigned package). */
function rewriteResults(dir: string, edit: (d: ResultsDocument) => void): void {
  const doc = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as ResultsDocument;
  edit(doc);
  const text = stringifyResults(doc);
  writeFileSync(path.join(dir, 'results.json'), text);
  const m = readManifest(dir);
  const f = m.files.find((x) => x.path === 'results.json')!;
  f.sha256 = sha256Hex(text);
  f.bytes = Buffer.byteLength(text);
  writeFileSync(path.join(dir, 'manifest.json'), stringifyManifest(m));
}

describe('certification package', () => {
  const k = keys();
  const signed = tmpDir('pkg');
  const written = writePackage(signed, sampleDoc(), { signKey: k.priv });

  it('holds results.json, junit.xml, report.html, summary.md and a manifest with the SHA-256 of each', () => {
    expect(readdirSync(signed).sort()).toEqual([...PACKAGE_FILES, 'manifest.json'].sort());
    const m = readManifest(signed);
    expect(m.files.map((f) => f.path)).toEqual([...PACKAGE_FILES]);
    for (const f of m.files) {
      const data = readFileSync(path.join(signed, f.path));
      expect(f.sha256).toBe(sha256Hex(data));
      expect(f.bytes).toBe(data.byteLength);
    }
    expect(m).toMatchObject({ formatVersion: 1, complete: true, profile: { id: 'seed-v2' }, seeds: { run: 7 }, tool: { version: '0.1.0' } });
    expect(m.device?.serial).toBe('SER-0001');
    expect(m.signature?.algorithm).toBe('ed25519');
    expect(written.signedBy).toBe(fingerprint(loadPublicKey(k.pub)));
  });

  it('signs the canonical manifest: key order and layout do not matter, content does', () => {
    const m = readManifest(signed);
    const reverse = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reverse) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([key, x]) => [key, reverse(x)])) : v;
    const shuffled = reverse(m) as Manifest;
    expect(Object.keys(shuffled)[0]).toBe('signature');
    expect(manifestSigningBytes(shuffled).equals(manifestSigningBytes(m))).toBe(true);
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: 'x' }] })).toBe('{"a":[1,{"c":"x"}],"b":1}');
  });

  it('verifies: every hash and the signature hold, every requirement has a verdict, one device', () => {
    const r = verifyPackage(signed, { publicKey: loadPublicKey(k.pub) });
    expect(messages(r)).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.signedBy).toBe(written.signedBy);
  });

  it('names a changed, a missing and an added file', () => {
    const dir = copy(signed);
    appendFileSync(path.join(dir, 'summary.md'), 'all green\n');
    rmSync(path.join(dir, 'junit.xml'));
    writeFileSync(path.join(dir, 'extra.txt'), 'x');
    const r = verifyPackage(dir);
    expect(r.valid).toBe(false);
    expect(messages(r)).toEqual([
      'junit.xml: missing (listed in manifest.json)',
      expect.stringMatching(/^summary\.md: SHA-256 is [0-9a-f]{64}, manifest\.json says [0-9a-f]{64} \(the file was changed\)$/),
      'extra.txt: not listed in manifest.json (a file added to the package)',
    ]);
  });

  it('a manifest changed after signing fails the signature; another key or no signature fails --public-key', () => {
    const dir = copy(signed);
    const m = readManifest(dir);
    m.complete = true;
    m.seeds.run = 8;
    writeFileSync(path.join(dir, 'manifest.json'), stringifyManifest(m));
    expect(messages(verifyPackage(dir)).join('\n')).toMatch(/^signature does not hold: manifest\.json was changed after it was signed/m);

    const other = keys();
    const wrong = verifyPackage(signed, { publicKey: loadPublicKey(other.pub) });
    expect(messages(wrong)).toEqual([`signed by key ${written.signedBy}, not by the expected key ${fingerprint(loadPublicKey(other.pub))}`]);

    const unsigned = tmpDir('pkg');
    writePackage(unsigned, sampleDoc());
    expect(verifyPackage(unsigned).valid).toBe(true);
    expect(messages(verifyPackage(unsigned, { publicKey: loadPublicKey(k.pub) }))).toEqual([
      `manifest.json is not signed; a signature by key ${written.signedBy} was required (--public-key)`,
    ]);
  });

  it('re-hashing a changed results.json does not hide a verdict that its tests contradict', () => {
    const dir = tmpDir('pkg');
    writePackage(dir, sampleDoc());
    rewriteResults(dir, (d) => {
      const failed = d.requirements.find((r) => r.verdict === 'FAILED')!;
      failed.verdict = 'PASSED';
      d.summary.requirements.FAILED--;
      d.summary.requirements.PASSED++;
    });
    const r = verifyPackage(dir);
    expect(messages(r)).toEqual([expect.stringMatching(/^requirement [a-z.-]+: recorded PASSED, but its tests roll up to FAILED$/)]);
  });

  it('needs a verdict for every requirement of the catalog, and one device identity', () => {
    const dir = tmpDir('pkg');
    const doc = sampleDoc();
    const dropped = doc.requirements.splice(0, 2);
    doc.summary.requirements[dropped[0].verdict]--;
    doc.summary.requirements[dropped[1].verdict]--;
    doc.device = null;
    writePackage(dir, doc);
    const r = verifyPackage(dir);
    expect(messages(r)).toEqual([
      `device identity missing: ${doc.tests.length} test(s) ran but results.json names no device`,
      `requirement ${dropped[0].id} (${dropped[0].level}) has no verdict`,
      `requirement ${dropped[1].id} (${dropped[1].level}) has no verdict`,
    ]);
  });

  it('an incomplete run is valid only with allowIncomplete, and says why it is incomplete', () => {
    const dir = tmpDir('pkg');
    writePackage(dir, sampleDoc({ complete: false, incompleteReason: 'interrupted by SIGINT' }));
    const strict = verifyPackage(dir);
    expect(strict.valid).toBe(false);
    expect(messages(strict)).toEqual(['run incomplete: interrupted by SIGINT']);
    const lenient = verifyPackage(dir, { allowIncomplete: true });
    expect(lenient.valid).toBe(true);
    expect(lenient.incomplete).toBe('interrupted by SIGINT');
  });

  it('a folder without a manifest, or with a broken one, is named as such', () => {
    const dir = copy(signed);
    rmSync(path.join(dir, 'manifest.json'));
    expect(messages(verifyPackage(dir))).toEqual(['manifest.json is missing (not a vmcts package, or its writing was cut short)']);
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ formatVersion: 2 }));
    expect(messages(verifyPackage(dir))).toContain('manifest.json: /formatVersion must be equal to constant: 1');
  });

  it('rewriting a package into the same folder replaces it whole (no stale manifest, no leftovers)', () => {
    const dir = copy(signed);
    writePackage(dir, sampleDoc({ complete: false }));
    expect(verifyPackage(dir, { allowIncomplete: true }).valid).toBe(true);
    expect(readManifest(dir).signature).toBeUndefined();
    expect(statSync(path.join(dir, 'manifest.json')).isFile()).toBe(true);
    expect(existsSync(path.join(dir, 'results.invalid.json'))).toBe(false);
  });

  it('refuses keys that are not ed25519, naming the file', () => {
    const dir = tmpDir('keys');
    writeFileSync(path.join(dir, 'junk.pem'), 'not a key');
    expect(() => loadPrivateKey(path.join(dir, 'junk.pem'))).toThrow(SigningKeyError);
    expect(() => loadPrivateKey(path.join(dir, 'none.pem'))).toThrow(/signing key .*none\.pem: no such file/);
    expect(() => parsePublicKey('AAAA')).toThrow(/not a PEM or base64 SPKI public key/);
    // A public key may be given as the base64 SPKI the manifest carries.
    const m = readManifest(signed);
    expect(fingerprint(parsePublicKey(m.signature!.publicKey))).toBe(written.signedBy);
  });
});
