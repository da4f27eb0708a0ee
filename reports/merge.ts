/**
 * `vmcts merge`: the packages of the shards of one run (`vmcts run --shard i/n`, possibly on several
 * machines) into one package. Each shard's package is verified first (hashes, signature, schema).
 * Shards of different devices, profiles, tool builds, seeds or configs are refused, and so are
 * duplicate shards or tests; the requirement rollups are recomputed from the union of the tests. The
 * merged run is complete only when every shard 1/n..n/n is present and complete.
 */
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { loadCatalog } from '../spec/catalog.ts';
import { canonicalJson } from './manifest.ts';
import { writePackage, type WrittenPackage } from './package.ts';
import type { ResultsDocument, SessionRecord, ShardRecord } from './results.ts';
import { rollupRequirements, summarize, type RequirementView } from './rollup.ts';
import { exitCodeOf, type TestVerdict } from './verdicts.ts';
import { describeDevice, sameDevice, verifyPackage } from './verify.ts';

/** Shards that cannot be merged; `problems` has one line per reason. */
export class MergeError extends Error {
  override name = 'MergeError';
  constructor(readonly problems: string[]) {
    super(`cannot merge: ${problems.join('; ')}`);
  }
}

export interface ShardInput {
  /** Where the package was read from (named in messages). */
  dir: string;
  doc: ResultsDocument;
  resultsSha256: string;
  signedBy?: string;
}

export interface MergeOptions {
  /** The merge command line, recorded as the merged run's command. */
  command: string;
  /** The merged package's folder (recorded as the config's outDir). */
  outDir: string;
}

function parseShard(s: string): { index: number; count: number } {
  const [i, n] = s.split('/').map(Number);
  return { index: i, count: n };
}

/** The config without what legitimately differs between shards of one run. */
function comparableConfig(doc: ResultsDocument): unknown {
  const { outDir: _o, ...rest } = doc.config as Record<string, unknown>;
  return rest;
}

function differingKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k])).sort();
}

/** Reasons the shards cannot be merged (empty: they can). */
export function mergeProblems(shards: readonly ShardInput[]): string[] {
  const out: string[] = [];
  if (shards.length === 0) return ['no shard packages given'];
  const first = shards[0];
  const name = (s: ShardInput) => `${s.dir}${s.doc.run.shard ? ` (shard ${s.doc.run.shard})` : ''}`;
  for (const s of shards) if (!s.doc.run.shard) out.push(`${s.dir} is not a shard package (it was run without --shard); merge takes the packages of \`vmcts run --shard i/n\``);
  if (out.length) return out;
  const counts = new Set(shards.map((s) => parseShard(s.doc.run.shard!).count));
  if (counts.size > 1) out.push(`shards of different splits: ${shards.map((s) => `${s.dir} is ${s.doc.run.shard}`).join(', ')}`);
  const byShard = new Map<string, ShardInput>();
  for (const s of shards) {
    const { index, count } = parseShard(s.doc.run.shard!);
    if (index > count) out.push(`${s.dir}: shard ${s.doc.run.shard} does not exist (index above count)`);
    const prev = byShard.get(s.doc.run.shard!);
    if (prev) out.push(`${prev.dir} and ${s.dir} are both shard ${s.doc.run.shard}`);
    byShard.set(s.doc.run.shard!, s);
  }
  const withDevice = shards.filter((s) => s.doc.device);
  for (const s of withDevice.slice(1)) {
    if (!sameDevice(withDevice[0].doc.device!, s.doc.device!)) out.push(`different devices: ${name(withDevice[0])} ran on ${describeDevice(withDevice[0].doc.device)}; ${name(s)} ran on ${describeDevice(s.doc.device)}`);
  }
  for (const s of shards.slice(1)) {
    const a = first.doc;
    const b = s.doc;
    if (a.profile.id !== b.profile.id) out.push(`different profiles: ${name(first)} used ${a.profile.id}, ${name(s)} used ${b.profile.id}`);
    else {
      const keys = differingKeys(a.profile.settings, b.profile.settings);
      if (keys.length) out.push(`different profile settings (${keys.map((k) => `${k}: ${String(a.profile.settings[k])} vs ${String(b.profile.settings[k])}`).join(', ')}) in ${name(first)} and ${name(s)}`);
    }
    if (a.tool.name !== b.tool.name || a.tool.version !== b.tool.version || a.tool.commit !== b.tool.commit) {
      out.push(`different vmcts builds: ${name(first)} was made by ${a.tool.version} ${a.tool.commit ?? '(no commit)'}, ${name(s)} by ${b.tool.version} ${b.tool.commit ?? '(no commit)'}`);
    }
    if (a.seed !== b.seed) out.push(`different seeds: ${name(first)} used ${a.seed}, ${name(s)} used ${b.seed}`);
    const keys = differingKeys(comparableConfig(a) as Record<string, unknown>, comparableConfig(b) as Record<string, unknown>);
    if (keys.length) out.push(`different configs (${keys.join(', ')}) in ${name(first)} and ${name(s)}`);
    const ra = a.requirements.map((r) => r.id).join(',');
    const rb = b.requirements.map((r) => r.id).join(',');
    if (ra !== rb && !keys.length) out.push(`different requirement selections in ${name(first)} and ${name(s)}`);
  }
  const seenTests = new Map<string, ShardInput>();
  for (const s of shards) {
    for (const t of s.doc.tests) {
      const prev = seenTests.get(t.id);
      if (prev && prev !== s) out.push(`test ${t.id} is in both ${name(prev)} and ${name(s)}`);
      seenTests.set(t.id, s);
    }
  }
  return out;
}

function mergeSessions(sessions: readonly (SessionRecord | null)[]): SessionRecord | null {
  const present = sessions.filter((s): s is SessionRecord => s !== null);
  if (!present.length) return null;
  const union = (f: (s: SessionRecord) => readonly string[]) => [...new Set(present.flatMap(f))];
  return {
    ...present[0],
    findings: union((s) => s.findings),
    driverRulesEnforced: union((s) => s.driverRulesEnforced).sort(),
  };
}

/** The merged results document (throws MergeError when the shards cannot be merged). */
export function mergeDocuments(shards: readonly ShardInput[], opts: MergeOptions): ResultsDocument {
  const problems = mergeProblems(shards);
  if (problems.length) throw new MergeError(problems);
  const ordered = [...shards].sort((x, y) => parseShard(x.doc.run.shard!).index - parseShard(y.doc.run.shard!).index);
  const base = ordered[0].doc;
  const count = parseShard(base.run.shard!).count;
  const present = new Set(ordered.map((s) => parseShard(s.doc.run.shard!).index));
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !present.has(i));
  const reasons: string[] = [];
  if (missing.length) reasons.push(`shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')} missing`);
  for (const s of ordered) if (!s.doc.run.complete) reasons.push(`shard ${s.doc.run.shard} incomplete: ${s.doc.run.incompleteReason ?? 'no reason recorded'}`);
  const complete = reasons.length === 0;

  const tests = ordered.flatMap((s) => s.doc.tests);
  const session = mergeSessions(ordered.map((s) => s.doc.session));
  const catalog = loadCatalog();
  const views: RequirementView[] = base.requirements.map(
    (r) => (catalog.byId(r.id) as RequirementView | undefined) ?? { id: r.id, level: r.level, area: r.area, role: r.role, testability: { class: r.testability }, rule: r.rule, errata: r.errata },
  );
  const requirements = rollupRequirements(views, tests, session?.driverRulesEnforced ?? []);
  const verdicts: TestVerdict[] = tests.map((t) => t.verdict);
  if (ordered.some((s) => s.doc.run.exitCode === 2)) verdicts.push('HARNESS_ERROR');
  const startedAt = ordered.map((s) => s.doc.run.startedAt).sort()[0];
  const endedAt = ordered.map((s) => s.doc.run.endedAt).sort().at(-1)!;
  const device = ordered.find((s) => s.doc.device)?.doc.device ?? null;
  const shardRecords: ShardRecord[] = ordered.map((s) => ({
    shard: s.doc.run.shard!,
    startedAt: s.doc.run.startedAt,
    endedAt: s.doc.run.endedAt,
    complete: s.doc.run.complete,
    ...(s.doc.run.incompleteReason !== undefined ? { incompleteReason: s.doc.run.incompleteReason } : {}),
    exitCode: s.doc.run.exitCode,
    host: s.doc.host,
    device: s.doc.device,
    resultsSha256: s.resultsSha256,
    ...(s.signedBy ? { signedBy: s.signedBy } : {}),
  }));
  return {
    schemaVersion: 1,
    tool: base.tool,
    run: {
      startedAt,
      endedAt,
      durationMs: Math.max(0, Date.parse(endedAt) - Date.parse(startedAt)),
      complete,
      ...(complete ? {} : { incompleteReason: reasons.join('; ') }),
      exitCode: exitCodeOf(verdicts, complete),
      command: opts.command,
    },
    ...(base.configFile ? { configFile: base.configFile } : {}),
    config: { ...(base.config as Record<string, unknown>), outDir: path.resolve(opts.outDir) },
    profile: base.profile,
    seed: base.seed,
    device,
    host: base.host,
    session,
    tests,
    requirements,
    summary: summarize(tests, requirements),
    merged: { shards: shardRecords },
  };
}

export interface MergePackagesOptions {
  command: string;
  signKey?: string | KeyObject;
  /** Require every shard to be signed by this key. */
  publicKey?: KeyObject;
}

/**
 * Verifies each shard package (integrity only: an incomplete shard or a partial selection is merged,
 * and said so), merges them and writes the merged package into `outDir`.
 */
export function mergePackages(dirs: readonly string[], outDir: string, opts: MergePackagesOptions): { doc: ResultsDocument; written: WrittenPackage } {
  const out = path.resolve(outDir);
  const problems: string[] = [];
  const shards: ShardInput[] = [];
  for (const dir of dirs) {
    if (path.resolve(dir) === out) {
      problems.push(`${dir} is also the output folder; merge into a new folder`);
      continue;
    }
    const v = verifyPackage(dir, { publicKey: opts.publicKey, allowIncomplete: true, skipCatalog: true });
    const bad = v.problems.filter((p) => p.kind === 'integrity');
    if (bad.length || !v.doc || !v.resultsSha256) {
      problems.push(...(bad.length ? bad.map((p) => `${dir}: ${p.message}`) : [`${dir}: not a valid package`]));
      continue;
    }
    shards.push({ dir, doc: v.doc, resultsSha256: v.resultsSha256, ...(v.signedBy ? { signedBy: v.signedBy } : {}) });
  }
  if (problems.length) throw new MergeError(problems);
  const doc = mergeDocuments(shards, { command: opts.command, outDir: out });
  const written = writePackage(out, doc, { signKey: opts.signKey });
  return { doc, written };
}
