import type { RequirementOutcome, RollupVerdict, TestVerdict } from './verdicts.ts';

/**
 * The results document (results.json): the one source every other report is rendered from. The
 * harness fills it; reports never import the harness.
 */
export interface ResultsDocument {
  schemaVersion: 1;
  tool: { name: string; version: string; commit?: string };
  run: {
    startedAt: string;
    endedAt: string;
    durationMs: number;
    /** False when the run was aborted, hit its time limit, or a test file could not run. */
    complete: boolean;
    /** Why the run is incomplete, when it is. */
    incompleteReason?: string;
    exitCode: number;
    shard?: string;
    command: string;
  };
  configFile?: string;
  config: unknown;
  profile: { id: string; title?: string; settings: Record<string, unknown>; readings: ProfileReadingRecord[] };
  seed: number;
  device: DeviceRecord | null;
  host: HostRecord;
  session: SessionRecord | null;
  tests: TestRecord[];
  requirements: RequirementRecord[];
  summary: {
    tests: Record<TestVerdict, number>;
    requirements: Record<RollupVerdict, number>;
  };
  /** Present when this document was merged from shard packages (`vmcts merge`): one record per shard. */
  merged?: { shards: ShardRecord[] };
}

/** One shard a merged document was made from, as its own package recorded it. */
export interface ShardRecord {
  /** "i/n". */
  shard: string;
  startedAt: string;
  endedAt: string;
  complete: boolean;
  incompleteReason?: string;
  exitCode: number;
  host: HostRecord;
  /** Null when the shard ran no test (the device was never opened). */
  device: DeviceRecord | null;
  /** SHA-256 of the shard's results.json, as its manifest listed it. */
  resultsSha256: string;
  /** SHA-256 fingerprint of the key that signed the shard's manifest, when it was signed. */
  signedBy?: string;
}

export interface ProfileReadingRecord {
  setting: string;
  errata: readonly string[];
  value: string | number | boolean;
  reading: string;
  overridden: boolean;
}

export interface DeviceRecord {
  transport: string;
  description: string;
  address: string;
  pci?: { vendorId: number; deviceId: number; subsystemVendorId: number; subsystemId: number; revision: number };
  serial?: string;
  firmware?: string;
  members: { id: number; virtioType: number; address?: string }[];
}

export interface HostRecord {
  hostname: string;
  platform: string;
  release: string;
  arch: string;
  node: string;
  cpus: number;
}

/** What the harness learned of the device when it opened it. */
export interface SessionRecord {
  supportedOpcodes: number[];
  inUseOpcodes: number[];
  commandSets: { context: boolean; fieldsQuery: boolean; writeRecords: boolean };
  membersUnderTest: number[];
  findings: string[];
  /** Driver rules (suite obligations) the harness's monitor checked on every command it sent. */
  driverRulesEnforced: string[];
}

export interface TestRecord {
  id: string;
  title: string;
  file: string;
  requirements: string[];
  verdict: TestVerdict;
  /** Per requirement the test covers. */
  outcomes: Record<string, RequirementOutcome>;
  durationMs: number;
  /** Failure and skip reasons, in order. */
  messages: string[];
  /** Observations that do not change the verdict (P5 qualifier preferences, E22 findings). */
  findings: string[];
  /** Decoded wire trace of the admin commands of the test (kept for every non-PASS verdict). */
  trace: string[];
  replay: string;
  /** Driver rules the harness broke in this test without declaring it (each makes it a HARNESS_ERROR). */
  driverRuleViolations: { rule: string; message: string }[];
  /** Driver rules this test breaks on purpose to probe the device. */
  breaks: string[];
  /** How the member-side behaviour judged was observed, e.g. "dma: iommu-fault; interrupts: events" (exact on simulators). */
  observation?: string;
}

export interface RequirementRecord {
  id: string;
  level: string;
  area: string;
  role: string;
  testability: string;
  verdict: RollupVerdict;
  tests: string[];
  /** Why NOT_TESTED / NOT_APPLICABLE / FAILED, in words. */
  reason?: string;
  /** The rule in the catalog's words (reports search and print it). */
  rule?: string;
  /** Errata ids (seed-errata.md) whose reading the verdict depends on. */
  errata?: string[];
}
