/**
 * The `simulator-pci` transport: the reference device behind the register-level PCI models of
 * device/pci (the in-process HostBinding of this folder), driven by the userspace virtio-pci driver.
 * Admin commands travel as descriptor chains on the PF's admin virtqueue in DMA memory; member ports
 * reach the VFs through their BARs and configuration space, as on a card. The device is the one the
 * simulator's options describe (members, command sets, named changes such as a mutant), plus the
 * PCI-only options below.
 */
import type { AdminTransport } from '../../protocol/admin-transport.ts';
import { ConfigError } from '../../protocol/errors.ts';
import { defineTransport, type TransportContext } from '../registration.ts';
import { SIMULATOR_CONFIG_SCHEMA, type SimulatorTransportConfig } from '../simulator/config.ts';
import { requestedChanges } from '../simulator/index.ts';

export type SimulatorPciTransportConfig = Omit<SimulatorTransportConfig, 'kind'> & {
  kind: 'simulator-pci';
  /** How long the PCI models wait before acting on a doorbell or a reset, in ms (default 0: the next turn of the event loop). */
  latencyMs?: number;
  /** Broken PCI plumbing (device/pci mutants), to see what the driver makes of it. */
  pciMutant?: string;
};

const SIMULATOR_PROPERTIES = SIMULATOR_CONFIG_SCHEMA.properties as Record<string, unknown>;

/**
 * How long a member's FLR, virtio reset and power-state change take here. A command crosses the admin
 * virtqueue in several turns of the event loop (posted doorbell, ring walk, used ring, interrupt), so an
 * operation over at the next turn (the simulator's 0) would end before a command sent during it reaches
 * the device, and the long-operation tests could not show the device answering during it. Real
 * functions take longer still (an FLR up to 100 ms); the declared timing grows with these.
 */
const MEMBER_TIMINGS = { flrMs: 10, resetMs: 10, pmMs: 10, requestMs: 0 };

export const SIMULATOR_PCI = defineTransport<SimulatorPciTransportConfig>({
  kind: 'simulator-pci',
  description: 'the reference device as register-level PCI functions in this process, driven by the virtio-pci driver over a real admin virtqueue',
  configSchema: {
    ...SIMULATOR_CONFIG_SCHEMA,
    properties: {
      ...SIMULATOR_PROPERTIES,
      kind: { const: 'simulator-pci' },
      latencyMs: { type: 'integer', minimum: 0, maximum: 10000 },
      pciMutant: { type: 'string', minLength: 1 },
    },
  },
  async validate(config) {
    await requestedChanges(config);
    await checkPciMutant(config);
  },
  open: openSimulatorPci,
});

async function checkPciMutant(config: SimulatorPciTransportConfig): Promise<void> {
  if (config.pciMutant === undefined) return;
  const { findPciMutant, PCI_MUTANTS } = await import('./index.ts');
  if (!findPciMutant(config.pciMutant)) {
    throw new ConfigError(`transport.pciMutant: "${config.pciMutant}" is not a known PCI mutant (known: ${PCI_MUTANTS.map((m) => m.name).join(', ')})`);
  }
}

/** The device the config describes, behind the in-process binding, driven by the virtio-pci driver. */
export async function openSimulatorPci(config: SimulatorPciTransportConfig, context: TransportContext): Promise<AdminTransport> {
  const changes = await requestedChanges(config);
  await checkPciMutant(config);
  const [{ openSimulatorPciBinding }, { VirtioPciTransport }] = await Promise.all([import('./index.ts'), import('../virtio-pci/index.ts')]);
  const binding = await openSimulatorPciBinding({
    ...(config.devices ? { members: config.devices.map((d) => ({ type: d.type, numQueues: d.numQueues, queueSizeMax: d.queueSizeMax })) } : {}),
    commandSets: { context: true, fieldsQuery: config.commandSets?.fieldsQuery ?? true, writeRecords: config.commandSets?.writeRecords ?? true },
    device: { wire: context.wire, seed: context.seed, timings: MEMBER_TIMINGS },
    changes,
    ...(config.pciMutant !== undefined ? { pciMutant: config.pciMutant } : {}),
    latencyMs: config.latencyMs ?? 0,
  });
  return VirtioPciTransport.open(binding, { wire: context.wire, defaultTimeoutMs: context.commandMs });
}
