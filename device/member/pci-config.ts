import {
  PCI_COMMAND_MASTER,
  PCI_EXP_DEVCAP,
  PCI_EXP_DEVCAP_FLR,
  PCI_EXP_DEVCTL,
  PCI_EXP_DEVCTL_BCR_FLR,
  PCI_STATUS_CAP_LIST,
  PciCapId,
  PciCfg,
  PM_CTRL,
  PM_CTRL_PME_ENABLE,
  PM_CTRL_PME_STATUS,
  PM_CTRL_STATE_MASK,
  MsixCap,
  VirtioPciCap,
} from '../../protocol/pci.ts';
import { PciCapType } from '../../protocol/pci-common-cfg.ts';
import type { RegisterWidth } from '../../protocol/member-port.ts';
import { Bar0, CapOffset, CONFIG_SPACE_SIZE } from './layout.ts';

/** What a config write can set off; the member acts on it. */
export type ConfigSideEffect =
  | { kind: 'flr' }
  | { kind: 'power-state'; from: number; to: number }
  | { kind: 'pci-cfg-window'; op: 'read' | 'write'; bar: number; offset: number; length: number; value?: number };

export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  revision: number;
  classCode: number;
  subsystemVendorId: number;
  subsystemId: number;
}

/**
 * The PCI configuration space of one VF: header, PM, PCI Express (FLR), MSI-X and the virtio vendor
 * capabilities (common, notify, ISR, device, PCI_CFG window). Registers are little-endian bytes with
 * per-byte write masks; the few registers with side effects report them to the member.
 */
export class VfConfigSpace {
  readonly bytes = new Uint8Array(CONFIG_SPACE_SIZE);
  protected readonly writable = new Uint8Array(CONFIG_SPACE_SIZE);
  /** Set while the member ignores writes to the PCI_CFG capability area (Freeze, SD14b). */
  pciCfgWriteLock = false;

  constructor(id: PciIdentity, hasDeviceCfg: boolean, deviceCfgLength: number, msixVectors: number) {
    const b = this.bytes;
    this.w16(PciCfg.VENDOR_ID, id.vendorId);
    this.w16(PciCfg.DEVICE_ID, id.deviceId);
    this.w16(PciCfg.STATUS, PCI_STATUS_CAP_LIST);
    b[PciCfg.REVISION_ID] = id.revision;
    b[PciCfg.CLASS_PROG] = id.classCode & 0xff;
    b[PciCfg.CLASS_PROG + 1] = (id.classCode >> 8) & 0xff;
    b[PciCfg.CLASS_PROG + 2] = (id.classCode >> 16) & 0xff;
    this.w16(PciCfg.SUBSYSTEM_VENDOR_ID, id.subsystemVendorId);
    this.w16(PciCfg.SUBSYSTEM_ID, id.subsystemId);
    b[PciCfg.CAPABILITY_LIST] = CapOffset.PM;
    this.writable[PciCfg.COMMAND] = PCI_COMMAND_MASTER;

    // PM: version 3, PME from D0 and D3hot; PMCSR No_Soft_Reset so D3hot -> D0 keeps the function's state.
    this.cap(CapOffset.PM, PciCapId.PM, CapOffset.EXP);
    this.w16(CapOffset.PM + 2, 0x0003 | (1 << 11) | (1 << 14));
    this.w16(CapOffset.PM + PM_CTRL, 0x0008);
    this.writable[CapOffset.PM + PM_CTRL] = PM_CTRL_STATE_MASK;
    this.writable[CapOffset.PM + PM_CTRL + 1] = (PM_CTRL_PME_ENABLE | PM_CTRL_PME_STATUS) >> 8;

    // PCI Express endpoint, FLR capable.
    this.cap(CapOffset.EXP, PciCapId.EXP, CapOffset.MSIX);
    this.w16(CapOffset.EXP + 2, 0x0002);
    this.w32(CapOffset.EXP + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_FLR);
    this.writable[CapOffset.EXP + PCI_EXP_DEVCTL + 1] = PCI_EXP_DEVCTL_BCR_FLR >> 8;

    // MSI-X: table size N-1, Enable and Function Mask RW; table and PBA in BAR0 (device/pci models them).
    this.cap(CapOffset.MSIX, PciCapId.MSIX, CapOffset.COMMON);
    this.w16(CapOffset.MSIX + 2, Math.min(msixVectors, 2048) - 1);
    this.writable[CapOffset.MSIX + 3] = 0xc0;
    this.w32(CapOffset.MSIX + MsixCap.TABLE, Bar0.MSIX_TABLE);
    this.w32(CapOffset.MSIX + MsixCap.PBA, Bar0.MSIX_PBA);

    this.virtioCap(CapOffset.COMMON, PciCapType.COMMON_CFG, CapOffset.NOTIFY, 16, Bar0.COMMON, 64);
    this.virtioCap(CapOffset.NOTIFY, PciCapType.NOTIFY_CFG, CapOffset.ISR, 20, Bar0.NOTIFY, Bar0.SIZE - Bar0.NOTIFY);
    this.w32(CapOffset.NOTIFY + VirtioPciCap.EXTRA, Bar0.NOTIFY_MULTIPLIER);
    const afterIsr = hasDeviceCfg ? CapOffset.DEVICE : CapOffset.PCI_CFG;
    this.virtioCap(CapOffset.ISR, PciCapType.ISR_CFG, afterIsr, 16, Bar0.ISR, 1);
    if (hasDeviceCfg) this.virtioCap(CapOffset.DEVICE, PciCapType.DEVICE_CFG, CapOffset.PCI_CFG, 16, Bar0.DEVICE, deviceCfgLength);
    this.virtioCap(CapOffset.PCI_CFG, PciCapType.PCI_CFG, 0, 20, 0, 0);
    // The window's bar, offset, length and data are the only writable capability fields.
    this.writable[CapOffset.PCI_CFG + VirtioPciCap.BAR] = 0xff;
    this.writable.fill(0xff, CapOffset.PCI_CFG + VirtioPciCap.OFFSET, CapOffset.PCI_CFG + VirtioPciCap.EXTRA + 4);
  }

  private cap(at: number, id: number, next: number): void {
    this.bytes[at] = id;
    this.bytes[at + 1] = next;
  }

  private virtioCap(at: number, cfgType: number, next: number, len: number, offset: number, length: number): void {
    this.cap(at, PciCapId.VENDOR, next);
    this.bytes[at + VirtioPciCap.CAP_LEN] = len;
    this.bytes[at + VirtioPciCap.CFG_TYPE] = cfgType;
    this.bytes[at + VirtioPciCap.BAR] = 0;
    this.w32(at + VirtioPciCap.OFFSET, offset);
    this.w32(at + VirtioPciCap.LENGTH, length);
  }

  private w16(at: number, v: number): void {
    this.bytes[at] = v & 0xff;
    this.bytes[at + 1] = (v >>> 8) & 0xff;
  }

  protected w32(at: number, v: number): void {
    new DataView(this.bytes.buffer).setUint32(at, v >>> 0, true);
  }

  r(at: number, width: RegisterWidth): number {
    if (at < 0 || at + width > CONFIG_SPACE_SIZE) return width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff;
    const dv = new DataView(this.bytes.buffer);
    return width === 1 ? dv.getUint8(at) : width === 2 ? dv.getUint16(at, true) : dv.getUint32(at, true);
  }

  /** A config read; reading pci_cfg_data performs the window read (the member fills the value). */
  read(at: number, width: RegisterWidth, windowRead: (bar: number, offset: number, length: number) => number): number {
    const data = CapOffset.PCI_CFG + VirtioPciCap.EXTRA;
    if (at >= data && at < data + 4) {
      const { bar, offset, length } = this.window();
      const v = windowRead(bar, offset, length);
      this.w32(data, v);
    }
    return this.r(at, width);
  }

  window(): { bar: number; offset: number; length: number } {
    return {
      bar: this.bytes[CapOffset.PCI_CFG + VirtioPciCap.BAR],
      offset: this.r(CapOffset.PCI_CFG + VirtioPciCap.OFFSET, 4),
      length: this.r(CapOffset.PCI_CFG + VirtioPciCap.LENGTH, 4),
    };
  }

  get powerState(): number {
    return this.bytes[CapOffset.PM + PM_CTRL] & PM_CTRL_STATE_MASK;
  }

  get pmeEnabled(): boolean {
    return (this.r(CapOffset.PM + PM_CTRL, 2) & PM_CTRL_PME_ENABLE) !== 0;
  }

  setPmeStatus(): void {
    this.bytes[CapOffset.PM + PM_CTRL + 1] |= PM_CTRL_PME_STATUS >> 8;
  }

  get msixEnabled(): boolean {
    return (this.bytes[CapOffset.MSIX + 3] & 0x80) !== 0;
  }

  get busMaster(): boolean {
    return (this.bytes[PciCfg.COMMAND] & PCI_COMMAND_MASTER) !== 0;
  }

  /** Applies a config write through the write masks and returns the side effects it sets off. */
  write(at: number, width: RegisterWidth, value: number): ConfigSideEffect[] {
    if (at < 0 || at + width > CONFIG_SPACE_SIZE) return [];
    const effects: ConfigSideEffect[] = [];
    const capStart = CapOffset.PCI_CFG;
    const capEnd = CapOffset.PCI_CFG + 20;
    if (this.pciCfgWriteLock && at < capEnd && at + width > capStart) return effects;
    const oldState = this.powerState;
    const pmcsrHi = CapOffset.PM + PM_CTRL + 1;
    for (let i = 0; i < width; i++) {
      const a = at + i;
      const v = (value >>> (8 * i)) & 0xff;
      if (a === pmcsrHi) {
        // PME_Status is write-1-to-clear; PME_En is plain read/write.
        const keep = this.bytes[a] & ~(PM_CTRL_PME_ENABLE >> 8);
        const cleared = v & (PM_CTRL_PME_STATUS >> 8) ? keep & ~(PM_CTRL_PME_STATUS >> 8) : keep;
        this.bytes[a] = cleared | (v & (PM_CTRL_PME_ENABLE >> 8));
        continue;
      }
      const m = this.writable[a];
      this.bytes[a] = (this.bytes[a] & ~m) | (v & m);
    }
    const devctlHi = CapOffset.EXP + PCI_EXP_DEVCTL + 1;
    if (at <= devctlHi && at + width > devctlHi && this.bytes[devctlHi] & (PCI_EXP_DEVCTL_BCR_FLR >> 8)) {
      this.bytes[devctlHi] &= ~(PCI_EXP_DEVCTL_BCR_FLR >> 8); // reads as 0
      effects.push({ kind: 'flr' });
    }
    const newState = this.powerState;
    if (newState !== oldState) {
      if (newState === 1 || newState === 2) {
        // D1/D2 are not supported: the state field keeps its value.
        this.bytes[CapOffset.PM + PM_CTRL] = (this.bytes[CapOffset.PM + PM_CTRL] & ~PM_CTRL_STATE_MASK) | oldState;
      } else effects.push({ kind: 'power-state', from: oldState, to: newState });
    }
    const data = CapOffset.PCI_CFG + VirtioPciCap.EXTRA;
    if (at >= data && at < data + 4) {
      const { bar, offset, length } = this.window();
      effects.push({ kind: 'pci-cfg-window', op: 'write', bar, offset, length, value: this.r(data, 4) });
    }
    return effects;
  }

  /** Function Level Reset of the configuration registers a driver can change. */
  resetFunction(): void {
    this.bytes[PciCfg.COMMAND] = 0;
    this.bytes[CapOffset.PM + PM_CTRL] &= ~PM_CTRL_STATE_MASK;
    this.bytes[CapOffset.PM + PM_CTRL + 1] = 0;
    this.bytes[CapOffset.MSIX + 3] &= ~0xc0;
    this.bytes.fill(0, CapOffset.PCI_CFG + VirtioPciCap.BAR, CapOffset.PCI_CFG + VirtioPciCap.BAR + 1);
    this.bytes.fill(0, CapOffset.PCI_CFG + VirtioPciCap.OFFSET, CapOffset.PCI_CFG + VirtioPciCap.EXTRA + 4);
  }
}
