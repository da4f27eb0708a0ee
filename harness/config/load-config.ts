import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.ts';
import { transportConfigSchema } from '../../transports/index.ts';
import type { ConformanceConfig } from './define-config.ts';

const SCHEMA_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'config.schema.json');
export const DEFAULT_CONFIG_FILES = ['conformance.config.ts', 'conformance.config.mts', 'conformance.config.js', 'conformance.config.json'];

let validator: ValidateFunction | undefined;

function validate(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv2020({ strict: true, allErrors: true, verbose: true, allowUnionTypes: true });
    const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as { properties: Record<string, unknown> };
    // The transport section is each registered transport's own schema (transports/index.ts).
    schema.properties.transport = transportConfigSchema();
    validator = ajv.compile(schema);
  }
  return validator;
}

/** `transport.devices[1].type` from an ajv instance path. */
function keyPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out || '(config)';
}

function show(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
}

/** One line per mistake: the key, the value given, and what is allowed. */
export function explainConfigErrors(errors: readonly ErrorObject[]): string[] {
  const out = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'if' || e.keyword === 'allOf') continue;
    const key = keyPath(e.instancePath);
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'additionalProperties': {
        const allowed = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
        out.add(`${keyPath(e.instancePath, String(p.additionalProperty))}: unknown key; allowed here: ${allowed.join(', ')}`);
        break;
      }
      case 'enum':
        out.add(`${key}: ${show(e.data)} is not allowed; allowed: ${(p.allowedValues as unknown[]).map(show).join(', ')}`);
        break;
      case 'const':
        break; // reported by the enum on `kind`
      case 'required':
        out.add(`${keyPath(e.instancePath, String(p.missingProperty))}: missing; it is required${e.instancePath.startsWith('/transport') ? ' for this transport kind' : ''}`);
        break;
      case 'type':
        out.add(`${key}: ${show(e.data)} is not allowed; expected ${String(p.type)}`);
        break;
      case 'minimum':
      case 'maximum':
        out.add(`${key}: ${show(e.data)} is not allowed; ${e.keyword === 'minimum' ? 'at least' : 'at most'} ${String(p.limit)}`);
        break;
      case 'pattern':
        out.add(`${key}: ${show(e.data)} is not allowed; expected the form ${e.keyword === 'pattern' && String(p.pattern).includes('[0-7]') ? 'DDDD:BB:DD.F (a PCI address)' : String(p.pattern)}`);
        break;
      default:
        out.add(`${key}: ${show(e.data)} is not allowed; ${e.message ?? e.keyword}`);
    }
  }
  return [...out];
}

/** Validates a config object; a mistake throws ConfigError naming the key, the value and what is allowed. */
export function validateConfig(raw: unknown, source: string): ConformanceConfig {
  const v = validate();
  if (!v(raw)) {
    const lines = explainConfigErrors(v.errors ?? []);
    throw new ConfigError(`invalid config in ${source}:\n  ${lines.join('\n  ')}`);
  }
  return raw as ConformanceConfig;
}

/** Loads a config file (TypeScript, JavaScript or JSON; a module's default export) and validates it. */
export async function loadConfigFile(file: string): Promise<ConformanceConfig> {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new ConfigError(`config file ${file} does not exist`);
  let raw: unknown;
  if (abs.endsWith('.json')) {
    try {
      raw = JSON.parse(readFileSync(abs, 'utf8'));
    } catch (e) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    try {
      const mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
      raw = mod.default;
    } catch (e) {
      throw new ConfigError(`config file ${file} could not be loaded: ${(e as Error).message}`);
    }
    if (raw === undefined) throw new ConfigError(`config file ${file} has no default export (export default defineConfig({ ... }))`);
  }
  return validateConfig(raw, file);
}

/** The config file to use: the one given, else conformance.config.* in `cwd`, else none (built-in default). */
export function findConfigFile(given: string | undefined, cwd = process.cwd()): string | undefined {
  if (given) return given;
  for (const f of DEFAULT_CONFIG_FILES) if (existsSync(path.join(cwd, f))) return path.join(cwd, f);
  return undefined;
}

export const BUILTIN_CONFIG: ConformanceConfig = { transport: { kind: 'simulator' } };
