import type { ReferenceDeviceOptions } from '../../device/options.ts';
import type { ReferenceDevice } from '../../device/reference-device.ts';

/** A named change to the reference device: its options before it is built, or the built device itself. */
export interface DeviceChange {
  name: string;
  options?(o: Partial<ReferenceDeviceOptions>): Partial<ReferenceDeviceOptions>;
  apply?(device: ReferenceDevice): void;
}

interface DeviceChangeSource {
  /** Loaded on use: the CLI validates a config without loading the device model. */
  load(): Promise<(name: string) => DeviceChange | undefined>;
  /** The command that lists the names. */
  list: string;
}

/**
 * Named changes a simulator config can ask for, one option each (transport.<option>: "<name>"). The
 * config schema and type take their keys from here; a new kind (legal variants) is one more line.
 */
export const DEVICE_CHANGES = {
  /** A seeded bug (device/mutants). */
  mutant: { load: async () => (await import('../../device/mutants/index.ts')).findMutant, list: 'vmcts mutants' },
} satisfies Record<string, DeviceChangeSource>;

export type DeviceChangeOption = keyof typeof DEVICE_CHANGES;
