import { PciCfg } from '../../protocol/pci.ts';
import { BarRegisters } from '../../device/pci/bar.ts';
import { decodable } from '../../device/pci/pci-model.ts';
import type { VfPciModel } from '../../device/pci/vf-model.ts';
import { ForwardingFunction } from './forwarding-function.ts';

const BAR_REGS = PciCfg.BAR0;
const BAR_REGS_END = BAR_REGS + 24;

/** Whose Vendor ID and Device ID a VF shows: the host's (from the PF, as Linux and VFIO present them) or the function's own 0xFFFF. */
export type VfIdView = 'from-pf' | 'raw';

/**
 * A VF's configuration space the way the host presents it to a userspace driver. A VF's own Vendor ID
 * and Device ID read 0xFFFF and its Base Address Registers read 0 (PCIe SR-IOV); Linux fills the IDs in
 * from the PF (vendor, and the SR-IOV capability's VF Device ID) and VFIO shows them in the VF's config
 * space with emulated BARs that size like any other. With `ids: 'raw'` the IDs are left as the VF has
 * them (what a vfio-user server exposing the raw function would show); the BARs are emulated either way.
 */
export class VfHostView extends ForwardingFunction {
  private readonly barRegs: BarRegisters;

  constructor(
    private readonly vf: VfPciModel,
    private readonly ids: VfIdView,
    private readonly pfIds: () => { vendorId: number; deviceId: number },
  ) {
    super(vf);
    this.barRegs = new BarRegisters(vf.bars().map((b) => ({ index: b.index, size: b.size, is64: b.is64, prefetchable: b.prefetchable })));
  }

  override configRead(offset: number, width: number): number {
    if (!this.vf.present || !decodable(offset, width, this.configSize)) return this.vf.configRead(offset, width);
    const w = width as 1 | 2 | 4;
    if (offset >= BAR_REGS && offset < BAR_REGS_END) return this.barRegs.readBytes(offset - BAR_REGS, w);
    if (offset < 4 && this.ids === 'from-pf') {
      const { vendorId, deviceId } = this.pfIds();
      const dword = (vendorId | (deviceId << 16)) >>> 0;
      return w === 4 ? dword : (dword >>> (8 * offset)) & (w === 2 ? 0xffff : 0xff);
    }
    return this.vf.configRead(offset, width);
  }

  override configWrite(offset: number, width: number, value: number): void {
    if (this.vf.present && decodable(offset, width, this.configSize) && offset >= BAR_REGS && offset < BAR_REGS_END) {
      this.barRegs.writeBytes(offset - BAR_REGS, width as 1 | 2 | 4, value);
      return;
    }
    this.vf.configWrite(offset, width, value);
  }
}
