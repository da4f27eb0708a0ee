/**
 * Where the reference member's structures sit: configuration-space capability offsets and the
 * BAR0 map the virtio capabilities point at. One place, so the config space, the BAR dispatch and
 * the tests agree.
 */
export const Bar0 = {
  COMMON: 0x0000,
  ISR: 0x1000,
  DEVICE: 0x2000,
  /** MSI-X table and PBA (BIR 0), in the free space between device config and notify (used by device/pci). */
  MSIX_TABLE: 0x4000,
  MSIX_PBA: 0x5000,
  NOTIFY: 0x10000,
  /** notify_off_multiplier: queue q notifies at NOTIFY + 4 * q. */
  NOTIFY_MULTIPLIER: 4,
  SIZE: 0x80000,
} as const;

export const CapOffset = {
  PM: 0x40,
  EXP: 0x48,
  MSIX: 0x84,
  COMMON: 0x90,
  NOTIFY: 0xa0,
  ISR: 0xb4,
  DEVICE: 0xc4,
  PCI_CFG: 0xd4,
} as const;

export const CONFIG_SPACE_SIZE = 4096;
