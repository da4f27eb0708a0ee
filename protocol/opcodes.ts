/**
 * Group administration command names of the 1.3 base and the seed draft. The numbers come from an
 * OpcodeTable, chosen by the active profile (seed-errata E1): the admin.tex table numbering or the
 * paragraph text numbering of the write-record commands.
 */
export const COMMANDS = [
  'LIST_QUERY',
  'LIST_USE',
  'DEV_MODE_GET',
  'DEV_MODE_SET',
  'DEV_CTX_SIZE_GET',
  'DEV_CTX_READ',
  'DEV_CTX_WRITE',
  'DEV_CTX_FIELDS_QUERY',
  'DEV_CTX_DISCARD',
  'DEV_WRITE_RECORD_CAP_QUERY',
  'DEV_WRITE_RECORDS_START',
  'DEV_WRITE_RECORDS_STOP',
  'DEV_WRITE_RECORDS_READ',
] as const;

export type CommandName = (typeof COMMANDS)[number];

export type OpcodeTable = Readonly<Record<CommandName, number>>;

const BASE = {
  LIST_QUERY: 0x0,
  LIST_USE: 0x1,
  DEV_MODE_GET: 0x7,
  DEV_MODE_SET: 0x8,
  DEV_CTX_SIZE_GET: 0x9,
  DEV_CTX_READ: 0xa,
  DEV_CTX_WRITE: 0xb,
  DEV_CTX_FIELDS_QUERY: 0xc,
  DEV_CTX_DISCARD: 0xd,
} as const;

/** The admin.tex opcode table of patch 7/8 (seed-v2 default). 0xe is unassigned (E3). */
export const TABLE_NUMBERING: OpcodeTable = Object.freeze({
  ...BASE,
  DEV_WRITE_RECORD_CAP_QUERY: 0xf,
  DEV_WRITE_RECORDS_START: 0x10,
  DEV_WRITE_RECORDS_STOP: 0x11,
  DEV_WRITE_RECORDS_READ: 0x12,
});

/** The paragraph text of patch 7/8. CAP_QUERY collides with DEV_CTX_DISCARD at 0xd (E2); DISCARD wins. */
export const TEXT_NUMBERING: OpcodeTable = Object.freeze({
  ...BASE,
  DEV_WRITE_RECORD_CAP_QUERY: 0xd,
  DEV_WRITE_RECORDS_START: 0xe,
  DEV_WRITE_RECORDS_STOP: 0xf,
  DEV_WRITE_RECORDS_READ: 0x10,
});

export function opcodeTable(numbering: 'table' | 'text'): OpcodeTable {
  return numbering === 'table' ? TABLE_NUMBERING : TEXT_NUMBERING;
}

/** The mode/context command group of the first patch 5/8 requirement (E5, E6). */
export const CONTEXT_GROUP: readonly CommandName[] = [
  'DEV_MODE_GET',
  'DEV_MODE_SET',
  'DEV_CTX_SIZE_GET',
  'DEV_CTX_READ',
  'DEV_CTX_WRITE',
  'DEV_CTX_DISCARD',
];

/** The write-record command group of patch 8/8. */
export const WRITE_RECORD_GROUP: readonly CommandName[] = [
  'DEV_WRITE_RECORD_CAP_QUERY',
  'DEV_WRITE_RECORDS_START',
  'DEV_WRITE_RECORDS_STOP',
  'DEV_WRITE_RECORDS_READ',
];

/** Reverse lookup; where two names share a number (text numbering 0xd) the earlier in COMMANDS wins. */
export function commandName(table: OpcodeTable, opcode: number): CommandName | undefined {
  for (const name of COMMANDS) if (table[name] === opcode) return name;
  return undefined;
}

/** Opcodes 0x8000..0xFFFF are reserved for commands with a different structure. */
export const FIRST_RESERVED_OPCODE = 0x8000;
