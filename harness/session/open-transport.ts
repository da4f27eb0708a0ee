import type { AdminTransport } from '../../protocol/admin-transport.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import { SimulatorTransport } from '../../transports/simulator/simulator-transport.ts';
import { openSimulatorPciTransport } from '../../transports/simulator-pci/transport.ts';
import type { ReferenceDeviceOptions } from '../../device/options.ts';
import { findMutant } from '../../device/mutants/index.ts';
import { ReferenceDevice } from '../../device/reference-device.ts';
import type { TransportConfig } from '../config/define-config.ts';
import { ConfigError } from '../errors.ts';

export type SimulatorTransportDeviceFactory = NonNullable<ConstructorParameters<typeof SimulatorTransport>[0]>['createDevice'];

/** A reference device with a seeded bug (device/mutants), by name. */
function mutantDevice(name: string): SimulatorTransportDeviceFactory | undefined {
  const m = findMutant(name);
  if (!m) return undefined;
  return (opts, wiring) => {
    const d = new ReferenceDevice(opts, wiring);
    m.apply(d);
    return d;
  };
}

/** Opens the transport a config names. Only addresses the config names are ever touched. */
export async function openTransport(cfg: TransportConfig, wire: WireOptions, commandMs: number, seed: number): Promise<AdminTransport> {
  switch (cfg.kind) {
    case 'simulator': {
      const device: Partial<ReferenceDeviceOptions> = {
        wire,
        seed,
        ...(cfg.devices ? { members: cfg.devices.map((d) => ({ type: d.type, numQueues: d.numQueues, queueSizeMax: d.queueSizeMax })) } : {}),
        commandSets: { context: true, fieldsQuery: cfg.commandSets?.fieldsQuery ?? true, writeRecords: cfg.commandSets?.writeRecords ?? true },
      };
      let createDevice: SimulatorTransportDeviceFactory;
      if (cfg.mutant) {
        createDevice = mutantDevice(cfg.mutant);
        if (!createDevice) throw new ConfigError(`transport.mutant: "${cfg.mutant}" is not a known mutant (see \`vmcts mutants\`)`);
      }
      return new SimulatorTransport({ device, createDevice, defaultTimeoutMs: commandMs });
    }
    // Minimal registration until the transport registry (transports/index.ts, branch core) lands.
    case 'simulator-pci':
      if (cfg.mutant && !findMutant(cfg.mutant)) throw new ConfigError(`transport.mutant: "${cfg.mutant}" is not a known mutant (see \`vmcts mutants\`)`);
      return openSimulatorPciTransport({ ...cfg, wire, seed, commandMs });
    case 'vfio': {
      // Minimal registration until the transport registry lands; host preparation runs in the CLI.
      const { openVfioTransport } = await import('../../transports/vfio/transport.ts');
      const fake = typeof cfg.fakeHost === 'object' ? cfg.fakeHost : cfg.fakeHost ? {} : undefined;
      if (fake?.mutant && !findMutant(fake.mutant)) throw new ConfigError(`transport.fakeHost.mutant: "${fake.mutant}" is not a known mutant (see \`vmcts mutants\`)`);
      const { fakeHost, ...rest } = cfg;
      return openVfioTransport({ ...rest, ...(fake ? { fakeHost: { ...fake, ...(fake.devices ? { members: fake.devices } : {}) } } : {}) }, { wire, seed, commandMs });
    }
    case 'vfio-user':
      throw new ConfigError(`transport.kind: "vfio-user" is not available in this version of vmcts; use "simulator"`);
  }
}
