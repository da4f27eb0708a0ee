import {
  MsixCap,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_EXT_CAP_ID_SRIOV,
  PCI_STATUS_INTERRUPT,
  PciCfg,
  SriovReg,
} from '../../protocol/pci.ts';
import type { RegisterWidth } from '../../protocol/member-port.ts';
import { CapOffset } from '../member/layout.ts';
import { type ConfigSideEffect, type PciIdentity, VfConfigSpace } from '../member/pci-config.ts';
import { PF_SRIOV_CAP, type PfFunction } from '../owner/pf-function.ts';
import { type BarDef, BarRegisters } from './bar.ts';

/** PCIe extended capability: Device Serial Number (ID 0x0003), a 64-bit EUI-64 after the header. */
export const PCI_EXT_CAP_ID_DSN = 0x0003;
export const PF_DSN_CAP = 0x140;
const BAR_REGS = PciCfg.BAR0;
const BAR_REGS_END = BAR_REGS + 24;
const INTERRUPT_LINE = 0x3c;
const INTERRUPT_PIN = 0x3d;
const SRIOV_VF_BARS = PF_SRIOV_CAP + SriovReg.BAR0;
const SRIOV_VF_BARS_END = SRIOV_VF_BARS + 24;
const SRIOV_END = PF_SRIOV_CAP + 0x40;
const SRIOV_CTRL = PF_SRIOV_CAP + SriovReg.CTRL;
const SRIOV_NUM_VF = PF_SRIOV_CAP + SriovReg.NUM_VF;

export interface PfConfigInit {
  identity: PciIdentity;
  deviceCfgLength: number;
  msixVectors: number;
  /** Where the MSI-X table and PBA live (BAR and offsets). */
  msix: { bar: number; table: number; pba: number };
  bars: BarDef[];
  /** The BARs each VF has, sized through the SR-IOV capability's VF BAR0..5. */
  vfBars: BarDef[];
  /** The reference device's SR-IOV registers: VF Enable and NumVFs live there, so the group follows them (GD13). */
  sriov: PfFunction;
  serialNumber: bigint;
  /** Whether the function's INTx is asserted (the Status register's Interrupt Status bit). */
  intxAsserted: () => boolean;
}

/**
 * The owner PF's configuration space. The standard part is the member layout (PM, PCI Express with FLR,
 * MSI-X, the virtio vendor capabilities and the PCI_CFG window, device/member/pci-config.ts), plus what a
 * PF has beyond a VF: Base Address Registers with sizing, Memory Space and INTx Disable in Command, an
 * interrupt pin, and in the extended space the SR-IOV capability (0x100) followed by a Device Serial
 * Number (0x140). SR-IOV Control and NumVFs are the reference device's own registers (PfFunction), so
 * VF Enable gates the group exactly as it does behind the plain simulator.
 */
export class PfConfigSpace extends VfConfigSpace {
  /** Replaceable so a PCI mutant can build a function whose BAR0 is not implemented. */
  bars: BarRegisters;
  vfBars: BarRegisters;
  private readonly sriov: PfFunction;
  private readonly intxAsserted: () => boolean;

  constructor(init: PfConfigInit) {
    super(init.identity, init.deviceCfgLength > 0, init.deviceCfgLength, init.msixVectors);
    this.sriov = init.sriov;
    this.intxAsserted = init.intxAsserted;
    this.bars = new BarRegisters(init.bars);
    this.vfBars = new BarRegisters(init.vfBars);
    this.writable[PciCfg.COMMAND] = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    this.writable[PciCfg.COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8;
    this.writable[INTERRUPT_LINE] = 0xff;
    this.bytes[INTERRUPT_PIN] = 1; // INTA#
    this.w32(CapOffset.MSIX + MsixCap.TABLE, init.msix.table | init.msix.bar);
    this.w32(CapOffset.MSIX + MsixCap.PBA, init.msix.pba | init.msix.bar);
    // Extended capabilities: SR-IOV (version 1) -> DSN (version 1) -> end.
    this.w32(PF_SRIOV_CAP, PCI_EXT_CAP_ID_SRIOV | (1 << 16) | (PF_DSN_CAP << 20));
    this.w32(PF_DSN_CAP, PCI_EXT_CAP_ID_DSN | (1 << 16));
    this.w32(PF_DSN_CAP + 4, Number(init.serialNumber & 0xffffffffn));
    this.w32(PF_DSN_CAP + 8, Number((init.serialNumber >> 32n) & 0xffffffffn));
  }

  get memorySpace(): boolean {
    return (this.bytes[PciCfg.COMMAND] & PCI_COMMAND_MEMORY) !== 0;
  }

  get intxDisabled(): boolean {
    return (this.bytes[PciCfg.COMMAND + 1] & (PCI_COMMAND_INTX_DISABLE >> 8)) !== 0;
  }

  get msixFunctionMask(): boolean {
    return (this.bytes[CapOffset.MSIX + 3] & 0x40) !== 0;
  }

  override read(at: number, width: RegisterWidth, windowRead: (bar: number, offset: number, length: number) => number): number {
    if (at >= BAR_REGS && at < BAR_REGS_END) return this.bars.readBytes(at - BAR_REGS, width);
    if (at >= SRIOV_VF_BARS && at < SRIOV_VF_BARS_END) return this.vfBars.readBytes(at - SRIOV_VF_BARS, width);
    // The SR-IOV registers after the header come from the reference device's PfFunction, byte by byte.
    if (at >= PF_SRIOV_CAP + 4 && at < SRIOV_END) {
      let v = 0;
      for (let i = 0; i < width; i++) v |= this.sriov.configRead(at + i, 1) << (8 * i);
      return v >>> 0;
    }
    const v = super.read(at, width, windowRead);
    if (at <= PciCfg.STATUS && at + width > PciCfg.STATUS && this.intxAsserted()) return (v | (PCI_STATUS_INTERRUPT << (8 * (PciCfg.STATUS - at)))) >>> 0;
    return v;
  }

  override write(at: number, width: RegisterWidth, value: number): ConfigSideEffect[] {
    if (at >= BAR_REGS && at < BAR_REGS_END) {
      this.bars.writeBytes(at - BAR_REGS, width, value);
      return [];
    }
    if (at >= SRIOV_VF_BARS && at < SRIOV_VF_BARS_END) {
      this.vfBars.writeBytes(at - SRIOV_VF_BARS, width, value);
      return [];
    }
    if (at >= PF_SRIOV_CAP && at < SRIOV_END) {
      this.writeSriov(SRIOV_CTRL, at, width, value);
      this.writeSriov(SRIOV_NUM_VF, at, width, value);
      return [];
    }
    return super.write(at, width, value);
  }

  /** Merges the bytes of a write that fall on the 16-bit register at `reg` and hands PfFunction a 16-bit write. */
  private writeSriov(reg: number, at: number, width: number, value: number): void {
    if (at + width <= reg || at >= reg + 2) return;
    let cur = this.sriov.configRead(reg, 2);
    for (let i = 0; i < width; i++) {
      const a = at + i;
      if (a < reg || a >= reg + 2) continue;
      const shift = 8 * (a - reg);
      cur = (cur & ~(0xff << shift)) | (((value >>> (8 * i)) & 0xff) << shift);
    }
    this.sriov.configWrite(reg, 2, cur & 0xffff);
  }

  /** FLR of the PF: the header (Command both bytes, BARs) and SR-IOV (VF Enable, VF MSE, NumVFs) go back to reset values. */
  override resetFunction(): void {
    super.resetFunction();
    this.bytes[PciCfg.COMMAND + 1] = 0;
    this.bars.reset();
    this.vfBars.reset();
    this.sriov.configWrite(SRIOV_CTRL, 2, 0);
    this.sriov.configWrite(SRIOV_NUM_VF, 2, 0);
  }
}
