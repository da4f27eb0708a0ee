/**
 * The readings a spec profile takes of the draft's inconsistencies (../shared/reference/seed-errata.md).
 * Each setting is named after what it decides; the errata id it settles is in the profile data
 * (spec/profiles/*.json), together with the reading in words, so every report can print both.
 *
 * Wire-affecting settings are read by the codecs (through protocol/wire-options.ts), the reference
 * device and the harness; verdict-affecting settings are read by the suites.
 */
export interface ProfileSettings {
  /** E1/E2/E3: opcodes of the write-record commands: the admin.tex table (0xf..0x12) or the paragraph text (0xd..0x10). */
  opcodeNumbering: 'table' | 'text';
  /** E6: whether DEV_CTX_FIELDS_QUERY (0xc) is part of the all-or-none mode/context command group. */
  fieldsQueryInContextGroup: boolean;
  /** E7: DEV_CTX_WRITE data: raw context stream bytes, or prefixed by the legacy 8-byte offset header. */
  ctxWriteData: 'raw' | 'legacy-offset-header';
  /** E8: where WRITE_RECORDS_READ puts its le32 record count. */
  writeRecordsCount: 'command_specific_output' | 'command_specific_result';
  /** E11: device context stream layout: first TLV at 4 with no padding, or first TLV at 8 and each TLV padded to 8. */
  ctxStreamAlignment: 'packed' | 'natural';
  /** E13: struct virtio_dev_ctx_pci_vq_cfg: 30 bytes packed, or 32 bytes with C padding. Parsers accept both by length. */
  pciVqCfgLayout: 'packed' | 'natural';
  /** E12: length of the VIRTIO_DEV_CTX_PCI_COMMON_CFG value a writer emits; readers accept any length. */
  pciCommonCfgLength: number;
  /** E15: which mode transitions the device must accept when no partial read or write is pending. */
  modeTransitions: 'any';
  /** E16: after a stream end, READ and SIZE_GET return zero until the next mode change (asserted only in Freeze). */
  contextAfterStreamEnd: 'zero-until-mode-change';
  /** E18: SIZE_GET freeze_mode values above 1 must fail. */
  sizeGetFreezeModeAbove1: 'fail';
  /** E19: a READ ends the stream when context_len is 0 or less than the bytes asked for. */
  readEndOfStream: 'zero-or-short';
  /** E21: a field-length mismatch may be reported at the WRITE or at the mode change that applies it. */
  fieldLengthMismatchAt: 'write-or-mode-change' | 'write';
  /** E22: commands during member FLR/reset/PM complete after it; FLR keeps the mode (checked as a finding). */
  modeAfterMemberReset: 'unchanged';
  /** E25: bit n of supported_page_size_bitmap means 4096 << n bytes. */
  pageSizeBit: '4096-shl-n';
  /** E26: supported_ranges is the most entries one WRITE_RECORDS_START may carry. */
  supportedRanges: 'max-entries-per-start';
  /** E27: START page_size must be an advertised size, and page_address aligned to it. */
  startValidation: 'advertised-size-and-aligned';
  /** E28: WRITE_RECORDS_READ length is in bytes, a multiple of the started page size, inside a started range. */
  recordsReadLength: 'bytes-within-started-range';
  /** E29: WRITE_RECORDS_READ after STOP fails; the driver drains before STOP. */
  recordsReadAfterStop: 'fail';
  /** E32: command_specific_output of commands that do not use it reads zero; unmet = WARN. */
  unusedOutputZero: 'warn' | 'fail' | 'off';
  /** P5: when the draft only says "fails", a status other than EINVAL + Q_INVALID_FIELD/INVALID_COMMAND is a WARN or a FAIL. */
  failureQualifierMismatch: 'warn' | 'fail';
}

export type ProfileSettingName = keyof ProfileSettings;
