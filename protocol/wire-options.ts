import type { ProfileSettings } from '../spec/profile-settings.ts';
import { opcodeTable, type OpcodeTable } from './opcodes.ts';

/** The part of a spec profile that changes bytes on the wire; every codec that depends on a reading takes it. */
export interface WireOptions {
  readonly opcodes: OpcodeTable;
  readonly ctxWriteData: ProfileSettings['ctxWriteData'];
  readonly writeRecordsCount: ProfileSettings['writeRecordsCount'];
  readonly ctxStreamAlignment: ProfileSettings['ctxStreamAlignment'];
  readonly pciVqCfgLayout: ProfileSettings['pciVqCfgLayout'];
  readonly pciCommonCfgLength: number;
}

export type WireSettings = Pick<
  ProfileSettings,
  'opcodeNumbering' | 'ctxWriteData' | 'writeRecordsCount' | 'ctxStreamAlignment' | 'pciVqCfgLayout' | 'pciCommonCfgLength'
>;

export function wireOptions(s: WireSettings): WireOptions {
  return Object.freeze({
    opcodes: opcodeTable(s.opcodeNumbering),
    ctxWriteData: s.ctxWriteData,
    writeRecordsCount: s.writeRecordsCount,
    ctxStreamAlignment: s.ctxStreamAlignment,
    pciVqCfgLayout: s.pciVqCfgLayout,
    pciCommonCfgLength: s.pciCommonCfgLength,
  });
}

/** The seed-v2 readings (seed-errata.md defaults), for code and tests that need no profile file. */
export const SEED_V2_WIRE: WireOptions = wireOptions({
  opcodeNumbering: 'table',
  ctxWriteData: 'raw',
  writeRecordsCount: 'command_specific_output',
  ctxStreamAlignment: 'packed',
  pciVqCfgLayout: 'packed',
  pciCommonCfgLength: 64,
});
