import { CommonCfg, DeviceStatus, Feature } from '../../protocol/pci-common-cfg.ts';
import { PCI_EXT_CAP_ID_SRIOV, PCI_STATUS_CAP_LIST, PCI_VENDOR_ID_REDHAT_QUMRANET, PciCapId, PciCfg, SRIOV_CTRL_MSE, SRIOV_CTRL_VFE, SriovReg, modernDeviceId } from '../../protocol/pci.ts';

/** Where the PF's SR-IOV extended capability sits. */
export const PF_SRIOV_CAP = 0x100;
const PF_EXP_CAP = 0x40;

/**
 * The owner function (PF) of the reference device, as far as the draft needs it: its PCI config
 * space with the SR-IOV extended capability (VF Enable and NumVFs bound the group, GD13) and its
 * virtio common configuration (admin queue discovery). The admin queue itself is the transport's
 * business; the simulator hands frames to the device directly.
 */
export class PfFunction {
  readonly config = new Uint8Array(4096);
  private readonly dv = new DataView(this.config.buffer);
  /** The PF's own regular queues (a block PF has one request queue); admin queues come after them. */
  readonly numQueues = 1;
  readonly adminQueueNum = 1;
  readonly features = (1n << BigInt(Feature.VERSION_1)) | (1n << BigInt(Feature.SR_IOV)) | (1n << BigInt(Feature.ADMIN_VQ));

  constructor(
    readonly totalVfs: number,
    virtioType: number,
  ) {
    this.dv.setUint16(PciCfg.VENDOR_ID, PCI_VENDOR_ID_REDHAT_QUMRANET, true);
    this.dv.setUint16(PciCfg.DEVICE_ID, modernDeviceId(virtioType), true);
    this.dv.setUint16(PciCfg.STATUS, PCI_STATUS_CAP_LIST, true);
    this.config[PciCfg.REVISION_ID] = 1;
    this.dv.setUint16(PciCfg.SUBSYSTEM_VENDOR_ID, PCI_VENDOR_ID_REDHAT_QUMRANET, true);
    this.dv.setUint16(PciCfg.SUBSYSTEM_ID, 0x40 + virtioType, true);
    this.config[PciCfg.CAPABILITY_LIST] = PF_EXP_CAP;
    this.config[PF_EXP_CAP] = PciCapId.EXP;
    this.config[PF_EXP_CAP + 1] = 0;
    this.dv.setUint16(PF_EXP_CAP + 2, 0x0002, true);
    // Extended capability header: ID, version 1, next 0.
    this.dv.setUint32(PF_SRIOV_CAP, PCI_EXT_CAP_ID_SRIOV | (1 << 16), true);
    const s = (r: number) => PF_SRIOV_CAP + r;
    this.dv.setUint16(s(SriovReg.CTRL), SRIOV_CTRL_VFE | SRIOV_CTRL_MSE, true);
    this.dv.setUint16(s(SriovReg.INITIAL_VF), totalVfs, true);
    this.dv.setUint16(s(SriovReg.TOTAL_VF), totalVfs, true);
    this.dv.setUint16(s(SriovReg.NUM_VF), totalVfs, true);
    this.dv.setUint16(s(SriovReg.VF_OFFSET), 1, true);
    this.dv.setUint16(s(SriovReg.VF_STRIDE), 1, true);
    this.dv.setUint16(s(SriovReg.VF_DID), modernDeviceId(virtioType), true);
    this.dv.setUint32(s(SriovReg.SUP_PGSIZE), 0x553, true);
    this.dv.setUint32(s(SriovReg.SYS_PGSIZE), 0x1, true);
  }

  get vfEnabled(): boolean {
    return (this.dv.getUint16(PF_SRIOV_CAP + SriovReg.CTRL, true) & SRIOV_CTRL_VFE) !== 0;
  }

  get numVfs(): number {
    return this.dv.getUint16(PF_SRIOV_CAP + SriovReg.NUM_VF, true);
  }

  configRead(offset: number, width: 1 | 2 | 4): number {
    if (offset < 0 || offset + width > this.config.length) return width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff;
    return width === 1 ? this.dv.getUint8(offset) : width === 2 ? this.dv.getUint16(offset, true) : this.dv.getUint32(offset, true);
  }

  /** Called when VF Enable changes (the owner device tears the VFs down or instantiates them). */
  onVfEnableChange: ((enabled: boolean) => void) | undefined;

  /** Only the SR-IOV Control register and NumVFs (while VF Enable is clear) are writable. */
  configWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    const ctrl = PF_SRIOV_CAP + SriovReg.CTRL;
    const num = PF_SRIOV_CAP + SriovReg.NUM_VF;
    if (offset === ctrl && width >= 2) {
      const was = this.vfEnabled;
      this.dv.setUint16(ctrl, value & (SRIOV_CTRL_VFE | SRIOV_CTRL_MSE), true);
      if (was !== this.vfEnabled) this.onVfEnableChange?.(this.vfEnabled);
    } else if (offset === num && width === 2 && !this.vfEnabled) {
      this.dv.setUint16(num, Math.min(value & 0xffff, this.totalVfs), true);
    }
  }

  /** The PF's virtio_pci_common_cfg as its (implicit) owner driver left it: features negotiated, DRIVER_OK. */
  commonCfgRead(offset: number, width: 1 | 2 | 4): number {
    let v = 0;
    switch (offset) {
      case CommonCfg.DEVICE_FEATURE.offset:
      case CommonCfg.DRIVER_FEATURE.offset:
        v = Number(this.features & 0xffffffffn); // select 0
        break;
      case CommonCfg.NUM_QUEUES.offset: v = this.numQueues; break;
      case CommonCfg.DEVICE_STATUS.offset: v = DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK; break;
      case CommonCfg.ADMIN_QUEUE_INDEX.offset: v = this.numQueues; break;
      case CommonCfg.ADMIN_QUEUE_NUM.offset: v = this.adminQueueNum; break;
      default: v = 0;
    }
    return width === 4 ? v >>> 0 : width === 2 ? v & 0xffff : v & 0xff;
  }

  /** Word `select` of the device features (the simulator's owner port reads them by select). */
  featureWord(select: number): number {
    return Number((this.features >> BigInt(32 * select)) & 0xffffffffn);
  }
}
