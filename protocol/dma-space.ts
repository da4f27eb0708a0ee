import type { DmaAccess, GuestMemory } from './guest-memory.ts';

/**
 * How a transport sees a device's accesses to memory the driver gave it:
 * - `exact`: every read and write, with address and length (simulator, device/pci, vfio-user
 *   DMA_READ/DMA_WRITE messages);
 * - `canary`: writes only, found by filling memory with a pattern and comparing (VFIO on a card);
 * - `iommu-fault`: any access to memory whose IOMMU mapping was removed, seen as a fault or in AER
 *   status (VFIO on a card);
 * - `none`: nothing.
 * Every member-side verdict that rests on such an observation says which level it had.
 */
export type DmaObservation = 'exact' | 'canary' | 'iommu-fault' | 'none';

/**
 * Memory the driver allocates for a function to reach by DMA (rings, buffers, the admin queue), by
 * IOVA: the address the device uses. Driver-side reads and writes are synchronous and never logged.
 */
export interface DmaSpace extends GuestMemory {
  readonly observation: DmaObservation;
  /** Device accesses since the last call, in the binding's event order; empty unless observation is `exact`. */
  takeAccessLog(): DmaAccess[];
}
