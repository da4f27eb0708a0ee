/**
 * One PCI function as a userspace driver reaches it: configuration space at exact width, the BARs
 * the function implements, BAR access at 1, 2, 4 and 8 bytes, and a function reset through the host.
 * The virtio-pci driver (transports/virtio-pci) is written once against this; the register-level
 * simulator (device/pci), vfio-user and Linux VFIO each provide it.
 *
 * Ordering follows PCIe: writes are posted (the promise resolves once the write is issued, not once
 * the device has acted on it), and a read of the same function is answered only after every write
 * issued before it has reached the device. Nothing here may block the event loop.
 */
export type ConfigWidth = 1 | 2 | 4;
export type BarWidth = 1 | 2 | 4;

export interface PciBarInfo {
  /** BAR number 0..5 (a 64-bit BAR takes its index and the next). */
  index: number;
  /** Size in bytes; a BAR the function does not implement is not listed. */
  size: bigint;
  kind: 'memory' | 'io';
  is64: boolean;
  prefetchable: boolean;
}

export interface PciFunction {
  /** Where the function is: a BDF (0000:3b:00.1), a vfio-user socket path, or an in-process name. */
  readonly address: string;
  /** 256 for conventional PCI, 4096 with the PCIe extended space. */
  readonly configSize: number;
  /** Implemented BARs, read once when the function was opened. */
  readonly bars: readonly PciBarInfo[];

  configRead(offset: number, width: ConfigWidth): Promise<number>;
  configWrite(offset: number, width: ConfigWidth, value: number): Promise<void>;

  barRead(bar: number, offset: number, width: BarWidth): Promise<number>;
  /** One 8-byte access where the host supports it, else two 4-byte accesses, low half first. */
  barRead64(bar: number, offset: number): Promise<bigint>;
  barWrite(bar: number, offset: number, width: BarWidth, value: number): Promise<void>;
  barWrite64(bar: number, offset: number, value: bigint): Promise<void>;

  /**
   * Resets the function through the host's own mechanism (VFIO_DEVICE_RESET, vfio-user DEVICE_RESET,
   * the model's FLR) and resolves when the function answers configuration reads again.
   */
  reset(): Promise<void>;
  close(): Promise<void>;
}
