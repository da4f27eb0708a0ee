import type { ProfileSettings } from '../../spec/profile-settings.ts';

/** Levels a run may select (the catalog's levels). */
export type ConfigLevel = 'MUST' | 'MUST NOT' | 'SHOULD' | 'SHOULD NOT' | 'MAY';

export interface SimulatorMemberConfig {
  type: 'block' | 'entropy';
  /** Request queues of a block member (default 1). */
  numQueues?: number;
  /** Largest queue size offered (default 256). */
  queueSizeMax?: number;
}

/** The built-in simulator: the reference device in this process (the default). */
export interface SimulatorTransportConfig {
  kind: 'simulator';
  /** The reference device's members (default: two block members). */
  devices?: SimulatorMemberConfig[];
  /** Optional command sets the simulated device offers (default: all). */
  commandSets?: { fieldsQuery?: boolean; writeRecords?: boolean };
  /** A seeded-bug variant of the reference device (see `vmcts mutants`). */
  mutant?: string;
}

/**
 * The reference device behind register-level PCI models (device/pci) in this process, driven by the
 * userspace virtio-pci driver: admin commands travel on a real admin virtqueue in DMA memory.
 */
export interface SimulatorPciTransportConfig {
  kind: 'simulator-pci';
  /** The reference device's members (default: two block members). */
  devices?: SimulatorMemberConfig[];
  /** Optional command sets the simulated device offers (default: all). */
  commandSets?: { fieldsQuery?: boolean; writeRecords?: boolean };
  /** A seeded-bug variant of the reference device (see `vmcts mutants`). */
  mutant?: string;
  /** How long the PCI models wait after a doorbell or register write before they act, in ms (default 0). */
  latencyMs?: number;
  /** A broken-PCI variant of the models (a looping capability list, a used ring naming ids never sent, ...), to see what the driver makes of it. */
  pciMutant?: string;
}

/** Linux VFIO on a bare-metal host: the owner PF and its VFs, named by PCI address. */
export interface VfioTransportConfig {
  kind: 'vfio';
  /** PCI address of the owner PF, e.g. "0000:3b:00.0". Only named addresses are ever touched. */
  pf: string;
  /** PCI addresses of the member VFs to use as guests (default: none, owner-side tests only). */
  vfs?: string[];
  /** Allow taking a device away from the kernel driver currently bound to it. */
  allowUnbind?: boolean;
  /** VFs to create (default: as many as `vfs` names, else 2). */
  numVfs?: number;
  /** IOMMU interface: the container/group flow, iommufd with device cdevs, or auto (default). */
  iommu?: 'auto' | 'group' | 'iommufd';
  /** The VF token (UUID) the run sets on the PF; default a random one per run. */
  vfToken?: string;
  /** Device ids accepted besides the modern virtio range 1af4:1040-107f. */
  ids?: { vendor: number; device: number }[];
  /** Vendor commands that make the card change a member's configuration or raise a wake event (sh -c; VMCTS_PF, VMCTS_VF, VMCTS_MEMBER set). */
  hooks?: { configChange?: string; wake?: string; timeoutMs?: number };
  /** How long the card may take (DeviceTiming, ms). */
  timing?: { completionMs?: number; quietMs?: number; resetMs?: number };
  /** CI without hardware: the in-memory fake host with a card of the reference device's PCI models (`--fake-host`). */
  fakeHost?: boolean | { devices?: SimulatorMemberConfig[]; commandSets?: { fieldsQuery?: boolean; writeRecords?: boolean }; mutant?: string; latencyMs?: number };
}

/** A software device model behind a vfio-user socket. */
export interface VfioUserTransportConfig {
  kind: 'vfio-user';
  /** Path of the owner's vfio-user socket. */
  socket: string;
  /** Sockets of member functions, by member id. */
  members?: Record<string, string>;
}

export type TransportConfig = SimulatorTransportConfig | SimulatorPciTransportConfig | VfioTransportConfig | VfioUserTransportConfig;

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
