import type { WireOptions } from '../protocol/wire-options.ts';
import { SEED_V2_WIRE } from '../protocol/wire-options.ts';
import type { MemberTimings } from './member/virtio-member.ts';

export type MemberKind = 'block' | 'entropy';

export interface MemberSpec {
  type: MemberKind;
  /** Request queues (block only; entropy always has one). Default 1. */
  numQueues?: number;
  /** Largest queue size the device offers. Default 256. */
  queueSizeMax?: number;
}

export interface WriteRecordCaps {
  /** Bit n = 4096 << n bytes (E25). */
  pageSizeBitmap: number;
  /** Most entries one START may carry (E26). */
  supportedRanges: number;
}

/** Which optional command sets the reference device offers (a device may lack them; tests are then NOT_APPLICABLE). */
export interface CommandSets {
  context: boolean;
  fieldsQuery: boolean;
  writeRecords: boolean;
}

export interface ReferenceDeviceOptions {
  members: MemberSpec[];
  wire: WireOptions;
  commandSets: CommandSets;
  writeRecordCaps: WriteRecordCaps;
  timings: MemberTimings;
  /** Seeds the entropy members' generators. */
  seed: number;
  /** Sectors of the RAM disk shared by all block members. */
  diskSectors: number;
  serial: string;
  firmware: string;
}

export const DEFAULT_DEVICE_OPTIONS: ReferenceDeviceOptions = {
  members: [{ type: 'block' }, { type: 'block' }],
  wire: SEED_V2_WIRE,
  commandSets: { context: true, fieldsQuery: true, writeRecords: true },
  writeRecordCaps: { pageSizeBitmap: 0b1 | (1 << 9), supportedRanges: 16 },
  // 0: at the next turn of the event loop, so the default device never depends on the wall clock.
  timings: { flrMs: 0, resetMs: 0, pmMs: 0, requestMs: 0 },
  seed: 1,
  diskSectors: 8192,
  serial: 'VMCTS-REF-0001',
  firmware: 'vmcts-reference 1.0',
};

export function deviceOptions(o: Partial<ReferenceDeviceOptions> = {}): ReferenceDeviceOptions {
  return {
    ...DEFAULT_DEVICE_OPTIONS,
    ...o,
    commandSets: { ...DEFAULT_DEVICE_OPTIONS.commandSets, ...o.commandSets },
    writeRecordCaps: { ...DEFAULT_DEVICE_OPTIONS.writeRecordCaps, ...o.writeRecordCaps },
    timings: { ...DEFAULT_DEVICE_OPTIONS.timings, ...o.timings },
  };
}
