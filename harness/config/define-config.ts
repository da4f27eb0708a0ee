import type { ProfileSettings } from '../../spec/profile-settings.ts';

/** Levels a run may select (the catalog's levels). */
export type ConfigLevel = 'MUST' | 'MUST NOT' | 'SHOULD' | 'SHOULD NOT' | 'MAY';

// Each transport declares its own config section (transports/<kind>/index.ts); the registry composes them.
export type { TransportConfig } from '../../transports/index.ts';
export type { SimulatorMemberConfig, SimulatorTransportConfig } from '../../transports/simulator/index.ts';
export type { VfioTransportConfig } from '../../transports/vfio/index.ts';
export type { VfioUserTransportConfig } from '../../transports/vfio-user/index.ts';
import type { TransportConfig } from '../../transports/index.ts';

/** What a run checks and how. Every key is optional except `transport`. */
export interface ConformanceConfig {
  transport: TransportConfig;
  /** Spec profile (default "seed-v2"; `vmcts list --profiles` names them). */
  profile?: string;
  /** Profile settings to change (each a named reading of seed-errata.md). */
  overrides?: Partial<ProfileSettings>;
  /** Member ids under test, source first (default: the first two the device has). */
  members?: number[];
  /** Requirement levels to check (default: all). */
  levels?: ConfigLevel[];
  /** Requirement ids to check (default: all). */
  requirements?: string[];
  /** Catalog areas to check (default: all). */
  areas?: string[];
  /** Test ids to run (default: all that cover the selected requirements). */
  tests?: string[];
  /** Seed of everything random in the run (default 1). */
  seed?: number;
  timeouts?: {
    /** One admin command or register access (default 2000). */
    commandMs?: number;
    /** One test (default 30000). */
    testMs?: number;
    /** The whole run (default 1800000). */
    runMs?: number;
  };
  /** Property-based fuzzing budget. */
  fuzz?: { runs?: number };
  /** Where reports go (default "vmcts-out"). */
  outDir?: string;
}

/** Typed identity for config files: `export default defineConfig({ ... })`. */
export function defineConfig(config: ConformanceConfig): ConformanceConfig {
  return config;
}
