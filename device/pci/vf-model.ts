import type { PciBarInfo } from '../../protocol/pci-function.ts';
import { PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PowerState } from '../../protocol/pci.ts';
import { Bar0, CapOffset } from '../member/layout.ts';
import type { VirtioMember } from '../member/virtio-member.ts';
import { commonCfgField } from './common-cfg.ts';
import type { MemberWork } from './member-work.ts';
import { MsixTable } from './msix.ts';
import { allOnes, decodable, type PciModelFunction } from './pci-model.ts';
import type { PfPciModel } from './pf-model.ts';
import type { DeviceScheduler } from './scheduler.ts';

const BAR0_SIZE = BigInt(Bar0.SIZE);
const MSIX_FUNCTION_MASK_BYTE = 0x40;

export interface VfModelInit {
  member: VirtioMember;
  pf: PfPciModel;
  scheduler: DeviceScheduler;
  work: MemberWork;
  /** An interrupt message the VF sends: an MSI-X vector, or (MSI-X disabled) an INTx assertion. */
  interrupt(vector: number | 'intx'): void;
}

/**
 * One VF of the reference device at register level: the member's own configuration space
 * (VfConfigSpace: PM, PCIe with FLR, MSI-X, the virtio capabilities) and its BAR0 map
 * (VirtioMember.barRead/barWrite), with what the member does not model itself: the MSI-X table and PBA
 * (BAR0 0x4000 and 0x5000, as the MSI-X capability says), posted doorbells served after the device
 * latency, and the rules of a VF's existence.
 *
 * As PCIe has it, the VF's own Vendor ID and Device ID read 0xFFFF and its Base Address Registers read
 * 0: the IDs and VF BAR sizes live in the PF's SR-IOV capability (the host binding presents them the way
 * Linux and VFIO do). A VF that does not exist (VF Enable clear, beyond NumVFs) reads all ones
 * everywhere. Its BAR reads all ones and drops writes while VF Memory Space Enable (PF SR-IOV Control) is
 * clear, while the VF is not in D0, outside BAR0, or for accesses that are not 1, 2 or 4 bytes
 * naturally aligned. Inside BAR0, common-config accesses at the wrong width or offset and ISR reads
 * wider than a byte read 0 and are dropped on write.
 */
export class VfPciModel implements PciModelFunction {
  readonly configSize = 4096;
  readonly msix: MsixTable;
  readonly member: VirtioMember;

  constructor(private readonly init: VfModelInit) {
    this.member = init.member;
    const cfg = init.member.config;
    const size = (cfg.r(CapOffset.MSIX + 2, 2) & 0x7ff) + 1;
    this.msix = new MsixTable(size, () => ({ enabled: cfg.msixEnabled, functionMask: (cfg.bytes[CapOffset.MSIX + 3] & MSIX_FUNCTION_MASK_BYTE) !== 0 }), (v) => init.interrupt(v));
  }

  get present(): boolean {
    return this.init.pf.vfPresent(this.member.id);
  }

  bars(): PciBarInfo[] {
    return [{ index: 0, size: BAR0_SIZE, kind: 'memory', is64: true, prefetchable: false }];
  }

  /** The member's interrupt hook: a vector number goes through the MSI-X table (masking, PBA), INTx as is. */
  interrupt(vector: number | 'intx'): void {
    if (vector === 'intx') this.init.interrupt('intx');
    else this.msix.signal(vector);
  }

  /** The VF ceased to exist (VF Enable cleared): its MSI-X state is gone with it. */
  released(): void {
    this.msix.reset();
  }

  configRead(offset: number, width: number): number {
    if (!this.present || !decodable(offset, width, this.configSize)) return allOnes(width);
    return this.member.pciConfigRead(offset, width as 1 | 2 | 4);
  }

  configWrite(offset: number, width: number, value: number): void {
    if (!this.present || !decodable(offset, width, this.configSize)) return;
    const effects = this.member.pciConfigWrite(offset, width as 1 | 2 | 4, value >>> 0);
    if (effects.some((e) => e.kind === 'flr')) this.msix.reset();
    this.msix.deliverUnmasked();
    this.init.work.poke(this.member);
  }

  private barDecodes(bar: number, offset: number, width: number): boolean {
    return this.present && this.init.pf.vfMemorySpace && this.member.config.powerState === PowerState.D0 && bar === 0 && decodable(offset, width, BAR0_SIZE);
  }

  barRead(bar: number, offset: number, width: number): number {
    if (!this.barDecodes(bar, offset, width)) return allOnes(width);
    if (offset >= Bar0.MSIX_TABLE && offset < Bar0.MSIX_TABLE + this.msix.tableBytes) return this.msix.tableRead(offset - Bar0.MSIX_TABLE, width);
    if (offset >= Bar0.MSIX_PBA && offset < Bar0.MSIX_PBA + this.msix.pbaBytes) return this.msix.pbaRead(offset - Bar0.MSIX_PBA, width);
    if (offset < Bar0.COMMON + 64 && !commonCfgField(offset - Bar0.COMMON, width)) return 0;
    if (offset === Bar0.ISR && width !== 1) return 0;
    return this.member.barRead(offset, width as 1 | 2 | 4);
  }

  barWrite(bar: number, offset: number, width: number, value: number): void {
    if (!this.barDecodes(bar, offset, width)) return;
    if (offset >= Bar0.MSIX_TABLE && offset < Bar0.MSIX_TABLE + this.msix.tableBytes) return this.msix.tableWrite(offset - Bar0.MSIX_TABLE, width, value);
    if (offset < Bar0.COMMON + 64 && !commonCfgField(offset - Bar0.COMMON, width)) return;
    if (offset >= Bar0.NOTIFY) {
      // A doorbell: posted, and served by the device after its latency.
      if (width !== 2) return;
      this.init.scheduler.after(async () => {
        if (!this.present) return;
        await this.member.barWrite(offset, 2, value & 0xffff);
        this.init.work.poke(this.member);
      });
      return;
    }
    void this.member.barWrite(offset, width as 1 | 2 | 4, value >>> 0);
    this.init.work.poke(this.member);
  }

  /** FLR through the VF's PCIe Device Control; resolves when the function is done. */
  async flr(): Promise<void> {
    const at = CapOffset.EXP + PCI_EXP_DEVCTL;
    this.configWrite(at, 2, this.configRead(at, 2) | PCI_EXP_DEVCTL_BCR_FLR);
    await this.member.idle();
  }
}
