import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../harness/errors.ts';
import { ERRATA, SEED_ERRATA_IDS } from '../../spec/errata.ts';
import { compileSchema, formatAjvErrors } from '../../spec/json-schema.ts';
import {
  DEFAULT_PROFILE,
  describeReadings,
  listProfiles,
  loadProfile,
  PROFILE_SETTING_NAMES,
  PROFILES_DIR,
  PROFILES_SCHEMA,
  profileHeader,
} from '../../spec/profiles.ts';
import type { ProfileOverrides } from '../../spec/profiles.ts';

describe('spec profiles', () => {
  it('ships seed-v2 (default) and seed-v2-text-opcodes', () => {
    expect(DEFAULT_PROFILE).toBe('seed-v2');
    expect(listProfiles()).toEqual(expect.arrayContaining(['seed-v2', 'seed-v2-text-opcodes']));
    for (const id of listProfiles()) expect(loadProfile(id).id).toBe(id);
  });

  it('takes the seed-errata default readings in seed-v2', () => {
    const s = loadProfile().settings;
    expect(s).toMatchObject({
      opcodeNumbering: 'table',
      fieldsQueryInContextGroup: false,
      ctxWriteData: 'raw',
      writeRecordsCount: 'command_specific_output',
      ctxStreamAlignment: 'packed',
      pciVqCfgLayout: 'packed',
      pciCommonCfgLength: 64,
      unusedOutputZero: 'warn',
      failureQualifierMismatch: 'warn',
    });
    expect(Object.keys(s).sort()).toEqual([...PROFILE_SETTING_NAMES].sort());
  });

  it('switches only the opcode numbering in seed-v2-text-opcodes', () => {
    const a = loadProfile('seed-v2').settings;
    const b = loadProfile('seed-v2-text-opcodes').settings;
    expect(b.opcodeNumbering).toBe('text');
    expect({ ...b, opcodeNumbering: 'table' }).toEqual({ ...a });
    const r = loadProfile('seed-v2-text-opcodes').readings.find((x) => x.setting === 'opcodeNumbering')!;
    expect(r.reading).toMatch(/0xd/);
    expect(r.overridden).toBe(false);
  });

  it('accounts for every seed erratum E1..E37 and the suite readings S1, S2', () => {
    for (const id of listProfiles()) {
      const covered = new Set(loadProfile(id).readings.flatMap((r) => r.errata));
      expect(SEED_ERRATA_IDS.filter((e) => !covered.has(e)), id).toEqual([]);
      expect(covered.has('S1') && covered.has('S2'), id).toBe(true);
    }
    expect(SEED_ERRATA_IDS).toHaveLength(37);
    expect(ERRATA.filter((e) => e.cosmetic).map((e) => e.id)).toEqual(expect.arrayContaining(['E4', 'E24', 'E30', 'E31']));
  });

  it('gives every reading its words, choices, and one choice for a fixed reading', () => {
    for (const r of loadProfile().readings) {
      expect(r.reading.length, r.setting).toBeGreaterThan(10);
      expect(r.choices, r.setting).toContain(r.value);
      if (r.fixed) expect(r.choices, r.setting).toHaveLength(1);
    }
    expect(describeReadings(loadProfile())[0]).toMatch(/^E1,E2,E3 opcodeNumbering = "table": /);
  });

  it('applies a valid override and reports it in the header', () => {
    const p = loadProfile('seed-v2', { unusedOutputZero: 'fail', ctxStreamAlignment: 'natural' });
    expect(p.settings.unusedOutputZero).toBe('fail');
    expect(p.settings.ctxStreamAlignment).toBe('natural');
    expect(p.readings.find((r) => r.setting === 'ctxStreamAlignment')!.overridden).toBe(true);
    expect(profileHeader(p)).toMatch(/^profile: seed-v2 \(.*\); overrides: ctxStreamAlignment="natural", unusedOutputZero="fail"$|^profile: seed-v2 \(.*\); overrides: unusedOutputZero="fail", ctxStreamAlignment="natural"$/);
    // The cached default is not affected by an earlier override.
    expect(loadProfile().settings.unusedOutputZero).toBe('warn');
    expect(profileHeader(loadProfile())).toBe(`profile: seed-v2 (${loadProfile().title})`);
  });

  it('rejects an unknown setting name, naming it and the settings', () => {
    expect(() => loadProfile('seed-v2', { opcodeNumbring: 'text' } as unknown as ProfileOverrides)).toThrow(ConfigError);
    expect(() => loadProfile('seed-v2', { opcodeNumbring: 'text' } as unknown as ProfileOverrides)).toThrow(/unknown profile setting 'opcodeNumbring'; settings: opcodeNumbering,/);
  });

  it('rejects a value outside the choices, naming key, value and what is allowed', () => {
    expect(() => loadProfile('seed-v2', { opcodeNumbering: 'final' as 'text' })).toThrow(
      /profile setting 'opcodeNumbering' = "final" is not allowed \(allowed: "table", "text"\)/,
    );
    expect(() => loadProfile('seed-v2', { pciCommonCfgLength: 63 })).toThrow(/'pciCommonCfgLength' = 63 is not allowed \(allowed: 64, 60, 56\)/);
    expect(() => loadProfile('seed-v2', { fieldsQueryInContextGroup: 'yes' as unknown as boolean })).toThrow(ConfigError);
  });

  it('lets a fixed reading be restated with its one value but not changed', () => {
    const same = { stopModeMemory: 'doorbell-only' } as unknown as ProfileOverrides;
    expect(loadProfile('seed-v2', same).readings.find((r) => r.setting === 'stopModeMemory')!.value).toBe('doorbell-only');
    const other = { stopModeMemory: 'anything' } as unknown as ProfileOverrides;
    expect(() => loadProfile('seed-v2', other)).toThrow(/a fixed reading; its only value is "doorbell-only"/);
  });

  it('rejects an unknown profile name with the list of profiles', () => {
    expect(() => loadProfile('seed-v9')).toThrow(ConfigError);
    expect(() => loadProfile('seed-v9')).toThrow(/unknown spec profile 'seed-v9'; available: .*seed-v2/);
  });

  it('validates profile files against the schema', () => {
    const schema = JSON.parse(readFileSync(PROFILES_SCHEMA, 'utf8')) as object;
    const validate = compileSchema(schema);
    const good = JSON.parse(readFileSync(path.join(PROFILES_DIR, 'seed-v2.json'), 'utf8')) as { readings: Record<string, unknown>[] };
    expect(validate(good), formatAjvErrors(validate.errors)).toBe(true);
    const bad = structuredClone(good);
    bad.readings[0].errata = ['E1', 'X9'];
    expect(validate(bad)).toBe(false);
    expect(formatAjvErrors(validate.errors)).toMatch(/\/readings\/0\/errata\/1 must match pattern/);
    const twoChoicesFixed = structuredClone(good);
    const fixed = twoChoicesFixed.readings.find((r) => r.fixed === true)!;
    (fixed.choices as unknown[]).push({ value: 'other', reading: 'another reading entirely' });
    expect(validate(twoChoicesFixed)).toBe(false);
  });
});
