/**
 * manifest.json of a certification package: the SHA-256 and size of every other file, what the
 * verdicts hold for (tool, config, profile, seeds, device, host), whether the run was complete, and
 * optionally an ed25519 signature over the canonical bytes of the manifest without its signature.
 * Schema: reports/manifest.schema.json.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceRecord, HostRecord, ResultsDocument } from './results.ts';
import { problemsAgainst } from './results-schema.ts';

export const MANIFEST_FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_SCHEMA_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'manifest.schema.json');

export interface ManifestFile {
  /** Relative to the package folder, "/"-separated. */
  path: string;
  sha256: string;
  bytes: number;
}

export interface ManifestSignature {
  algorithm: 'ed25519';
  /** base64 of the DER SubjectPublicKeyInfo of the signing key. */
  publicKey: string;
  /** base64 signature of `manifestSigningBytes(manifest)`. */
  value: string;
}

export interface Manifest {
  formatVersion: typeof MANIFEST_FORMAT_VERSION;
  tool: { name: string; version: string; commit?: string };
  createdAt: string;
  complete: boolean;
  incompleteReason?: string;
  exitCode: number;
  shard?: string;
  /** Shards a merged package was made from. */
  mergedFrom?: string[];
  files: ManifestFile[];
  config: unknown;
  profile: { id: string; settings: Record<string, unknown> };
  seeds: { run: number };
  device: DeviceRecord | null;
  host: HostRecord;
  signature?: ManifestSignature;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Canonical JSON: object keys sorted by code unit, no whitespace, undefined members dropped, numbers
 * and strings as JSON.stringify writes them. Two manifests with the same content have the same bytes
 * whatever their key order or indentation on disk.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return JSON.stringify(value.toString());
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && typeof v !== 'function')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The bytes a signature covers: the canonical JSON of the manifest without its `signature` member. */
export function manifestSigningBytes(m: Manifest): Buffer {
  const { signature: _omit, ...unsigned } = m;
  return Buffer.from(canonicalJson(unsigned), 'utf8');
}

/** The manifest of a package whose files (besides the manifest) are `files`. */
export function buildManifest(doc: ResultsDocument, files: readonly { path: string; data: string | Uint8Array }[], createdAt = new Date()): Manifest {
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    tool: { ...doc.tool },
    createdAt: createdAt.toISOString(),
    complete: doc.run.complete,
    ...(doc.run.incompleteReason !== undefined ? { incompleteReason: doc.run.incompleteReason } : {}),
    exitCode: doc.run.exitCode,
    ...(doc.run.shard ? { shard: doc.run.shard } : {}),
    ...(doc.merged ? { mergedFrom: doc.merged.shards.map((s) => s.shard) } : {}),
    files: files.map((f) => ({ path: f.path, sha256: sha256Hex(f.data), bytes: typeof f.data === 'string' ? Buffer.byteLength(f.data) : f.data.byteLength })),
    config: doc.config,
    profile: { id: doc.profile.id, settings: { ...doc.profile.settings } },
    seeds: { run: doc.seed },
    device: doc.device,
    host: doc.host,
  };
}

/** manifest.json as written: two-space JSON (the signature does not depend on the layout). */
export function stringifyManifest(m: Manifest): string {
  return JSON.stringify(m, null, 2) + '\n';
}

/** Schema problems of a parsed manifest.json (empty: valid). */
export function manifestProblems(data: unknown): string[] {
  return problemsAgainst(MANIFEST_SCHEMA_PATH, data);
}
