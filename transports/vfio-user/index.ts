import { ConfigError } from '../../protocol/errors.ts';
import { defineTransport } from '../registration.ts';

function notAvailable(): never {
  throw new ConfigError('transport.kind: "vfio-user" is not available in this version of vmcts; use "simulator"');
}

/** A software device model behind a vfio-user socket. */
export interface VfioUserTransportConfig {
  kind: 'vfio-user';
  /** Path of the owner's vfio-user socket. */
  socket: string;
  /** Sockets of member functions, by member id. */
  members?: Record<string, string>;
}

export const VFIO_USER = defineTransport<VfioUserTransportConfig>({
  kind: 'vfio-user',
  description: 'a software device model behind a vfio-user socket',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['kind', 'socket'],
    properties: {
      kind: { const: 'vfio-user' },
      socket: { type: 'string', minLength: 1 },
      members: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
    },
  },
  validate: async () => notAvailable(),
  open: async () => notAvailable(),
});
