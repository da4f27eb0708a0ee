import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ResultsDocument } from './results.ts';
import { assertResults } from './results-schema.ts';

/** JSON with bigint as decimal strings (identities and traces hold none, but configs may). */
export function stringifyResults(doc: ResultsDocument): string {
  return JSON.stringify(doc, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n';
}

/** Writes a file atomically (a reader never sees half a file, even if the run is killed mid-write). */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode?: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, mode === undefined ? undefined : { mode });
  renameSync(tmp, file);
}

/**
 * Writes results.json atomically, after validating exactly the bytes it writes against
 * results.schema.json. An invalid document (a fault of the tool) is still kept, as
 * results.invalid.json beside it, and a ResultsSchemaError names what is wrong.
 */
export function writeResults(outDir: string, doc: ResultsDocument): string {
  const text = stringifyResults(doc);
  const file = path.join(outDir, 'results.json');
  try {
    assertResults(JSON.parse(text), 'results.json');
  } catch (e) {
    writeFileAtomic(path.join(outDir, 'results.invalid.json'), text);
    throw e;
  }
  writeFileAtomic(file, text);
  return file;
}
