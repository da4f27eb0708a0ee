/**
 * A small PCI function for the vfio layer's own tests (not a virtio device): PM, MSI-X and PCIe
 * capabilities, a 64-bit BAR0 with scratch registers, a DMA engine the test drives through BAR0, and
 * MSI-X messages that honour the enable, function mask and per-vector mask bits.
 */
import type { FakeBus, FakeEndpoint, FakeSriov } from '../../../transports/vfio/fake/fake-endpoint.ts';
import type { PciBarInfo } from '../../../protocol/pci-function.ts';

export const Reg = {
  SCRATCH32: 0x0,
  SCRATCH64: 0x8,
  DMA_ADDR: 0x10,
  DMA_LEN: 0x18,
  /** 1: write DMA_LEN bytes of 0x5a at DMA_ADDR; 2: read them. */
  DMA_GO: 0x1c,
  /** Writing v sends MSI-X vector v. */
  IRQ: 0x20,
} as const;

export const MSIX_AT = 0x50;
export const PM_AT = 0x40;
export const EXP_AT = 0x60;
export const TABLE_OFF = 0x1000;
export const VECTORS = 4;

export class TestEndpoint implements FakeEndpoint {
  readonly configSize = 4096;
  readonly bars: PciBarInfo[] = [{ index: 0, size: 0x4000n, kind: 'memory', is64: true, prefetchable: false }];
  readonly cfg = new Uint8Array(4096);
  readonly bar0 = new Uint8Array(0x4000);
  bus?: FakeBus;
  flrs = 0;
  lastRead?: Uint8Array;
  readonly cfgView = new DataView(this.cfg.buffer);
  private readonly barView = new DataView(this.bar0.buffer);

  constructor(
    readonly deviceId = 0x1042,
    readonly vendorId = 0x1af4,
  ) {
    this.initConfig();
  }

  private initConfig(): void {
    const v = this.cfgView;
    this.cfg.fill(0);
    v.setUint16(0, this.vendorId, true);
    v.setUint16(2, this.deviceId, true);
    v.setUint16(6, 0x10, true); // capability list
    v.setUint32(0x10, 0x4, true); // BAR0: 64-bit memory
    v.setUint8(0x34, PM_AT);
    // PM: id 1, next MSI-X; PMC with PME from D3hot.
    v.setUint8(PM_AT, 0x01);
    v.setUint8(PM_AT + 1, MSIX_AT);
    v.setUint16(PM_AT + 2, 0x4003, true);
    // MSI-X: id 0x11, next PCIe; table size 4, table at BAR0+0x1000, PBA at BAR0+0x1800.
    v.setUint8(MSIX_AT, 0x11);
    v.setUint8(MSIX_AT + 1, EXP_AT);
    v.setUint16(MSIX_AT + 2, VECTORS - 1, true);
    v.setUint32(MSIX_AT + 4, TABLE_OFF | 0, true);
    v.setUint32(MSIX_AT + 8, 0x1800 | 0, true);
    // PCIe: id 0x10, end; Device Capabilities with FLR.
    v.setUint8(EXP_AT, 0x10);
    v.setUint8(EXP_AT + 1, 0);
    v.setUint32(EXP_AT + 4, 0x10000000, true);
    for (let i = 0; i < VECTORS; i++) this.barView.setUint32(TABLE_OFF + 16 * i + 12, 1, true);
  }

  configRead(offset: number, width: 1 | 2 | 4): number {
    if (width === 4) return this.cfgView.getUint32(offset, true);
    if (width === 2) return this.cfgView.getUint16(offset, true);
    return this.cfg[offset];
  }

  configWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    // Read-only header fields stay put; the rest is plain storage.
    if (offset < 4 || (offset >= 0x10 && offset < 0x18)) return;
    if (width === 4) this.cfgView.setUint32(offset, value >>> 0, true);
    else if (width === 2) this.cfgView.setUint16(offset, value, true);
    else this.cfg[offset] = value;
  }

  barRead(bar: number, offset: number, width: 1 | 2 | 4 | 8): number | bigint {
    if (bar !== 0) return 0xffffffff;
    if (width === 8) return this.barView.getBigUint64(offset, true);
    if (width === 4) return this.barView.getUint32(offset, true);
    if (width === 2) return this.barView.getUint16(offset, true);
    return this.bar0[offset];
  }

  barWrite(bar: number, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): void {
    if (bar !== 0) return;
    if (width === 8) this.barView.setBigUint64(offset, BigInt(value), true);
    else if (width === 4) this.barView.setUint32(offset, Number(value) >>> 0, true);
    else if (width === 2) this.barView.setUint16(offset, Number(value), true);
    else this.bar0[offset] = Number(value);
    if (offset === Reg.DMA_GO && width === 4) this.dma(Number(value));
    if (offset === Reg.IRQ && width === 4) this.sendMsix(Number(value));
  }

  private dma(op: number): void {
    const addr = this.barView.getBigUint64(Reg.DMA_ADDR, true);
    const len = this.barView.getUint32(Reg.DMA_LEN, true);
    if (op === 1) this.bus?.dmaWrite(addr, new Uint8Array(len).fill(0x5a));
    if (op === 2) this.lastRead = this.bus?.dmaRead(addr, len);
  }

  sendMsix(vector: number): void {
    const ctrl = this.cfgView.getUint16(MSIX_AT + 2, true);
    if (!(ctrl & 0x8000) || ctrl & 0x4000 || vector >= VECTORS) return;
    if (this.barView.getUint32(TABLE_OFF + 16 * vector + 12, true) & 1) return;
    this.bus?.msix(this.barView.getUint32(TABLE_OFF + 16 * vector + 8, true));
  }

  async flr(): Promise<void> {
    this.flrs++;
    this.bar0.fill(0, 0, 0x100);
    this.initConfig();
  }

  connect(bus: FakeBus): void {
    this.bus = bus;
  }
}

/** A PF with `total` VFs of its own kind (each a TestEndpoint). */
export class TestSriov implements FakeSriov {
  readonly vfDeviceId = 0x1042;
  readonly offset = 1;
  readonly stride = 1;
  vfs: TestEndpoint[] = [];
  constructor(readonly totalVfs = 2) {}
  enable(n: number): { vfs: TestEndpoint[] } {
    this.vfs = Array.from({ length: n }, () => new TestEndpoint(this.vfDeviceId));
    return { vfs: this.vfs };
  }
  disable(): void {
    this.vfs = [];
  }
}
