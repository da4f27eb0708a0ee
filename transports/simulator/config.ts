import { DEVICE_CHANGES, type DeviceChangeOption } from './device-changes.ts';

export interface SimulatorMemberConfig {
  type: 'block' | 'entropy';
  /** Request queues of a block member (default 1). */
  numQueues?: number;
  /** Largest queue size offered (default 256). */
  queueSizeMax?: number;
}

/** The built-in simulator: the reference device in this process (the default). */
export type SimulatorTransportConfig = {
  kind: 'simulator';
  /** The reference device's members (default: two block members). */
  devices?: SimulatorMemberConfig[];
  /** Optional command sets the simulated device offers (default: all). */
  commandSets?: { fieldsQuery?: boolean; writeRecords?: boolean };
} & {
  /** A named change to the reference device (`mutant`: a seeded bug, see `vmcts mutants`). */
  [K in DeviceChangeOption]?: string;
};

const QUEUE_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768];

export const SIMULATOR_CONFIG_SCHEMA: Record<string, unknown> = {
  type: 'object',
  additionalProperties: false,
  required: ['kind'],
  properties: {
    kind: { const: 'simulator' },
    devices: {
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
          queueSizeMax: { enum: QUEUE_SIZES },
        },
      },
    },
    commandSets: {
      type: 'object',
      additionalProperties: false,
      properties: { fieldsQuery: { type: 'boolean' }, writeRecords: { type: 'boolean' } },
    },
    ...Object.fromEntries(Object.keys(DEVICE_CHANGES).map((k) => [k, { type: 'string', minLength: 1 }])),
  },
};
