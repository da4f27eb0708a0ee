/** struct virtio_pci_common_cfg (virtio 1.3 transport-pci), byte offsets and sizes; 64 bytes in all. */
export const CommonCfg = {
  DEVICE_FEATURE_SELECT: { offset: 0, size: 4 },
  DEVICE_FEATURE: { offset: 4, size: 4 },
  DRIVER_FEATURE_SELECT: { offset: 8, size: 4 },
  DRIVER_FEATURE: { offset: 12, size: 4 },
  CONFIG_MSIX_VECTOR: { offset: 16, size: 2 },
  NUM_QUEUES: { offset: 18, size: 2 },
  DEVICE_STATUS: { offset: 20, size: 1 },
  CONFIG_GENERATION: { offset: 21, size: 1 },
  QUEUE_SELECT: { offset: 22, size: 2 },
  QUEUE_SIZE: { offset: 24, size: 2 },
  QUEUE_MSIX_VECTOR: { offset: 26, size: 2 },
  QUEUE_ENABLE: { offset: 28, size: 2 },
  QUEUE_NOTIFY_OFF: { offset: 30, size: 2 },
  QUEUE_DESC: { offset: 32, size: 8 },
  QUEUE_DRIVER: { offset: 40, size: 8 },
  QUEUE_DEVICE: { offset: 48, size: 8 },
  QUEUE_NOTIF_CONFIG_DATA: { offset: 56, size: 2 },
  QUEUE_RESET: { offset: 58, size: 2 },
  ADMIN_QUEUE_INDEX: { offset: 60, size: 2 },
  ADMIN_QUEUE_NUM: { offset: 62, size: 2 },
} as const;

export const COMMON_CFG_SIZE = 64;

/** device_status bits. */
export const DeviceStatus = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** MSI-X "no vector". */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** Transport feature bits this project uses. */
export const Feature = {
  INDIRECT_DESC: 28,
  EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  RING_RESET: 40,
  ADMIN_VQ: 41,
} as const;

/** virtio_pci_cap cfg_type values. */
export const PciCapType = {
  COMMON_CFG: 1,
  NOTIFY_CFG: 2,
  ISR_CFG: 3,
  DEVICE_CFG: 4,
  PCI_CFG: 5,
  SHARED_MEMORY_CFG: 8,
  VENDOR_CFG: 9,
} as const;

/** Virtio device types used by the reference device. */
export const VirtioDeviceType = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  ENTROPY: 4,
} as const;
