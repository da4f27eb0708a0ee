/**
 * The transport registry: every transport the config can name. Registering one is a file
 * transports/<kind>/index.ts exporting a TransportRegistration (see registration.ts) and one line in
 * TRANSPORTS below; the config schema's `transport` section and the TransportConfig type follow.
 */
import type { AdminTransport } from '../protocol/admin-transport.ts';
import { ConfigError } from '../protocol/errors.ts';
import type { ConfigOf, TransportContext, TransportRegistration } from './registration.ts';
import { SIMULATOR } from './simulator/index.ts';
import { SIMULATOR_PCI } from './simulator-pci/transport.ts';
import { VFIO } from './vfio/index.ts';
import { VFIO_USER } from './vfio-user/index.ts';

export const TRANSPORTS = [SIMULATOR, SIMULATOR_PCI, VFIO, VFIO_USER] as const;

/** The `transport` section of a config: one of the registered kinds with its options. */
export type TransportConfig = ConfigOf<(typeof TRANSPORTS)[number]>;

export function transportKinds(): string[] {
  return TRANSPORTS.map((t) => t.kind);
}

export function findTransport(kind: string): TransportRegistration<TransportConfig> | undefined {
  return TRANSPORTS.find((t) => t.kind === kind) as TransportRegistration<TransportConfig> | undefined;
}

/** JSON Schema of the config's `transport` section: `kind` one of the registered kinds, then that kind's own schema. */
export function transportConfigSchema(): Record<string, unknown> {
  return {
    type: 'object',
    required: ['kind'],
    properties: { kind: { enum: transportKinds() } },
    allOf: TRANSPORTS.map((t) => ({ if: { properties: { kind: { const: t.kind } } }, then: t.configSchema })),
  };
}

/** Opens the transport a config names (only addresses the config names are ever touched). */
export async function openTransport(config: TransportConfig, context: TransportContext): Promise<AdminTransport> {
  const t = findTransport(config.kind);
  if (!t) throw new ConfigError(`transport.kind: "${config.kind}" is not a registered transport (${transportKinds().join(', ')})`);
  return t.open(config, context);
}

export type { HostChange, TransportContext, TransportRegistration } from './registration.ts';
