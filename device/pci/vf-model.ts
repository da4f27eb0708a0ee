import { VIRTIO_MSI_NO_VECTOR } from '../../protocol/pci-common-cfg.ts';
import type { PciBarInfo } from '../../protocol/pci-function.ts';
import { PowerState } from '../../protocol/pci.ts';
import { Bar0, CapOffset } from '../member/layout.ts';
import type { VirtioMember } from '../member/virtio-member.ts';
import { commonCfgField } from './common-cfg.ts';
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
 * wider than a byte read 0 and are dropped on write; an MSI-X vector the table lacks reads back as
 * NO_VECTOR (the mapping failed).
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
    const field = offset < Bar0.COMMON + 64 ? commonCfgField(offset - Bar0.COMMON, width) : undefined;
    if (offset < Bar0.COMMON + 64 && !field) return;
    // A vector the MSI-X table lacks cannot be mapped: it reads back as NO_VECTOR (virtio 1.3 4.1.5.1.2).
    if ((field?.name === 'CONFIG_MSIX_VECTOR' || field?.name === 'QUEUE_MSIX_VECTOR') && (value & 0xffff) >= this.msix.size) value = VIRTIO_MSI_NO_VECTOR;
    if (offset >= Bar0.NOTIFY) {
      // A doorbell: posted, and served by the device after its latency.
      if (width !== 2) return;
      this.init.scheduler.after(() => (this.present ? this.member.barWrite(offset, 2, value & 0xffff) : undefined));
      return;
    }
    void this.member.barWrite(offset, width as 1 | 2 | 4, value >>> 0);
  }
}
