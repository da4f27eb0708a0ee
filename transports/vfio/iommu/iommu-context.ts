import type { MappedMemory } from '../sys/syscalls.ts';
import type { VfioDevice } from '../vfio-device.ts';

/** Which kernel interface owns the DMA mappings. */
export type IommuFlow = 'group' | 'iommufd';

export interface IovaRange {
  start: bigint;
  /** Inclusive. */
  end: bigint;
}

/**
 * One IOVA space shared by the PF and its VFs (one type1 container, or one iommufd IOAS): devices are
 * opened into it, and process memory is mapped into it by IOVA. Unmapping a range makes every device
 * access to it fault, which is how no-access windows are observed on a card.
 */
export interface IommuContext {
  readonly flow: IommuFlow;
  /** Mapping granule (the lowest IOMMU page size). */
  readonly pageSize: number;
  readonly ranges: readonly IovaRange[];
  openDevice(bdf: string, vfToken?: string): VfioDevice;
  /** Maps `mem` (page aligned) at `iova`, readable and writable by the devices. */
  map(mem: MappedMemory, iova: bigint): void;
  unmap(iova: bigint, length: number): void;
  close(): void;
}
