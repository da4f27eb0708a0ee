/**
 * One ajv (JSON Schema draft 2020-12) instance for the spec data, and a formatter that turns ajv
 * errors into one line a person can act on.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';

let ajv: Ajv2020 | undefined;

function instance(): Ajv2020 {
  ajv ??= new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true });
  return ajv;
}

const compiled = new Map<string, ValidateFunction>();

/** Compiles (once per path) the schema stored at `schemaPath`. */
export function schemaValidator(schemaPath: string): ValidateFunction {
  let v = compiled.get(schemaPath);
  if (!v) {
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as object;
    v = instance().compile(schema);
    compiled.set(schemaPath, v);
  }
  return v;
}

/** Compiles a schema object given in memory (tests of broken variants use this). */
export function compileSchema(schema: object): ValidateFunction {
  return new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true }).compile(schema);
}

/**
 * The most useful ajv errors, as text: `oneOf`/`if` noise dropped, each error as
 * `<instancePath> <message>` (the root named `rootLabel`).
 */
export function formatAjvErrors(errors: readonly ErrorObject[] | null | undefined, rootLabel = '(root)'): string {
  if (!errors || errors.length === 0) return 'invalid';
  const useful = errors.filter((e) => e.keyword !== 'if' && e.keyword !== 'oneOf' && e.keyword !== 'anyOf');
  const list = useful.length > 0 ? useful : errors;
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of list) {
    const where = e.instancePath === '' ? rootLabel : e.instancePath;
    let detail = '';
    if (e.keyword === 'additionalProperties') detail = ` '${String((e.params as { additionalProperty?: string }).additionalProperty)}'`;
    else if (e.keyword === 'enum') detail = `: ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}`;
    else if (e.keyword === 'const') detail = `: ${JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue)}`;
    const line = `${where} ${e.message ?? e.keyword}${detail}`;
    if (!seen.has(line)) {
      seen.add(line);
      out.push(line);
    }
  }
  return out.join('; ');
}
