/**
 * The errata and readings the catalog and the profiles refer to, by id.
 *
 * - `E1`..`E37`: inconsistencies and gaps of the seed series, numbered as in
 *   ../shared/reference/seed-errata.md (the reading each profile takes is in spec/profiles/).
 * - `B1`..`B6`: slips of the virtio 1.3 base text the seed builds on (same document, "Inherited").
 * - `P1`..`P6`: the precedence principles of that document, cited where a rule rests on one.
 * - `S1`, `S2`: readings this suite defines where the seed and its errata are silent.
 *
 * Titles are our own summaries. `cosmetic` marks an erratum that changes no behaviour and no byte.
 */
export type ErratumKind = 'seed' | 'base' | 'principle' | 'suite';

export interface Erratum {
  readonly id: string;
  readonly kind: ErratumKind;
  readonly title: string;
  readonly cosmetic: boolean;
}

const e = (id: string, title: string, cosmetic = false): Erratum => ({ id, kind: 'seed', title, cosmetic });

export const ERRATA: readonly Erratum[] = Object.freeze([
  e('E1', 'Write-record opcodes: the paragraph text numbers them 0xd..0x10, the opcode table 0xf..0x12'),
  e('E2', 'Opcode 0xd is given both to context DISCARD and (in paragraph text) to write-record CAP_QUERY'),
  e('E3', 'Opcode 0xe is left neither assigned nor listed as reserved by the patch 7 table'),
  e('E4', 'The theory command list never names the write-record capabilities query command', true),
  e('E5', 'The all-or-none requirement names DEV_READ and DEV_WRITE, which do not exist (meant: DEV_CTX_READ/WRITE)'),
  e('E6', 'The all-or-none context command group leaves out DEV_CTX_FIELDS_QUERY'),
  e('E7', 'DEV_CTX_WRITE data is said to use the legacy common-config write struct instead of its own raw data struct'),
  e('E8', 'WRITE_RECORDS_READ: both the record count and the addresses are said to be in command_specific_result'),
  e('E9', 'Device context struct names reused or undefined (features struct, device-owned descriptors value)'),
  e('E10', 'Context type ranges in the prose (0x1000..0x1FFFF) contradict the table and the 16-bit type field'),
  e('E11', 'Device context stream: alignment of the TLVs and whether field_count leads each chunk or the stream'),
  e('E12', 'PCI common configuration context: struct version, per-queue fields and length left open'),
  e('E13', 'struct virtio_dev_ctx_pci_vq_cfg puts a le64 at an unaligned offset (30 bytes packed, 32 with padding)'),
  e('E14', 'Split runtime context value is 5 bytes with no used index; packed virtqueues have no context type'),
  e('E15', 'No mode transition graph; "partially read" and "partially written" undefined'),
  e('E16', 'When a new device context exists after the previous one was fully read'),
  e('E17', 'DISCARD requirement pairs READ with the size and SIZE_GET with the context ("respectively" swapped)'),
  e('E18', 'SIZE_GET freeze_mode values other than 0 and 1 undefined; the size is only an estimate'),
  e('E19', 'DEV_CTX_READ: what "requested" means and how the end of the stream is recognised'),
  e('E20', 'DEV_CTX_WRITE text speaks of "one command result" where the command data is meant'),
  e('E21', 'Field length mismatch on DEV_CTX_WRITE: which error, and at the WRITE or at the mode change'),
  e('E22', '"The VF device MUST respond" during FLR, reset or PM transitions; effect of FLR on the mode unstated'),
  e('E23', '"The driver" in two SR-IOV driver rules means whoever accesses the member, not the owner driver'),
  e('E24', 'A device rule says "Active state" for "Active mode"', true),
  e('E25', 'Page-size bitmap example: bit 31 is 8 TiB under the doubling rule, not 4 TB'),
  e('E26', 'supported_ranges has no stated use; read as the most entries one START may carry'),
  e('E27', 'START: page_size encoding, page_address alignment, repeated START and count 0 left open'),
  e('E28', 'WRITE_RECORDS_READ: length in bytes while START counts pages; record granularity loosely worded'),
  e('E29', 'Whether write records not yet read survive WRITE_RECORDS_STOP'),
  e('E30', 'Typos in the write-record driver rules ("MUST be supply", "wrie")', true),
  e('E31', 'Write-record headings and struct names spelled inconsistently', true),
  e('E32', 'command_specific_output of commands that do not use it is not restated as zero'),
  e('E33', 'Keywords in non-normative text (context extensions) and lower-case "must" in theory text'),
  e('E34', 'No rule for unknown or missing field types in a written context'),
  e('E35', 'Stop mode both "accepts driver notifications" and "does not access driver memory"'),
  e('E36', 'Which address space write records and START ranges use; writes made while entering Stop'),
  e('E37', 'FIELDS_QUERY reports a length per type, but the table has no lengths and some types vary in size'),
  { id: 'B1', kind: 'base', title: 'LIST_USE failure is named with a status that does not exist (means EINVAL + Q_INVALID_FIELD)', cosmetic: false },
  { id: 'B2', kind: 'base', title: 'The command list size formula is one word short when the largest opcode is a multiple of 64', cosmetic: false },
  { id: 'B3', kind: 'base', title: 'A driver rule says "the device MUST supply" buffers (means the driver)', cosmetic: false },
  { id: 'B4', kind: 'base', title: 'The SR-IOV member id range rule for the driver lacks its keyword', cosmetic: false },
  { id: 'B5', kind: 'base', title: 'Legacy device-config read text names the common-config read struct', cosmetic: true },
  { id: 'B6', kind: 'base', title: 'The qualifier table labels its value column "Status"', cosmetic: true },
  { id: 'P1', kind: 'principle', title: 'The series end state (after patch 8) wins over earlier patches', cosmetic: false },
  { id: 'P2', kind: 'principle', title: 'Tables and struct listings win over prose on numbers and layouts', cosmetic: false },
  { id: 'P3', kind: 'principle', title: 'Normative blocks win over theory-of-operation text on behaviour', cosmetic: false },
  { id: 'P4', kind: 'principle', title: 'Where the seed is silent, the virtio 1.3 base rules apply', cosmetic: false },
  { id: 'P5', kind: 'principle', title: '"Fails" means status != OK; EINVAL with Q_INVALID_FIELD or Q_INVALID_COMMAND is preferred, other codes warn', cosmetic: false },
  { id: 'P6', kind: 'principle', title: 'Every reading is a profile setting printed in every report', cosmetic: false },
  { id: 'S1', kind: 'suite', title: 'DEV_CTX_WRITE data is padded to a multiple of 8 bytes; the device ignores up to 7 trailing zero bytes', cosmetic: false },
  { id: 'S2', kind: 'suite', title: 'VIRTIO_DEV_CTX_DEV_FEATURES carries the features negotiated with the member driver', cosmetic: false },
]);

const BY_ID = new Map(ERRATA.map((x) => [x.id, x]));

export function erratumById(id: string): Erratum | undefined {
  return BY_ID.get(id);
}

export function isErratumId(id: string): boolean {
  return BY_ID.has(id);
}

/** The seed errata E1..E37 that every profile must account for. */
export const SEED_ERRATA_IDS: readonly string[] = Object.freeze(ERRATA.filter((x) => x.kind === 'seed').map((x) => x.id));
