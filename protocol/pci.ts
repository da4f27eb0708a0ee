/** PCI / PCIe configuration-space facts a member port needs (PCIe spec as mirrored by Linux pci_regs.h). */
export const PciCfg = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  CLASS_PROG: 0x09,
  HEADER_TYPE: 0x0e,
  BAR0: 0x10,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  CAPABILITY_LIST: 0x34,
} as const;

export const PCI_STATUS_CAP_LIST = 0x10;
export const PCI_COMMAND_MEMORY = 0x2;
export const PCI_COMMAND_MASTER = 0x4;

export const PciCapId = {
  PM: 0x01,
  MSIX: 0x11,
  VENDOR: 0x09,
  EXP: 0x10,
} as const;

/** PCI Power Management capability: PMCSR at cap + 4, bits 1:0 power state, bit 8 PME_En, bit 15 PME_Status. */
export const PM_CTRL = 4;
export const PM_CTRL_STATE_MASK = 0x3;
export const PM_CTRL_PME_ENABLE = 0x100;
export const PM_CTRL_PME_STATUS = 0x8000;
export const PowerState = { D0: 0, D1: 1, D2: 2, D3hot: 3 } as const;
export type PowerStateName = keyof typeof PowerState;

/** PCI Express capability: Device Capabilities (+4) bit 28 FLR capable; Device Control (+8) bit 15 initiate FLR. */
export const PCI_EXP_DEVCAP = 4;
export const PCI_EXP_DEVCAP_FLR = 0x10000000;
export const PCI_EXP_DEVCTL = 8;
export const PCI_EXP_DEVCTL_BCR_FLR = 0x8000;
export const PCI_EXP_DEVSTA = 0x0a;
export const PCI_EXP_DEVSTA_TRPND = 0x20;

/** SR-IOV extended capability (ID 0x0010) register offsets from the capability start. */
export const PCI_EXT_CAP_ID_SRIOV = 0x0010;
export const SriovReg = {
  CAP: 0x04,
  CTRL: 0x08,
  STATUS: 0x0a,
  INITIAL_VF: 0x0c,
  TOTAL_VF: 0x0e,
  NUM_VF: 0x10,
  FUNC_LINK: 0x12,
  VF_OFFSET: 0x14,
  VF_STRIDE: 0x16,
  VF_DID: 0x1a,
  SUP_PGSIZE: 0x1c,
  SYS_PGSIZE: 0x20,
  BAR0: 0x24,
} as const;
export const SRIOV_CTRL_VFE = 0x1;
export const SRIOV_CTRL_MSE = 0x8;

/** virtio_pci_cap layout (16 bytes) and its extensions. */
export const VirtioPciCap = {
  CAP_VNDR: 0,
  CAP_NEXT: 1,
  CAP_LEN: 2,
  CFG_TYPE: 3,
  BAR: 4,
  ID: 5,
  OFFSET: 8,
  LENGTH: 12,
  /** virtio_pci_notify_cap.notify_off_multiplier / virtio_pci_cfg_cap.pci_cfg_data */
  EXTRA: 16,
} as const;

export const PCI_VENDOR_ID_REDHAT_QUMRANET = 0x1af4;
/** Modern device id = 0x1040 + virtio device type. */
export function modernDeviceId(virtioType: number): number {
  return 0x1040 + virtioType;
}

/** Base Address Register bits (PCI 3.0): bit 0 I/O space; memory BARs: bits 2:1 type (2 = 64-bit), bit 3 prefetchable. */
export const PCI_BAR_IO = 0x1;
export const PCI_BAR_MEM_TYPE_64 = 0x4;
export const PCI_BAR_MEM_PREFETCH = 0x8;
export const PCI_COMMAND_IO = 0x1;
export const PCI_COMMAND_INTX_DISABLE = 0x400;
/** Status bit 3: the function's INTx is asserted. */
export const PCI_STATUS_INTERRUPT = 0x8;

/**
 * MSI-X capability (id 0x11): Message Control at +2 (bits 10:0 table size - 1, bit 14 Function Mask,
 * bit 15 Enable), Table Offset/BIR at +4 and PBA Offset/BIR at +8 (BIR in bits 2:0, offset in 31:3).
 * Table entries are 16 bytes: message address low, high, data, vector control (bit 0 masked).
 */
export const MsixCap = { CTRL: 2, TABLE: 4, PBA: 8 } as const;
export const MSIX_CTRL_TABLE_SIZE = 0x7ff;
export const MSIX_CTRL_FUNCTION_MASK = 0x4000;
export const MSIX_CTRL_ENABLE = 0x8000;
export const MSIX_BIR_MASK = 0x7;
export const MSIX_ENTRY_SIZE = 16;
export const MsixEntry = { ADDR_LO: 0, ADDR_HI: 4, DATA: 8, VECTOR_CTRL: 12 } as const;
export const MSIX_ENTRY_CTRL_MASKED = 0x1;
