import type { PciFunction } from '../../protocol/pci-function.ts';
import { MSIX_CTRL_ENABLE, MSIX_CTRL_FUNCTION_MASK, MSIX_ENTRY_CTRL_MASKED, MSIX_ENTRY_SIZE, MsixCap, MsixEntry } from '../../protocol/pci.ts';
import type { MsixLayout } from './capabilities.ts';

/** MSI-X Enable set and Function Mask clear in Message Control (the host routes the messages; see unmaskVector). */
export async function enableMsix(fn: PciFunction, msix: MsixLayout): Promise<void> {
  const at = msix.at + MsixCap.CTRL;
  const ctl = await fn.configRead(at, 2);
  const want = (ctl | MSIX_CTRL_ENABLE) & ~MSIX_CTRL_FUNCTION_MASK;
  if (want !== ctl) await fn.configWrite(at, 2, want);
}

/**
 * Clears a vector's Mask bit in the MSI-X table (every entry comes out of reset masked, PCIe 6.8.2).
 * Where the host owns the table (VFIO programs it through VFIO_DEVICE_SET_IRQS) the write is dropped
 * and the host has already unmasked what it routes, so this is safe on every binding.
 */
export async function unmaskVector(fn: PciFunction, msix: MsixLayout, vector: number): Promise<void> {
  if (vector >= msix.vectors) return;
  const at = msix.tableOffset + vector * MSIX_ENTRY_SIZE + MsixEntry.VECTOR_CTRL;
  const ctl = await fn.barRead(msix.tableBar, at, 4);
  if (ctl & MSIX_ENTRY_CTRL_MASKED) await fn.barWrite(msix.tableBar, at, 4, ctl & ~MSIX_ENTRY_CTRL_MASKED);
}
