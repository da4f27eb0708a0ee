/**
 * The driver rules (catalog entries with testability suite-obligation) the monitor checks, by the
 * name the monitor code uses. Every id here is a catalog id; test/driver-rules checks that.
 */
export const Rule = {
  /** GR2: no command before a LIST_USE completed with OK (LIST_QUERY and LIST_USE excepted). */
  LIST_USE_FIRST: 'admin.gr2-list-use-before-commands',
  /** GR3: no LIST_USE while another command is outstanding. */
  LIST_USE_IDLE: 'admin.gr3-no-list-use-while-busy',
  /** GR4: LIST_USE carries only opcodes the suite knows (the profile's opcode table). */
  LIST_USE_KNOWN: 'admin.gr4-no-unknown-opcode-bits',
  /** GR5: LIST_USE asks only for opcodes LIST_QUERY reported for that group type. */
  LIST_USE_SUPPORTED: 'admin.gr5-use-only-supported',
  /** GR6: a command only after a LIST_USE for its group type whose list holds its opcode. */
  IN_USE_ONLY: 'admin.gr6-no-command-before-list-use',
  /** GR10: SR-IOV group_member_id in 1..NumVFs. */
  MEMBER_IN_RANGE: 'admin.gr10-member-id-in-range',
  /** GR10: VF Enable set and VF Migration clear while an SR-IOV group command is outstanding. */
  VF_ENABLE: 'admin.gr10-vf-enable-while-outstanding',
  /** VR2: the readable part covers the command's structure. */
  READABLE_COVERS: 'avq.vr2-readable-covers-structure',
  /** VR3: readable and writable parts are multiples of 8 bytes. */
  PARTS_ALIGNED: 'avq.vr3-parts-multiple-of-8',
  /** VR4: readable and writable parts are not empty. */
  PARTS_NON_EMPTY: 'avq.vr4-parts-non-empty',
  /** SR1 (SHOULD): a context read goes on until the stream ends, or ends with a DISCARD. */
  READ_COMPLETE: 'driver.read-complete-context',
  /** SR2: a context write sends the whole stream, or ends with a DISCARD. */
  WRITE_COMPLETE: 'driver.write-complete-context',
  /** SR3: no MODE_SET to Stop or Active while a context write is partial. */
  NO_LEAVE_PARTIAL: 'driver.no-leave-freeze-with-partial-write',
  /** SR4 (SHOULD NOT): no device configuration access while the member is in Stop or Freeze. */
  NO_CONFIG_STOP_FREEZE: 'driver.member-no-config-access-in-stop-freeze',
  /** SR5: no write to the VIRTIO_PCI_CAP_PCI_CFG capability area while the member is in Freeze. */
  NO_PCI_CFG_WRITE_FREEZE: 'driver.member-no-pci-cfg-write-in-freeze',
  /** SR6: START entries do not overlap. */
  START_NO_OVERLAP: 'driver.start-no-overlapping-ranges',
  /** SR6: START entries are unique. */
  START_UNIQUE: 'driver.start-ranges-unique',
  /** SR7: recording a test started is stopped with WRITE_RECORDS_STOP before the test ends. */
  STOP_RECORDING: 'driver.stop-recording-it-started',
  /** MODE_SET mode is Active, Stop or Freeze. */
  MODE_VALID: 'driver.mode-set-valid-value',
  /** SIZE_GET freeze_mode is 0 or 1. */
  FREEZE_MODE_VALID: 'driver.size-get-freeze-mode-0-or-1',
  /** MODE_SET Freeze only once the member port is quiet. */
  FREEZE_AFTER_QUIET: 'driver.freeze-only-after-member-stops',
  /** No virtio access (common, device cfg, notify, ISR, PCI_CFG window) while the member is in Freeze. */
  NO_VIRTIO_FREEZE: 'driver.member-no-virtio-access-in-freeze',
  /** Context write chunks are multiples of 8 bytes; only the final one is padded. */
  WRITE_CHUNKS: 'driver.ctx-write-chunks-padded',
  /** RECORDS_READ length is a non-zero multiple of the started page size. */
  RECORDS_READ_LENGTH: 'driver.records-read-length-page-multiple',
  /** RECORDS_READ range lies inside a started range. */
  RECORDS_READ_RANGE: 'driver.records-read-range-inside-started',
  /** Every started range drained (a READ returned fewer records than fit) before STOP. */
  DRAIN_BEFORE_STOP: 'driver.drain-records-before-stop',
} as const;

export type RuleId = (typeof Rule)[keyof typeof Rule];

/** Checked on every admin command. */
export const ADMIN_RULES: readonly RuleId[] = [
  Rule.LIST_USE_FIRST,
  Rule.LIST_USE_IDLE,
  Rule.LIST_USE_KNOWN,
  Rule.LIST_USE_SUPPORTED,
  Rule.IN_USE_ONLY,
  Rule.MEMBER_IN_RANGE,
  Rule.READABLE_COVERS,
  Rule.PARTS_ALIGNED,
  Rule.PARTS_NON_EMPTY,
  Rule.NO_LEAVE_PARTIAL,
  Rule.START_NO_OVERLAP,
  Rule.START_UNIQUE,
  Rule.MODE_VALID,
  Rule.FREEZE_MODE_VALID,
  Rule.WRITE_CHUNKS,
  Rule.RECORDS_READ_LENGTH,
  Rule.RECORDS_READ_RANGE,
  Rule.DRAIN_BEFORE_STOP,
];

/** Checked only when the transport reaches the owner's SR-IOV capability. */
export const OWNER_RULES: readonly RuleId[] = [Rule.VF_ENABLE];

/** Checked on every member port access (only with a member port). */
export const MEMBER_RULES: readonly RuleId[] = [Rule.NO_CONFIG_STOP_FREEZE, Rule.NO_PCI_CFG_WRITE_FREEZE, Rule.NO_VIRTIO_FREEZE, Rule.FREEZE_AFTER_QUIET];

/**
 * Obligations that can only be judged when a test ends (what it left started or half done): checked
 * only when the harness tells endTest that the test body ran to its end (a body that failed half-way
 * leaves its cleanup to the next baseline, which is not a breach).
 */
export const END_OF_TEST_RULES: readonly RuleId[] = [Rule.READ_COMPLETE, Rule.WRITE_COMPLETE, Rule.STOP_RECORDING];

/**
 * The optional command set a rule is about (its catalog condition): a device that offers none of the
 * set's opcodes gives the harness nothing to obey, so the rule is not claimed as enforced there.
 */
export const RULE_COMMAND_SET: Partial<Record<RuleId, 'context' | 'write-record'>> = {
  [Rule.READ_COMPLETE]: 'context',
  [Rule.WRITE_COMPLETE]: 'context',
  [Rule.NO_LEAVE_PARTIAL]: 'context',
  [Rule.NO_CONFIG_STOP_FREEZE]: 'context',
  [Rule.NO_PCI_CFG_WRITE_FREEZE]: 'context',
  [Rule.MODE_VALID]: 'context',
  [Rule.FREEZE_MODE_VALID]: 'context',
  [Rule.FREEZE_AFTER_QUIET]: 'context',
  [Rule.NO_VIRTIO_FREEZE]: 'context',
  [Rule.WRITE_CHUNKS]: 'context',
  [Rule.START_NO_OVERLAP]: 'write-record',
  [Rule.START_UNIQUE]: 'write-record',
  [Rule.STOP_RECORDING]: 'write-record',
  [Rule.RECORDS_READ_LENGTH]: 'write-record',
  [Rule.RECORDS_READ_RANGE]: 'write-record',
  [Rule.DRAIN_BEFORE_STOP]: 'write-record',
};
