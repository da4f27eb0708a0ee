import { ConfigError } from '../../protocol/errors.ts';
import { defineTransport } from '../registration.ts';

function notAvailable(): never {
  throw new ConfigError('transport.kind: "vfio" is not available in this version of vmcts; use "simulator"');
}

const BDF = '^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$';

/** Linux VFIO on a bare-metal host: the owner PF and its VFs, named by PCI address. */
export interface VfioTransportConfig {
  kind: 'vfio';
  /** PCI address of the owner PF, e.g. "0000:3b:00.0". Only named addresses are ever touched. */
  pf: string;
  /** PCI addresses of the member VFs to use as guests (default: none, owner-side tests only). */
  vfs?: string[];
  /** Allow taking a device away from the kernel driver currently bound to it. */
  allowUnbind?: boolean;
}

export const VFIO = defineTransport<VfioTransportConfig>({
  kind: 'vfio',
  description: 'a card on this host through Linux VFIO (owner PF and member VFs by PCI address)',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['kind', 'pf'],
    properties: {
      kind: { const: 'vfio' },
      pf: { type: 'string', pattern: BDF },
      vfs: { type: 'array', items: { type: 'string', pattern: BDF } },
      allowUnbind: { type: 'boolean' },
    },
  },
  validate: async () => notAvailable(),
  open: async () => notAvailable(),
});
