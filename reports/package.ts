/**
 * The certification package: every rendering of one results document in one folder, and a manifest
 * with their hashes (optionally signed). Layout:
 *
 *   results.json   the results document (reports/results.schema.json): the one source
 *   junit.xml      JUnit XML for CI (reports/junit.xsd)
 *   report.html    the self-contained page for people
 *   summary.md     Markdown for CI step summaries
 *   manifest.json  SHA-256 and size of each file above, tool/config/profile/seeds/device/host,
 *                  complete or not, and an ed25519 signature when a key was given
 *
 * `vmcts verify DIR` checks it (reports/verify.ts).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { renderHtml } from './html.ts';
import { renderJunit } from './junit.ts';
import { buildManifest, type Manifest, MANIFEST_FILE, type ManifestFile, stringifyManifest } from './manifest.ts';
import type { ResultsDocument } from './results.ts';
import { assertResults } from './results-schema.ts';
import { fingerprint, loadPrivateKey, signManifest } from './sign.ts';
import { renderSummaryMd } from './summary-md.ts';
import { stringifyResults, writeFileAtomic } from './write-results.ts';

export const RESULTS_FILE = 'results.json';
export const JUNIT_FILE = 'junit.xml';
export const HTML_FILE = 'report.html';
export const SUMMARY_FILE = 'summary.md';
/** The files of a package besides the manifest, in the order the manifest lists them. */
export const PACKAGE_FILES = [RESULTS_FILE, JUNIT_FILE, HTML_FILE, SUMMARY_FILE] as const;

export interface PackageOptions {
  /** ed25519 private key (a PEM file path or a key) to sign the manifest with. */
  signKey?: string | KeyObject;
  /** The manifest's createdAt (default now). */
  createdAt?: Date;
}

export interface WrittenPackage {
  dir: string;
  resultsFile: string;
  htmlFile: string;
  manifestFile: string;
  files: ManifestFile[];
  manifest: Manifest;
  /** Fingerprint of the signing key, when signed. */
  signedBy?: string;
}

/** Every file of the package, rendered in memory from the document (nothing written). */
export function renderPackageFiles(doc: ResultsDocument): { path: string; data: string }[] {
  const results = stringifyResults(doc);
  // Validate exactly the bytes that will be written (undefined members dropped, as a reader sees them).
  assertResults(JSON.parse(results), RESULTS_FILE);
  return [
    { path: RESULTS_FILE, data: results },
    { path: JUNIT_FILE, data: renderJunit(doc) },
    { path: HTML_FILE, data: renderHtml(doc) },
    { path: SUMMARY_FILE, data: renderSummaryMd(doc) },
  ];
}

/**
 * Writes the package into `outDir`. The old manifest goes first and the new one is written last, so
 * a package cut short (a killed process, a full disk) never has a manifest that claims it whole.
 * Throws ResultsSchemaError (results.invalid.json kept) when the document does not hold to the schema,
 * SigningKeyError when the key cannot be used.
 */
export function writePackage(outDir: string, doc: ResultsDocument, opts: PackageOptions = {}): WrittenPackage {
  const dir = path.resolve(outDir);
  const key = opts.signKey === undefined ? undefined : typeof opts.signKey === 'string' ? loadPrivateKey(opts.signKey) : opts.signKey;
  let files: { path: string; data: string }[];
  try {
    files = renderPackageFiles(doc);
  } catch (e) {
    writeFileAtomic(path.join(dir, 'results.invalid.json'), stringifyResults(doc));
    throw e;
  }
  rmSync(path.join(dir, MANIFEST_FILE), { force: true });
  rmSync(path.join(dir, 'results.invalid.json'), { force: true });
  for (const f of files) writeFileAtomic(path.join(dir, f.path), f.data);
  let manifest = buildManifest(doc, files, opts.createdAt);
  if (key) manifest = signManifest(manifest, key);
  const manifestFile = path.join(dir, MANIFEST_FILE);
  writeFileAtomic(manifestFile, stringifyManifest(manifest));
  return {
    dir,
    resultsFile: path.join(dir, RESULTS_FILE),
    htmlFile: path.join(dir, HTML_FILE),
    manifestFile,
    files: manifest.files,
    manifest,
    ...(key ? { signedBy: fingerprint(key) } : {}),
  };
}
