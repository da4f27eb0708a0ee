import type { PciBarInfo } from '../../../protocol/pci-function.ts';

/**
 * The host side of a device as the fake kernel reaches it: bus-master reads and writes by IOVA
 * (through the fake IOMMU, so an unmapped address faults) and interrupt messages.
 */
export interface FakeBus {
  dmaRead(iova: bigint, len: number): Uint8Array;
  dmaWrite(iova: bigint, data: Uint8Array): void;
  /** An MSI-X message for `vector` (the fake kernel routes it to the eventfd the user set). */
  msix(vector: number): void;
  /** INTx asserted. */
  intx(): void;
}

/**
 * A PCI function behind the fake host: register access is synchronous, as a config or MMIO cycle is
 * for the kernel; the device does its work on its own after a write (posted). The register-level
 * models of device/pci are adapted to this, and the project's tests use small endpoints of their own.
 */
export interface FakeEndpoint {
  readonly configSize: number;
  readonly bars: readonly PciBarInfo[];
  configRead(offset: number, width: 1 | 2 | 4): number;
  configWrite(offset: number, width: 1 | 2 | 4, value: number): void;
  barRead(bar: number, offset: number, width: 1 | 2 | 4 | 8): number | bigint;
  barWrite(bar: number, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): void;
  /** Function Level Reset; resolves when the function answers configuration reads again. */
  flr(): Promise<void>;
  connect(bus: FakeBus): void;
}

/**
 * SR-IOV of a PF endpoint as the kernel's sriov_numvfs store drives it: setting NumVFs and VF Enable
 * in the capability and handing back the VFs that now exist.
 */
export interface FakeSriov {
  readonly totalVfs: number;
  readonly vfDeviceId: number;
  readonly offset: number;
  readonly stride: number;
  /**
   * VF Enable set with NumVFs: the VFs, and when they are ready (the kernel waits for them before it
   * adds them to the bus: 100 ms after VF Enable, PCIe SR-IOV).
   */
  enable(numVfs: number): { vfs: FakeEndpoint[]; ready?: Promise<void> };
  disable(): void;
}
