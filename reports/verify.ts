/**
 * Checks a certification package (reports/package.ts) the way a reviewer would:
 * - integrity: manifest.json holds to its schema; every listed file exists with its SHA-256 and size;
 *   no file is missing from the list or left out of it; the signature holds (and is by the expected
 *   key when one is given); results.json holds to its schema and agrees with the manifest and with
 *   itself (summary counts, requirement rollups recomputed from the tests); the device identity is
 *   one (every shard of a merged package on the same device);
 * - coverage: every requirement of the catalog (spec/) has a verdict;
 * - completeness: the run was not aborted (allowed with `allowIncomplete`).
 * Every problem is one line naming what is wrong.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { loadCatalog } from '../spec/catalog.ts';
import { canonicalJson, type Manifest, MANIFEST_FILE, manifestProblems, sha256Hex } from './manifest.ts';
import { PACKAGE_FILES, RESULTS_FILE } from './package.ts';
import type { DeviceRecord, ResultsDocument } from './results.ts';
import { consistencyProblems, schemaProblems } from './results-schema.ts';
import { rollupRequirements, type RequirementView } from './rollup.ts';
import { fingerprint, signatureHolds, spkiBase64 } from './sign.ts';

export type ProblemKind = 'integrity' | 'coverage' | 'incomplete';

export interface VerifyProblem {
  kind: ProblemKind;
  message: string;
}

export interface VerifyOptions {
  /** Require a signature by this key. */
  publicKey?: KeyObject;
  /** A valid package of an aborted run passes (with a note) instead of failing. */
  allowIncomplete?: boolean;
  /** Skip the catalog checks (coverage and rollup recomputation), e.g. for shards of a partial selection. */
  skipCatalog?: boolean;
  /** The version of the verifying tool: a package made by another version gets a note on catalog checks. */
  toolVersion?: string;
}

export interface VerifyResult {
  dir: string;
  /** True when there is no problem (an incomplete run counts only without allowIncomplete). */
  valid: boolean;
  problems: VerifyProblem[];
  /** Facts worth printing that are not problems. */
  notes: string[];
  doc?: ResultsDocument;
  manifest?: Manifest;
  signedBy?: string;
  resultsSha256?: string;
  /** The package holds an aborted run. */
  incomplete?: string;
}

/** What makes two devices the same device under test. */
export function deviceIdentity(d: DeviceRecord): { transport: string; address: string; serial?: string; pci?: DeviceRecord['pci']; firmware?: string } {
  return { transport: d.transport, address: d.address, serial: d.serial, pci: d.pci, firmware: d.firmware };
}

export function sameDevice(a: DeviceRecord, b: DeviceRecord): boolean {
  return canonicalJson(deviceIdentity(a)) === canonicalJson(deviceIdentity(b));
}

/** One line naming a device: transport, address, PCI ids, serial, firmware. */
export function describeDevice(d: DeviceRecord | null): string {
  if (!d) return 'no device (no test ran)';
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  return [
    `${d.transport} ${d.address}`,
    d.pci ? `pci ${hex(d.pci.vendorId)}:${hex(d.pci.deviceId)} subsystem ${hex(d.pci.subsystemVendorId)}:${hex(d.pci.subsystemId)} rev ${d.pci.revision}` : undefined,
    d.serial ? `serial ${d.serial}` : undefined,
    d.firmware ? `firmware ${d.firmware}` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
}

function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, p));
    else out.push(p);
  }
  return out.sort();
}

function safeRelative(p: string): boolean {
  return p.length > 0 && !p.startsWith('/') && !p.includes('\\') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Verifies the package in `dir`. Never throws for a broken package; throws only when the catalog cannot load. */
export function verifyPackage(dir: string, opts: VerifyOptions = {}): VerifyResult {
  const res: VerifyResult = { dir, valid: false, problems: [], notes: [] };
  const problem = (kind: ProblemKind, message: string) => res.problems.push({ kind, message });
  const integrity = (m: string) => problem('integrity', m);

  // ---- manifest
  const manifestPath = path.join(dir, MANIFEST_FILE);
  let manifestData: unknown;
  try {
    manifestData = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    integrity(code === 'ENOENT' ? `${MANIFEST_FILE} is missing (not a vmcts package, or its writing was cut short)` : `${MANIFEST_FILE} cannot be read: ${(e as Error).message}`);
    return finish(res, opts);
  }
  const mProblems = manifestProblems(manifestData);
  if (mProblems.length) {
    for (const p of mProblems) integrity(`${MANIFEST_FILE}: ${p}`);
    return finish(res, opts);
  }
  const manifest = manifestData as Manifest;
  res.manifest = manifest;

  // ---- files and hashes
  const listed = new Map<string, Manifest['files'][number]>();
  for (const f of manifest.files) {
    if (!safeRelative(f.path) || f.path === MANIFEST_FILE) {
      integrity(`${MANIFEST_FILE} lists "${f.path}", which is not a file of the package`);
      continue;
    }
    if (listed.has(f.path)) integrity(`${MANIFEST_FILE} lists ${f.path} twice`);
    listed.set(f.path, f);
  }
  for (const required of PACKAGE_FILES) if (!listed.has(required)) integrity(`${required} is not listed in ${MANIFEST_FILE}`);
  const contents = new Map<string, Buffer>();
  for (const f of listed.values()) {
    const p = path.join(dir, f.path);
    let data: Buffer;
    try {
      if (!statSync(p).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      data = readFileSync(p);
    } catch (e) {
      integrity((e as NodeJS.ErrnoException).code === 'ENOENT' ? `${f.path}: missing (listed in ${MANIFEST_FILE})` : `${f.path}: cannot be read: ${(e as Error).message}`);
      continue;
    }
    const sha = sha256Hex(data);
    if (sha !== f.sha256) integrity(`${f.path}: SHA-256 is ${sha}, ${MANIFEST_FILE} says ${f.sha256} (the file was changed)`);
    else if (data.byteLength !== f.bytes) integrity(`${f.path}: ${data.byteLength} bytes, ${MANIFEST_FILE} says ${f.bytes}`);
    contents.set(f.path, data);
  }
  for (const p of walk(dir)) if (p !== MANIFEST_FILE && !listed.has(p)) integrity(`${p}: not listed in ${MANIFEST_FILE} (a file added to the package)`);

  // ---- signature
  if (manifest.signature) {
    const signer = fingerprint(manifest.signature.publicKey);
    if (!signatureHolds(manifest)) integrity(`signature does not hold: ${MANIFEST_FILE} was changed after it was signed, or the signature is not by key ${signer}`);
    else res.signedBy = signer;
    if (opts.publicKey) {
      const expected = spkiBase64(opts.publicKey);
      if (expected !== manifest.signature.publicKey) integrity(`signed by key ${signer}, not by the expected key ${fingerprint(opts.publicKey)}`);
    }
  } else if (opts.publicKey) {
    integrity(`${MANIFEST_FILE} is not signed; a signature by key ${fingerprint(opts.publicKey)} was required (--public-key)`);
  }

  // ---- results.json
  const raw = contents.get(RESULTS_FILE);
  if (!raw) return finish(res, opts);
  res.resultsSha256 = sha256Hex(raw);
  let data: unknown;
  try {
    data = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    integrity(`${RESULTS_FILE}: not JSON: ${(e as Error).message}`);
    return finish(res, opts);
  }
  const sProblems = schemaProblems(data);
  if (sProblems.length) {
    for (const p of sProblems) integrity(`${RESULTS_FILE}: ${p}`);
    return finish(res, opts);
  }
  const doc = data as ResultsDocument;
  res.doc = doc;
  for (const p of consistencyProblems(doc)) integrity(`${RESULTS_FILE}: ${p}`);

  // ---- manifest and results agree
  const agree = (what: string, a: unknown, b: unknown) => {
    if (canonicalJson(a) !== canonicalJson(b)) integrity(`${MANIFEST_FILE} and ${RESULTS_FILE} disagree on ${what}`);
  };
  agree('the tool', manifest.tool, doc.tool);
  agree('complete', manifest.complete, doc.run.complete);
  agree('the incomplete reason', manifest.incompleteReason, doc.run.incompleteReason);
  agree('the exit code', manifest.exitCode, doc.run.exitCode);
  agree('the shard', manifest.shard, doc.run.shard);
  agree('the config', manifest.config, doc.config);
  agree('the profile', manifest.profile, { id: doc.profile.id, settings: doc.profile.settings });
  agree('the seed', manifest.seeds.run, doc.seed);
  agree('the device', manifest.device, doc.device);
  agree('the host', manifest.host, doc.host);

  // ---- one device
  const ran = doc.tests.length;
  if (ran > 0 && !doc.device) integrity(`device identity missing: ${ran} test(s) ran but ${RESULTS_FILE} names no device`);
  for (const s of doc.merged?.shards ?? []) {
    if (!s.device) continue;
    if (!doc.device || !sameDevice(s.device, doc.device)) integrity(`device identity is not one: shard ${s.shard} ran on ${describeDevice(s.device)}, the package names ${describeDevice(doc.device)}`);
  }

  // ---- catalog: coverage and rollups
  if (!opts.skipCatalog) {
    if (opts.toolVersion && opts.toolVersion !== doc.tool.version) res.notes.push(`made by vmcts ${doc.tool.version}, checked against the catalog of vmcts ${opts.toolVersion}`);
    const catalog = loadCatalog();
    const recorded = new Map(doc.requirements.map((r) => [r.id, r]));
    const missing = catalog.requirements.filter((r) => !recorded.has(r.id));
    const MAX = 20;
    for (const r of missing.slice(0, MAX)) problem('coverage', `requirement ${r.id} (${r.level}) has no verdict`);
    if (missing.length > MAX) problem('coverage', `... and ${missing.length - MAX} more requirements without a verdict (${missing.length} of ${catalog.size}; the run selected part of the catalog: ${describeSelection(doc)})`);
    const views: RequirementView[] = [];
    for (const r of doc.requirements) {
      const c = catalog.byId(r.id);
      if (!c) problem('coverage', `requirement ${r.id} is not in the catalog of this vmcts`);
      else views.push(c as unknown as RequirementView);
    }
    const recomputed = rollupRequirements(views, doc.tests, doc.session?.driverRulesEnforced ?? []);
    for (const r of recomputed) {
      const rec = recorded.get(r.id)!;
      if (rec.verdict !== r.verdict) integrity(`requirement ${r.id}: recorded ${rec.verdict}, but its tests roll up to ${r.verdict}`);
      else if (canonicalJson([...rec.tests].sort()) !== canonicalJson([...r.tests].sort())) integrity(`requirement ${r.id}: lists tests ${rec.tests.join(', ') || 'none'}, the tests that name it are ${r.tests.join(', ') || 'none'}`);
    }
  }

  // ---- completeness
  if (!doc.run.complete) {
    res.incomplete = doc.run.incompleteReason ?? 'no reason recorded';
    problem('incomplete', `run incomplete: ${res.incomplete}`);
  }
  return finish(res, opts);
}

function describeSelection(doc: ResultsDocument): string {
  const c = doc.config as { levels?: string[]; areas?: string[]; requirements?: string[]; tests?: string[] };
  const parts = [
    c.levels?.length ? `levels ${c.levels.join(', ')}` : '',
    c.areas?.length ? `areas ${c.areas.join(', ')}` : '',
    c.requirements?.length ? `${c.requirements.length} requirement id(s)` : '',
    c.tests?.length ? `${c.tests.length} test id(s)` : '',
  ].filter(Boolean);
  return parts.join('; ') || 'no filter recorded';
}

function finish(res: VerifyResult, opts: VerifyOptions): VerifyResult {
  res.valid = res.problems.every((p) => p.kind === 'incomplete' && opts.allowIncomplete);
  return res;
}

/** The lines `vmcts verify` prints: a verdict line, then one line per problem or note. */
export function formatVerify(res: VerifyResult, opts: VerifyOptions = {}): string[] {
  const lines: string[] = [];
  const doc = res.doc;
  const counted = res.problems.filter((p) => !(p.kind === 'incomplete' && opts.allowIncomplete));
  if (res.valid) {
    const what = [
      `${res.manifest?.files.length ?? 0} files hashed`,
      res.signedBy ? `signed by ${res.signedBy}` : 'not signed',
      doc ? `${doc.requirements.length} requirements with a verdict` : '',
      doc ? `device ${describeDevice(doc.device)}` : '',
    ].filter(Boolean);
    lines.push(`${res.dir}: package valid${res.incomplete ? ' but INCOMPLETE' : ''} (${what.join('; ')})`);
    if (res.incomplete) lines.push(`run incomplete: ${res.incomplete} (accepted: --allow-incomplete)`);
  } else {
    lines.push(`${res.dir}: package INVALID (${counted.length} problem${counted.length === 1 ? '' : 's'})`);
    for (const p of counted) lines.push(p.message);
  }
  for (const n of res.notes) lines.push(`note: ${n}`);
  if (doc) {
    const r = doc.summary.requirements;
    lines.push(
      `results: exit code ${doc.run.exitCode}, profile ${doc.profile.id}, ${r.PASSED} PASSED, ${r.PASSED_PARTIAL} PASSED_PARTIAL, ${r.FAILED} FAILED, ${r.NOT_TESTED} NOT_TESTED, ${r.NOT_APPLICABLE} NOT_APPLICABLE`,
    );
  }
  return lines;
}
