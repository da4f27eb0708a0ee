/**
 * The simulator's registration: its config, and `open`, which builds the reference device (with the
 * named changes the config asks for: seeded bugs, legal variants) behind the SimulatorTransport. The
 * device model is loaded on open, not when the registry is read.
 */
import type { AdminTransport } from '../../protocol/admin-transport.ts';
import type { ReferenceDeviceOptions } from '../../device/options.ts';
import type { Mutant } from '../../device/mutants/mutant.ts';
import { ConfigError } from '../../protocol/errors.ts';
import { defineTransport } from '../registration.ts';
import { SIMULATOR_CONFIG_SCHEMA, type SimulatorTransportConfig } from './config.ts';
import { DEVICE_CHANGES, type DeviceChange, type DeviceChangeOption } from './device-changes.ts';

export type { SimulatorMemberConfig, SimulatorTransportConfig } from './config.ts';
export type { Mutant };

/** The named device changes a config asks for, resolved; an unknown name is a ConfigError. simulator-pci shares them. */
export async function requestedChanges(config: Omit<SimulatorTransportConfig, 'kind'>): Promise<DeviceChange[]> {
  const out: DeviceChange[] = [];
  for (const option of Object.keys(DEVICE_CHANGES) as DeviceChangeOption[]) {
    const name = config[option];
    if (name === undefined) continue;
    const source = DEVICE_CHANGES[option];
    const change = (await source.load())(name);
    if (!change) throw new ConfigError(`transport.${option}: "${name}" is not a known ${option} (see \`${source.list}\`)`);
    out.push(change);
  }
  return out;
}

export const SIMULATOR = defineTransport<SimulatorTransportConfig>({
  kind: 'simulator',
  description: 'the reference device in this process (no PCI layer)',
  configSchema: SIMULATOR_CONFIG_SCHEMA,
  async validate(config) {
    await requestedChanges(config);
  },
  async open(config, context): Promise<AdminTransport> {
    let device: Partial<ReferenceDeviceOptions> = {
      wire: context.wire,
      seed: context.seed,
      ...(config.devices ? { members: config.devices.map((d) => ({ type: d.type, numQueues: d.numQueues, queueSizeMax: d.queueSizeMax })) } : {}),
      commandSets: { context: true, fieldsQuery: config.commandSets?.fieldsQuery ?? true, writeRecords: config.commandSets?.writeRecords ?? true },
    };
    const changes = await requestedChanges(config);
    for (const c of changes) if (c.options) device = c.options(device);
    const [{ SimulatorTransport }, { ReferenceDevice }] = await Promise.all([import('./simulator-transport.ts'), import('../../device/reference-device.ts')]);
    const patches = changes.filter((c) => c.apply);
    return new SimulatorTransport({
      device,
      defaultTimeoutMs: context.commandMs,
      ...(patches.length
        ? {
            createDevice: (o, wiring) => {
              const d = new ReferenceDevice(o, wiring);
              for (const c of patches) c.apply!(d);
              return d;
            },
          }
        : {}),
    });
  },
});

/** The seeded-bug variants of the reference device (`vmcts mutants`, the mutation matrix). */
export async function loadMutants(): Promise<readonly Mutant[]> {
  return (await import('../../device/mutants/index.ts')).MUTANTS;
}
