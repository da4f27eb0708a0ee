/**
 * Spec profiles: which reading of every erratum of the seed draft a run takes.
 *
 * A profile file (spec/profiles/<id>.json, schema spec/profiles.schema.json) is either a base
 * profile that lists every reading, or a derived profile that names a base (`extends`) and changes
 * some settings. A reading is either a setting (a key of `ProfileSettings`, with the values a
 * config may choose from) or a fixed reading (one choice, printed in every report, not a key of
 * `ProfileSettings`). Together the readings account for every seed erratum E1..E37.
 *
 * `loadProfile(name, overrides)` validates the file with ajv, resolves `extends`, applies the
 * config's overrides, and returns the settings plus the readings in words. Broken profile data is
 * a `ProfileError` (the tool's fault, exit 2); a bad name or override is a `ConfigError`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, HarnessError } from '../protocol/errors.ts';
import { isErratumId, SEED_ERRATA_IDS } from './errata.ts';
import { formatAjvErrors, schemaValidator } from './json-schema.ts';
import type { ProfileSettingName, ProfileSettings } from './profile-settings.ts';

export const DEFAULT_PROFILE = 'seed-v2';

const SPEC_DIR = path.dirname(fileURLToPath(import.meta.url));
export const PROFILES_DIR = path.join(SPEC_DIR, 'profiles');
export const PROFILES_SCHEMA = path.join(SPEC_DIR, 'profiles.schema.json');

/**
 * Every key of `ProfileSettings`, at run time. The type check below fails to compile when the
 * interface gains a key that is missing here (or this list names a key the interface lacks).
 */
export const PROFILE_SETTING_NAMES = [
  'opcodeNumbering',
  'fieldsQueryInContextGroup',
  'ctxWriteData',
  'writeRecordsCount',
  'ctxStreamAlignment',
  'pciVqCfgLayout',
  'pciCommonCfgLength',
  'modeTransitions',
  'contextAfterStreamEnd',
  'sizeGetFreezeModeAbove1',
  'readEndOfStream',
  'fieldLengthMismatchAt',
  'modeAfterMemberReset',
  'pageSizeBit',
  'supportedRanges',
  'startValidation',
  'recordsReadLength',
  'recordsReadAfterStop',
  'unusedOutputZero',
  'failureQualifierMismatch',
] as const satisfies readonly ProfileSettingName[];

type MissingSettingNames = Exclude<ProfileSettingName, (typeof PROFILE_SETTING_NAMES)[number]>;
const allSettingsListed: [MissingSettingNames] extends [never] ? true : false = true;
void allSettingsListed;

export type ReadingValue = string | number | boolean;

/** One reading of the active profile, as a report prints it. */
export interface ProfileReading {
  /** The setting name: a key of ProfileSettings, or the name of a fixed reading. */
  readonly setting: string;
  /** True for a fixed reading (single choice, not a ProfileSettings key). */
  readonly fixed: boolean;
  /** The errata (and principles) this reading settles. */
  readonly errata: readonly string[];
  /** The value in effect. */
  readonly value: ReadingValue;
  /** Every value the setting allows. */
  readonly choices: readonly ReadingValue[];
  /** The reading in effect, in words. */
  readonly reading: string;
  /** True when a config override changed the value from the profile's own. */
  readonly overridden: boolean;
}

export interface SpecProfile {
  readonly id: string;
  readonly title: string;
  readonly settings: Readonly<ProfileSettings>;
  readonly readings: readonly ProfileReading[];
}

/** The overrides a config may give: settings by name (fixed readings only with their one value). */
export type ProfileOverrides = Partial<ProfileSettings>;

/** Broken profile data shipped with the tool (not the user's fault): exit 2. */
export class ProfileError extends HarnessError {
  override name = 'ProfileError';
}

interface ChoiceData {
  value: ReadingValue;
  reading: string;
}
interface ReadingData {
  setting: string;
  fixed?: boolean;
  errata: string[];
  value: ReadingValue;
  choices: ChoiceData[];
}
interface BaseProfileData {
  id: string;
  title: string;
  readings: ReadingData[];
}
interface DerivedProfileData {
  id: string;
  title: string;
  extends: string;
  settings: Record<string, ReadingValue>;
}
type ProfileData = BaseProfileData | DerivedProfileData;

/** Ids of the profiles shipped in spec/profiles/. */
export function listProfiles(): string[] {
  return readdirSync(PROFILES_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

function readProfileFile(name: string): { file: string; data: ProfileData } {
  const file = path.join(PROFILES_DIR, `${name}.json`);
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !existsSync(file)) {
    throw new ConfigError(`unknown spec profile '${name}'; available: ${listProfiles().join(', ')}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ProfileError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  const validate = schemaValidator(PROFILES_SCHEMA);
  if (!validate(data)) throw new ProfileError(`${file}: ${formatAjvErrors(validate.errors)}`);
  const d = data as ProfileData;
  if (d.id !== name) throw new ProfileError(`${file}: id '${d.id}' differs from the file name '${name}'`);
  return { file, data: d };
}

function sameValue(a: ReadingValue, b: ReadingValue): boolean {
  return a === b;
}

/** Checks what the schema cannot: names, choices, value types, errata coverage. */
function checkBase(file: string, p: BaseProfileData): void {
  const seen = new Set<string>();
  const covered = new Set<string>();
  for (const [i, r] of p.readings.entries()) {
    const where = `${file}: readings[${i}] (${r.setting})`;
    if (seen.has(r.setting)) throw new ProfileError(`${where}: setting listed twice`);
    seen.add(r.setting);
    const isSetting = (PROFILE_SETTING_NAMES as readonly string[]).includes(r.setting);
    if (r.fixed === true && isSetting) throw new ProfileError(`${where}: a ProfileSettings key cannot be a fixed reading`);
    if (r.fixed !== true && !isSetting) {
      throw new ProfileError(`${where}: not a ProfileSettings key; mark it "fixed": true or add it to spec/profile-settings.ts`);
    }
    const values = r.choices.map((c) => c.value);
    if (new Set(values).size !== values.length) throw new ProfileError(`${where}: duplicate choice values`);
    if (!values.some((v) => sameValue(v, r.value))) {
      throw new ProfileError(`${where}: value ${JSON.stringify(r.value)} is not one of its choices ${JSON.stringify(values)}`);
    }
    if (values.some((v) => typeof v !== typeof r.value)) throw new ProfileError(`${where}: choices mix value types`);
    for (const id of r.errata) {
      if (!isErratumId(id)) throw new ProfileError(`${where}: unknown erratum id '${id}'`);
      covered.add(id);
    }
  }
  for (const name of PROFILE_SETTING_NAMES) {
    if (!seen.has(name)) throw new ProfileError(`${file}: no reading for setting '${name}'`);
  }
  const missing = SEED_ERRATA_IDS.filter((id) => !covered.has(id));
  if (missing.length > 0) throw new ProfileError(`${file}: no reading accounts for ${missing.join(', ')}`);
}

function applyOverride(
  readings: Map<string, ReadingData & { overridden: boolean }>,
  key: string,
  value: unknown,
  origin: string,
): void {
  const r = readings.get(key);
  if (!r) {
    const names = [...readings.values()].filter((x) => x.fixed !== true).map((x) => x.setting);
    throw new ConfigError(`${origin}: unknown profile setting '${key}'; settings: ${names.join(', ')}`);
  }
  const allowed = r.choices.map((c) => c.value);
  if (!allowed.some((v) => v === value)) {
    const what = r.fixed === true ? 'a fixed reading; its only value is' : 'allowed:';
    throw new ConfigError(
      `${origin}: profile setting '${key}' = ${JSON.stringify(value)} is not allowed (${what} ${allowed.map((v) => JSON.stringify(v)).join(', ')})`,
    );
  }
  if (r.value !== value) {
    r.value = value as ReadingValue;
    r.overridden = true;
  }
}

function resolve(name: string, depth = 0): { id: string; title: string; file: string; readings: Map<string, ReadingData & { overridden: boolean }> } {
  if (depth > 8) throw new ProfileError(`profile '${name}': 'extends' chain too long`);
  const { file, data } = readProfileFile(name);
  if ('readings' in data) {
    checkBase(file, data);
    const readings = new Map(data.readings.map((r) => [r.setting, { ...r, choices: [...r.choices], overridden: false }]));
    return { id: data.id, title: data.title, file, readings };
  }
  const base = resolve(data.extends, depth + 1);
  for (const [key, value] of Object.entries(data.settings)) {
    try {
      applyOverride(base.readings, key, value, file);
    } catch (e) {
      if (e instanceof ConfigError) throw new ProfileError(e.message);
      throw e;
    }
  }
  // Values a derived profile sets are its own, not config overrides.
  for (const r of base.readings.values()) r.overridden = false;
  return { id: data.id, title: data.title, file, readings: base.readings };
}

const cache = new Map<string, SpecProfile>();

/**
 * Loads a spec profile (default `seed-v2`) and applies a config's overrides. An override with an
 * unknown setting name, or a value outside the setting's choices, throws ConfigError naming the
 * key, the value and what is allowed.
 */
export function loadProfile(name: string = DEFAULT_PROFILE, overrides?: ProfileOverrides): SpecProfile {
  const entries = Object.entries((overrides ?? {}) as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const cacheKey = entries.length === 0 ? name : undefined;
  if (cacheKey !== undefined) {
    const hit = cache.get(cacheKey);
    if (hit) return hit;
  }
  const resolved = resolve(name);
  for (const [key, value] of entries) applyOverride(resolved.readings, key, value, 'config profile override');
  const readings: ProfileReading[] = [...resolved.readings.values()].map((r) =>
    Object.freeze({
      setting: r.setting,
      fixed: r.fixed === true,
      errata: Object.freeze([...r.errata]),
      value: r.value,
      choices: Object.freeze(r.choices.map((c) => c.value)),
      reading: r.choices.find((c) => c.value === r.value)?.reading ?? '',
      overridden: r.overridden,
    }),
  );
  const settings = {} as Record<string, ReadingValue>;
  for (const n of PROFILE_SETTING_NAMES) settings[n] = resolved.readings.get(n)!.value;
  const profile: SpecProfile = Object.freeze({
    id: resolved.id,
    title: resolved.title,
    settings: Object.freeze(settings) as unknown as ProfileSettings,
    readings: Object.freeze(readings),
  });
  if (cacheKey !== undefined) cache.set(cacheKey, profile);
  return profile;
}

/** The line every report prints first: the active profile and its id. */
export function profileHeader(p: SpecProfile): string {
  const changed = p.readings.filter((r) => r.overridden).map((r) => `${r.setting}=${JSON.stringify(r.value)}`);
  return `profile: ${p.id} (${p.title})${changed.length > 0 ? `; overrides: ${changed.join(', ')}` : ''}`;
}

/** Every reading as one line: `E1,E2,E3 opcodeNumbering = "table": <reading>`. */
export function describeReadings(p: SpecProfile): string[] {
  return p.readings.map(
    (r) => `${r.errata.join(',')} ${r.setting}${r.fixed ? ' (fixed)' : ''} = ${JSON.stringify(r.value)}${r.overridden ? ' (override)' : ''}: ${r.reading}`,
  );
}
