import { MSIX_ENTRY_SIZE, MsixEntry } from '../../protocol/pci.ts';
import type { MsixTable } from '../../device/pci/msix.ts';
import type { PciModelFunction } from '../../device/pci/pci-model.ts';
import { ForwardingFunction } from './forwarding-function.ts';

/** Who programs and unmasks the MSI-X table entries: the host (as VFIO does) or the driver (bare metal). */
export type MsixTableOwner = 'host' | 'driver';

/** The x86 MSI address window; the data names the vector. Nothing routes on them in this process. */
const MSI_ADDRESS = 0xfee00000;

/**
 * A function whose MSI-X vectors the host sets up, the way VFIO does when a driver asks for MSI-X
 * interrupts (VFIO_DEVICE_SET_IRQS): each time the driver sets MSI-X Enable, the host writes every
 * table entry (address, data) and clears its Mask bit. The driver keeps Enable and Function Mask, and
 * may still mask and unmask entries through the table itself (masking and the PBA behave as the
 * function implements them).
 */
export class HostManagedMsix extends ForwardingFunction {
  constructor(
    inner: PciModelFunction,
    private readonly table: MsixTable,
    private readonly enabled: () => boolean,
  ) {
    super(inner);
  }

  override configWrite(offset: number, width: number, value: number): void {
    const before = this.enabled();
    this.inner.configWrite(offset, width, value);
    if (before || !this.enabled()) return;
    for (let v = 0; v < this.table.size; v++) {
      const at = v * MSIX_ENTRY_SIZE;
      this.table.tableWrite(at + MsixEntry.ADDR_LO, 4, MSI_ADDRESS);
      this.table.tableWrite(at + MsixEntry.ADDR_HI, 4, 0);
      this.table.tableWrite(at + MsixEntry.DATA, 4, v);
      this.table.tableWrite(at + MsixEntry.VECTOR_CTRL, 4, 0);
    }
  }
}
