import type { ProfileSettings } from '../../spec/profile-settings.ts';
import type { ConformanceConfig } from '../config/define-config.ts';

/**
 * Everything a conformance run needs, resolved once in the CLI process and handed to the test
 * worker (vitest `provide`): plain JSON, so it crosses the process boundary and lands in the report.
 */
export interface RunPlan {
  tool: { name: string; version: string; commit?: string };
  configFile?: string;
  config: ConformanceConfig;
  profile: { id: string; settings: ProfileSettings };
  /** Requirement ids selected by levels/areas/ids (what the tests are filtered by). */
  requirements: string[];
  /** Test ids given on the command line or in the config (empty: every test of the selected requirements). */
  tests: string[];
  seed: number;
  timeouts: { commandMs: number; testMs: number; runMs: number };
  fuzzRuns?: number;
  /** `--replay`: the fast-check path (and commands replay path) of a fuzz failure to run again alone. */
  replayPath?: string;
  outDir: string;
  /** The command that re-runs this configuration; a test's replay line appends its own selection. */
  replayBase: string;
  /** Shard "i/n" when sharded. */
  shard?: string;
}

declare module 'vitest' {
  interface ProvidedContext {
    vmctsPlan: RunPlan;
  }
}
