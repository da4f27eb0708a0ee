/** Transitional device ids and the virtio device type each stands for (virtio 1.3 4.1.2.1). */
const TRANSITIONAL: Readonly<Record<number, number>> = { 0x1000: 1, 0x1001: 2, 0x1002: 5, 0x1003: 3, 0x1004: 8, 0x1005: 4, 0x1009: 9 };

/** The virtio device type a PCI Device ID names: 0x1040 + type for modern ids, the table for transitional ones, 0 otherwise. */
export function virtioTypeOfDeviceId(deviceId: number): number {
  if (deviceId >= 0x1040 && deviceId <= 0x107f) return deviceId - 0x1040;
  return TRANSITIONAL[deviceId] ?? 0;
}
