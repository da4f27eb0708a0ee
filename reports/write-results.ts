import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ResultsDocument } from './results.ts';

/** JSON with bigint as decimal strings (identities and traces hold none, but configs may). */
export function stringifyResults(doc: ResultsDocument): string {
  return JSON.stringify(doc, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n';
}

/** Writes results.json atomically (a reader never sees half a file, even if the run is killed mid-write). */
export function writeResults(outDir: string, doc: ResultsDocument): string {
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'results.json');
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, stringifyResults(doc));
  renameSync(tmp, file);
  return file;
}
