/**
 * The requirement catalog: every rule a verdict of the suite can rest on, as data.
 *
 * Storage: spec/catalog/<area>.json, one array of entries per area, each file validated against
 * spec/catalog.schema.json (JSON Schema draft 2020-12) with ajv when the catalog loads. The loader
 * then checks what a schema cannot: ids unique across files, the area matching the id prefix and
 * the file name, errata ids known to spec/errata.ts, and `probedBy` naming existing device rules.
 * Any problem stops the tool with a CatalogError naming the file, the entry (index and id) and
 * the reason; the CLI prints it and exits with code 2.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject } from 'ajv/dist/2020.js';
import { HarnessError } from '../protocol/errors.ts';
import { isErratumId } from './errata.ts';
import { formatAjvErrors, schemaValidator } from './json-schema.ts';

export const AREAS = [
  'cmdset',
  'mode',
  'ctx-size',
  'ctx-read',
  'ctx-write',
  'ctx-discard',
  'ctx-fields',
  'ctx-format',
  'member',
  'wr',
  'admin',
  'avq',
  'driver',
] as const;
export type RequirementArea = (typeof AREAS)[number];

export const LEVELS = ['MUST', 'MUST NOT', 'SHOULD', 'SHOULD NOT', 'MAY'] as const;
export type RequirementLevel = (typeof LEVELS)[number];

/**
 * device: the device under test (owner and members). owner-driver: binds the suite as owner
 * driver. member-driver: binds whoever accesses the member, i.e. the suite as hypervisor or member
 * driver (seed-errata E23). spec-extension: binds future revisions of the specification.
 */
export const ROLES = ['device', 'owner-driver', 'member-driver', 'spec-extension'] as const;
export type RequirementRole = (typeof ROLES)[number];

/** Role filter values: the roles, plus `driver` for both driver roles. */
export const ROLE_FILTERS = [...ROLES, 'driver'] as const;
export type RoleFilter = (typeof ROLE_FILTERS)[number];

export const TESTABILITY_CLASSES = ['owner', 'member', 'dma', 'pci', 'interrupt', 'suite-obligation', 'not-testable'] as const;
export type TestabilityClass = (typeof TESTABILITY_CLASSES)[number];

export const CAPABILITIES = [
  'member-port',
  'dma-observation',
  'dma-window-observation',
  'interrupt-observation',
  'flr',
  'power-management',
  'pci-config',
  'raw-frames',
] as const;
export type TransportCapability = (typeof CAPABILITIES)[number];

export const COMMAND_SETS = ['context', 'fields-query', 'write-record'] as const;
export type CommandSet = (typeof COMMAND_SETS)[number];

export type Normativity = 'keyword' | 'prose';

/** A sentence of the seed draft: patch, 1-based mbox line of its start, SHA-256 of the normalized text. */
export interface SeedSource {
  readonly kind: 'seed';
  readonly patch: number;
  readonly section: string;
  readonly line: number;
  readonly sha256: string;
}

/** A statement of the virtio 1.3 base (virtio-admin.md): a numbered statement or a section. */
export interface BaseSource {
  readonly kind: 'base';
  readonly doc: 'virtio-admin.md';
  readonly statement?: string;
  readonly section?: string;
}

export type RequirementSource = SeedSource | BaseSource;

export interface RequirementConditions {
  /** The rule is stated for this group type only. */
  readonly groupType?: 'sr-iov';
  /** The optional command set the rule needs (NOT_APPLICABLE when the device lacks it). */
  readonly commandSet?: CommandSet;
  /** Transport capabilities a test needs (NOT_TESTED when the transport lacks one). */
  readonly capabilities?: readonly TransportCapability[];
}

export interface Testability {
  readonly class: TestabilityClass;
  /** Required for not-testable and suite-obligation. */
  readonly reason?: string;
}

export interface Requirement {
  readonly id: string;
  readonly area: RequirementArea;
  readonly level: RequirementLevel;
  readonly normativity: Normativity;
  readonly role: RequirementRole;
  /** The rule in our own words. */
  readonly rule: string;
  /** Cross-reference to the seed-errata index (SD1..SD21, SR1..SR7) or a base statement (GD1a ...). */
  readonly seedIndex?: string;
  readonly source: readonly RequirementSource[];
  readonly conditions: RequirementConditions;
  readonly testability: Testability;
  readonly errata: readonly string[];
  /** Driver rules only: device requirements whose tests break this rule on purpose. */
  readonly probedBy?: readonly string[];
  readonly notes?: string;
}

export interface CatalogFilter {
  readonly level?: RequirementLevel | readonly RequirementLevel[];
  readonly role?: RoleFilter | readonly RoleFilter[];
  readonly area?: RequirementArea | readonly RequirementArea[];
}

/** A broken catalog file. Extends HarnessError: the CLI prints the message and exits with 2. */
export class CatalogError extends HarnessError {
  override name = 'CatalogError';
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly index?: number,
    readonly entryId?: string,
  ) {
    const entry = index === undefined ? '' : `: entry ${index}${entryId === undefined ? '' : ` (${entryId})`}`;
    super(`requirement catalog ${file}${entry}: ${reason}`);
  }
}

const SPEC_DIR = path.dirname(fileURLToPath(import.meta.url));
export const CATALOG_DIR = path.join(SPEC_DIR, 'catalog');
export const CATALOG_SCHEMA = path.join(SPEC_DIR, 'catalog.schema.json');

const asList = <T>(v: T | readonly T[] | undefined): readonly T[] | undefined =>
  v === undefined ? undefined : Array.isArray(v) ? (v as readonly T[]) : [v as T];

export class Catalog {
  readonly requirements: readonly Requirement[];
  private readonly index: ReadonlyMap<string, Requirement>;
  private readonly brokenBy: ReadonlyMap<string, readonly string[]>;

  constructor(requirements: readonly Requirement[]) {
    this.requirements = Object.freeze([...requirements]);
    this.index = new Map(requirements.map((r) => [r.id, r]));
    const broken = new Map<string, string[]>();
    for (const r of requirements) {
      for (const probe of r.probedBy ?? []) {
        if (!broken.has(probe)) broken.set(probe, []);
        broken.get(probe)!.push(r.id);
      }
    }
    this.brokenBy = broken;
  }

  get size(): number {
    return this.requirements.length;
  }

  byId(id: string): Requirement | undefined {
    return this.index.get(id);
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  ids(): string[] {
    return this.requirements.map((r) => r.id);
  }

  /** Entries matching every given criterion (each criterion: any of its values). */
  filter(f: CatalogFilter = {}): Requirement[] {
    const levels = asList(f.level);
    const roles = asList(f.role);
    const areas = asList(f.area);
    return this.requirements.filter(
      (r) =>
        (!levels || levels.includes(r.level)) &&
        (!areas || areas.includes(r.area)) &&
        (!roles || roles.some((x) => x === r.role || (x === 'driver' && r.role.endsWith('-driver')))),
    );
  }

  /** Driver rules that the tests of device requirement `id` break on purpose (the reverse of probedBy). */
  driverRulesBrokenBy(id: string): readonly string[] {
    return this.brokenBy.get(id) ?? [];
  }
}

/** One catalog file's content, as read from disk (or built in memory by tests). */
export interface CatalogFile {
  /** The path shown in error messages; its base name must be `<area>.json`. */
  readonly file: string;
  readonly data: unknown;
}

function firstEntryError(errors: readonly ErrorObject[]): { index: number | undefined; errors: ErrorObject[] } {
  const m = /^\/(\d+)/.exec(errors[0]?.instancePath ?? '');
  if (!m) return { index: undefined, errors: [...errors] };
  const index = Number(m[1]);
  const prefix = `/${index}`;
  const mine = errors
    .filter((e) => e.instancePath === prefix || e.instancePath.startsWith(`${prefix}/`))
    .map((e) => ({ ...e, instancePath: e.instancePath.slice(prefix.length) }));
  return { index, errors: mine };
}

/** Validates catalog files and builds the catalog; throws CatalogError on the first problem found. */
export function buildCatalog(files: readonly CatalogFile[]): Catalog {
  let validate: ReturnType<typeof schemaValidator>;
  try {
    validate = schemaValidator(CATALOG_SCHEMA);
  } catch (e) {
    throw new CatalogError(CATALOG_SCHEMA, `schema does not compile: ${(e as Error).message}`);
  }
  const all: Requirement[] = [];
  const where = new Map<string, { file: string; index: number }>();
  for (const { file, data } of files) {
    const area = path.basename(file).replace(/\.json$/, '');
    if (!(AREAS as readonly string[]).includes(area)) {
      throw new CatalogError(file, `file name must be <area>.json with area one of ${AREAS.join(', ')}`);
    }
    if (!validate(data)) {
      const { index, errors } = firstEntryError(validate.errors ?? []);
      const entry = index === undefined ? undefined : (data as unknown[])[index];
      const id = typeof (entry as { id?: unknown } | undefined)?.id === 'string' ? (entry as { id: string }).id : undefined;
      throw new CatalogError(file, formatAjvErrors(errors, index === undefined ? '(file)' : '(entry)'), index, id);
    }
    for (const [index, r] of (data as Requirement[]).entries()) {
      const fail = (reason: string): never => {
        throw new CatalogError(file, reason, index, r.id);
      };
      const prefix = r.id.slice(0, r.id.indexOf('.'));
      if (prefix !== r.area) fail(`id prefix '${prefix}' differs from area '${r.area}'`);
      if (r.area !== area) fail(`area '${r.area}' stored in ${path.basename(file)}; it belongs in ${r.area}.json`);
      const seen = where.get(r.id);
      if (seen) fail(`duplicate id (first defined in ${seen.file}, entry ${seen.index})`);
      for (const e of r.errata) if (!isErratumId(e)) fail(`unknown erratum id '${e}' (see spec/errata.ts)`);
      const keys = r.source.map((s) => (s.kind === 'seed' ? `${s.patch}:${s.line}:${s.sha256}` : `${s.statement ?? `§${s.section}`}`));
      if (new Set(keys).size !== keys.length) fail('the same source is listed twice');
      where.set(r.id, { file, index });
      all.push(r);
    }
  }
  const byId = new Map(all.map((r) => [r.id, r]));
  for (const r of all) {
    for (const probe of r.probedBy ?? []) {
      const target = byId.get(probe);
      const w = where.get(r.id)!;
      if (!target) throw new CatalogError(w.file, `probedBy names unknown requirement '${probe}'`, w.index, r.id);
      if (target.role !== 'device') {
        throw new CatalogError(w.file, `probedBy names '${probe}', which is not a device requirement`, w.index, r.id);
      }
    }
  }
  return new Catalog(all);
}

/** Reads and validates every spec/catalog/<area>.json of `dir`. */
export function loadCatalogFrom(dir: string): Catalog {
  if (!existsSync(dir)) throw new CatalogError(dir, 'catalog folder not found');
  // Files in the order of AREAS (unknown names last, so buildCatalog reports them).
  const rank = (f: string) => {
    const i = (AREAS as readonly string[]).indexOf(f.replace(/\.json$/, ''));
    return i < 0 ? AREAS.length : i;
  };
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const files: CatalogFile[] = names.map((name) => {
    const file = path.join(dir, name);
    try {
      return { file, data: JSON.parse(readFileSync(file, 'utf8')) as unknown };
    } catch (e) {
      throw new CatalogError(file, `not valid JSON: ${(e as Error).message}`);
    }
  });
  return buildCatalog(files);
}

let cached: Catalog | undefined;

/** The catalog shipped in spec/catalog/ (loaded and validated once per process). */
export function loadCatalog(): Catalog {
  cached ??= loadCatalogFrom(CATALOG_DIR);
  return cached;
}
