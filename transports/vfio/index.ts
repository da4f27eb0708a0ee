/**
 * The vfio transport's registration: its config section, host preparation in the CLI process (the
 * safety rules, the lock, the PF onto vfio-pci; recorded as one change the registry undoes however the
 * run ends), and `open` in the test worker (transport.ts). Nothing here loads koffi or the device
 * models: they are imported when a run uses this transport.
 */
import { ConfigError } from '../../protocol/errors.ts';
import { defineTransport } from '../registration.ts';

const BDF = '^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$';
const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/** Members of the fake host's card (as the simulator's `devices`). */
export interface FakeHostMemberConfig {
  type: 'block' | 'entropy';
  numQueues?: number;
  queueSizeMax?: number;
}

/** Linux VFIO on a bare-metal host: the owner PF and its VFs, named by PCI address. */
export interface VfioTransportConfig {
  kind: 'vfio';
  /** PCI address of the owner PF, e.g. "0000:3b:00.0". Only named addresses are ever touched. */
  pf: string;
  /** PCI addresses the PF's VFs must have, in member order (checked once they exist). */
  vfs?: string[];
  /** Allow taking a device away from the kernel driver currently bound to it while it is in use (never the root filesystem). */
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
  hooks?: { configChange?: string; wake?: string; holdRequests?: string; timeoutMs?: number };
  /** How long the card may take (DeviceTiming, ms). */
  timing?: { completionMs?: number; quietMs?: number; resetMs?: number };
  /** CI without hardware: the in-memory fake host with a card of the reference device's PCI models (`--fake-host`). */
  fakeHost?: boolean | { devices?: FakeHostMemberConfig[]; commandSets?: { fieldsQuery?: boolean; writeRecords?: boolean }; mutant?: string; latencyMs?: number };
}

const MEMBERS_SCHEMA = {
  type: 'array',
  minItems: 1,
  maxItems: 64,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['type'],
    properties: {
      type: { enum: ['block', 'entropy'] },
      numQueues: { type: 'integer', minimum: 1, maximum: 65535 },
      queueSizeMax: { enum: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768] },
    },
  },
};

export const VFIO = defineTransport<VfioTransportConfig>({
  kind: 'vfio',
  description: 'a card on this host through Linux VFIO (owner PF and member VFs by PCI address); --fake-host: the same code path against an in-memory host',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['kind', 'pf'],
    properties: {
      kind: { const: 'vfio' },
      pf: { type: 'string', pattern: BDF },
      vfs: { type: 'array', items: { type: 'string', pattern: BDF } },
      allowUnbind: { type: 'boolean' },
      numVfs: { type: 'integer', minimum: 1, maximum: 65535 },
      iommu: { enum: ['auto', 'group', 'iommufd'] },
      vfToken: { type: 'string', pattern: UUID },
      ids: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['vendor', 'device'],
          properties: { vendor: { type: 'integer', minimum: 0, maximum: 65535 }, device: { type: 'integer', minimum: 0, maximum: 65535 } },
        },
      },
      hooks: {
        type: 'object',
        additionalProperties: false,
        properties: { configChange: { type: 'string', minLength: 1 }, wake: { type: 'string', minLength: 1 }, holdRequests: { type: 'string', minLength: 1 }, timeoutMs: { type: 'integer', minimum: 1 } },
      },
      timing: {
        type: 'object',
        additionalProperties: false,
        properties: { completionMs: { type: 'integer', minimum: 1 }, quietMs: { type: 'integer', minimum: 1 }, resetMs: { type: 'integer', minimum: 1 } },
      },
      fakeHost: {
        oneOf: [
          { type: 'boolean' },
          {
            type: 'object',
            additionalProperties: false,
            properties: {
              devices: MEMBERS_SCHEMA,
              commandSets: { type: 'object', additionalProperties: false, properties: { fieldsQuery: { type: 'boolean' }, writeRecords: { type: 'boolean' } } },
              mutant: { type: 'string', minLength: 1 },
              latencyMs: { type: 'integer', minimum: 0, maximum: 10000 },
            },
          },
        ],
      },
    },
  },
  async validate(config) {
    const fake = typeof config.fakeHost === 'object' ? config.fakeHost : undefined;
    if (fake?.mutant) {
      const { findMutant } = await import('../../device/mutants/index.ts');
      if (!findMutant(fake.mutant)) throw new ConfigError(`transport.fakeHost.mutant: "${fake.mutant}" is not a known mutant (see \`vmcts mutants\`)`);
    }
  },
  async prepareHost(config, context) {
    const { prepareVfioHost } = await import('./transport.ts');
    const change = await prepareVfioHost(config, context.say);
    if (change) context.changed(change);
  },
  async open(config, context) {
    const fake = typeof config.fakeHost === 'object' ? config.fakeHost : config.fakeHost ? {} : undefined;
    const { openVfioTransport } = await import('./transport.ts');
    const { fakeHost: _f, ...rest } = config;
    return openVfioTransport({ ...rest, ...(fake ? { fakeHost: { ...(fake.devices ? { members: fake.devices } : {}), ...(fake.commandSets ? { commandSets: fake.commandSets } : {}), ...(fake.mutant ? { mutant: fake.mutant } : {}), ...(fake.latencyMs !== undefined ? { latencyMs: fake.latencyMs } : {}) } } : {}) }, context);
  },
});
