/**
 * Validation of results.json against reports/results.schema.json (JSON Schema draft 2020-12, ajv),
 * plus the checks a schema cannot express (unique ids, counts that match the records). Used when the
 * document is written, and when `verify` and `merge` read it back.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import type { ResultsDocument } from './results.ts';
import { ROLLUP_VERDICTS, TEST_VERDICTS } from './verdicts.ts';

export const RESULTS_SCHEMA_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results.schema.json');

/** A results document that does not hold to the schema (the message names every problem). */
export class ResultsSchemaError extends Error {
  override name = 'ResultsSchemaError';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source} is not a valid results document: ${problems.join('; ')}`);
  }
}

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

/** The compiled schema stored at `file` (draft 2020-12, date-time format checked), once per process. */
export function schemaValidator(file: string): ValidateFunction {
  let v = validators.get(file);
  if (!v) {
    if (!ajv) {
      ajv = new Ajv2020({ strict: true, strictRequired: false, strictTypes: false, allErrors: true, allowUnionTypes: true });
      formats.default(ajv, ['date-time']);
    }
    v = ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
    validators.set(file, v);
  }
  return v;
}

function describe(e: ErrorObject): string {
  const where = e.instancePath === '' ? '(root)' : e.instancePath;
  let detail = '';
  if (e.keyword === 'additionalProperties') detail = ` '${String((e.params as { additionalProperty?: string }).additionalProperty)}'`;
  else if (e.keyword === 'enum') detail = `: ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}`;
  else if (e.keyword === 'const') detail = `: ${JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue)}`;
  return `${where} ${e.message ?? e.keyword}${detail}`;
}

/** Problems of `data` against the schema stored at `file`, one line each (empty: valid). */
export function problemsAgainst(file: string, data: unknown): string[] {
  const validate = schemaValidator(file);
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  // oneOf/if wrappers repeat what their branches said; keep the branches' own errors when there are any.
  const useful = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if');
  return [...new Set((useful.length ? useful : errors).map(describe))];
}

/** Schema problems of a results document, one line each (empty: valid). */
export function schemaProblems(data: unknown): string[] {
  return problemsAgainst(RESULTS_SCHEMA_PATH, data);
}

/** What the schema cannot say: unique ids, outcome keys, summary counts. Assumes a schema-valid document. */
export function consistencyProblems(doc: ResultsDocument): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const t of doc.tests) {
    if (seen.has(t.id)) out.push(`test ${t.id} is recorded twice`);
    seen.add(t.id);
    for (const r of Object.keys(t.outcomes)) if (!t.requirements.includes(r)) out.push(`test ${t.id}: outcome for ${r}, which the test does not name`);
  }
  const reqs = new Set<string>();
  for (const r of doc.requirements) {
    if (reqs.has(r.id)) out.push(`requirement ${r.id} is recorded twice`);
    reqs.add(r.id);
    for (const id of r.tests) if (!seen.has(id)) out.push(`requirement ${r.id} names test ${id}, which is not in the document`);
  }
  for (const v of TEST_VERDICTS) {
    const n = doc.tests.filter((t) => t.verdict === v).length;
    if (doc.summary.tests[v] !== n) out.push(`summary.tests.${v} is ${doc.summary.tests[v]}, the document has ${n}`);
  }
  for (const v of ROLLUP_VERDICTS) {
    const n = doc.requirements.filter((r) => r.verdict === v).length;
    if (doc.summary.requirements[v] !== n) out.push(`summary.requirements.${v} is ${doc.summary.requirements[v]}, the document has ${n}`);
  }
  if (Date.parse(doc.run.endedAt) < Date.parse(doc.run.startedAt)) out.push('run.endedAt is before run.startedAt');
  return out;
}

/** Throws ResultsSchemaError unless `data` is a valid results document. */
export function assertResults(data: unknown, source = 'results.json'): asserts data is ResultsDocument {
  const problems = schemaProblems(data);
  if (problems.length) throw new ResultsSchemaError(source, problems);
}

/** Reads and validates a results.json file. */
export function readResults(file: string): ResultsDocument {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ResultsSchemaError(file, [e instanceof SyntaxError ? `not JSON: ${e.message}` : (e as Error).message]);
  }
  assertResults(data, file);
  return data;
}
