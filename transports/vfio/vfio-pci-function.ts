import type { BarWidth, ConfigWidth, PciBarInfo, PciFunction } from '../../protocol/pci-function.ts';
import { findCapability } from '../../protocol/pci-capabilities.ts';
import { PCI_BAR_IO, PCI_BAR_MEM_PREFETCH, PCI_BAR_MEM_TYPE_64, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, PCI_EXP_DEVCTL, PciCapId, PciCfg, PM_CTRL } from '../../protocol/pci.ts';
import { TransportTimeoutError } from '../../protocol/transport-errors.ts';
import { SysError } from './sys/syscalls.ts';
import { VfioPciRegion } from './uapi/vfio-uapi.ts';
import type { VfioDevice } from './vfio-device.ts';

function le(b: Uint8Array): number {
  let v = 0;
  for (let i = b.length - 1; i >= 0; i--) v = v * 256 + b[i];
  return v;
}

function bytesOf(value: number, width: number): Uint8Array {
  const b = new Uint8Array(width);
  let v = value >>> 0;
  for (let i = 0; i < width; i++) {
    b[i] = v & 0xff;
    v >>>= 8;
  }
  return b;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A PciFunction over a VFIO device fd: config space (region 7) and BARs (regions 0-5) by pread/pwrite
 * at exact width, which vfio-pci turns into single config cycles and MMIO accesses with the right
 * barriers (and EIO rather than SIGBUS when decode is off); reset through VFIO_DEVICE_RESET.
 */
export class VfioPciFunction implements PciFunction {
  readonly address: string;
  readonly configSize: number;
  readonly bars: PciBarInfo[] = [];
  /** Whether 8-byte BAR accesses go through as one (kernels with 64-bit MMIO accessors, 2024+). */
  private wide = true;
  /**
   * Config registers whose writes vfio-pci may turn into a long operation inside the write: PCIe Device
   * Control (Initiate FLR: pci_try_reset_function) and PMCSR (a power-state change and its delays).
   */
  private slow?: Promise<Set<number>>;
  /** The last such write in flight: every later access of this function is ordered after it (posted-write rule). */
  private inflight: Promise<void> = Promise.resolve();

  constructor(
    readonly device: VfioDevice,
    private readonly resetMs: number,
  ) {
    this.address = device.bdf;
    this.configSize = Number(device.region(VfioPciRegion.CONFIG).size);
    for (let i = VfioPciRegion.BAR0; i <= VfioPciRegion.BAR5; i++) {
      const r = device.region(i);
      if (r.size === 0n) continue;
      const reg = le(device.read(VfioPciRegion.CONFIG, PciCfg.BAR0 + 4 * i, 4));
      const io = (reg & PCI_BAR_IO) !== 0;
      this.bars.push({ index: i, size: r.size, kind: io ? 'io' : 'memory', is64: !io && (reg & 0x6) === PCI_BAR_MEM_TYPE_64, prefetchable: !io && (reg & PCI_BAR_MEM_PREFETCH) !== 0 });
    }
    // Memory decode and bus mastering on before any BAR access or DMA (as DPDK and libvfn do).
    const cmd = le(device.read(VfioPciRegion.CONFIG, PciCfg.COMMAND, 2));
    if ((cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) !== (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) {
      device.write(VfioPciRegion.CONFIG, PciCfg.COMMAND, bytesOf(cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2));
    }
  }

  private checkAligned(offset: number, width: number, what: string): void {
    if (offset % width) throw new RangeError(`${this.address}: ${what} at 0x${offset.toString(16)} is not ${width}-byte aligned`);
  }

  private slowRegisters(): Promise<Set<number>> {
    this.slow ??= (async () => {
      const read = (o: number, w: 1 | 2 | 4) => Promise.resolve(le(this.device.read(VfioPciRegion.CONFIG, o, w)));
      const out = new Set<number>();
      const exp = await findCapability(read, PciCapId.EXP);
      const pm = await findCapability(read, PciCapId.PM);
      if (exp !== undefined) out.add(exp + PCI_EXP_DEVCTL);
      if (pm !== undefined) out.add(pm + PM_CTRL);
      return out;
    })();
    return this.slow;
  }

  async configRead(offset: number, width: ConfigWidth): Promise<number> {
    this.checkAligned(offset, width, 'config read');
    await this.inflight;
    return le(this.device.read(VfioPciRegion.CONFIG, offset, width));
  }

  async configWrite(offset: number, width: ConfigWidth, value: number): Promise<void> {
    this.checkAligned(offset, width, 'config write');
    await this.inflight;
    if ((await this.slowRegisters()).has(offset)) {
      const op = this.device.writeBlocking(VfioPciRegion.CONFIG, offset, bytesOf(value, width));
      this.inflight = op.catch(() => undefined);
      return op;
    }
    this.device.write(VfioPciRegion.CONFIG, offset, bytesOf(value, width));
  }

  async barRead(bar: number, offset: number, width: BarWidth): Promise<number> {
    this.checkAligned(offset, width, `BAR${bar} read`);
    await this.inflight;
    return le(this.device.read(bar, offset, width));
  }

  async barWrite(bar: number, offset: number, width: BarWidth, value: number): Promise<void> {
    this.checkAligned(offset, width, `BAR${bar} write`);
    await this.inflight;
    this.device.write(bar, offset, bytesOf(value, width));
  }

  async barRead64(bar: number, offset: number): Promise<bigint> {
    this.checkAligned(offset, 8, `BAR${bar} read`);
    await this.inflight;
    if (this.wide) {
      try {
        const b = this.device.read(bar, offset, 8);
        return new DataView(b.buffer).getBigUint64(0, true);
      } catch (e) {
        if (!(e instanceof SysError && e.code === 'EINVAL')) throw e;
        this.wide = false;
      }
    }
    const lo = le(this.device.read(bar, offset, 4));
    const hi = le(this.device.read(bar, offset + 4, 4));
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  async barWrite64(bar: number, offset: number, value: bigint): Promise<void> {
    this.checkAligned(offset, 8, `BAR${bar} write`);
    await this.inflight;
    if (this.wide) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
      try {
        this.device.write(bar, offset, b);
        return;
      } catch (e) {
        if (!(e instanceof SysError && e.code === 'EINVAL')) throw e;
        this.wide = false;
      }
    }
    this.device.write(bar, offset, bytesOf(Number(value & 0xffffffffn), 4));
    this.device.write(bar, offset + 4, bytesOf(Number((value >> 32n) & 0xffffffffn), 4));
  }

  /** VFIO_DEVICE_RESET off the event loop, then config reads until the function answers (PCIe: not all ones). */
  async reset(): Promise<void> {
    await this.inflight;
    await this.device.reset();
    const deadline = Date.now() + this.resetMs;
    for (;;) {
      try {
        if ((await this.configRead(PciCfg.VENDOR_ID, 2)) !== 0xffff) return;
      } catch (e) {
        if (!(e instanceof SysError)) throw e;
      }
      if (Date.now() >= deadline) throw new TransportTimeoutError(`${this.address}: configuration reads after VFIO_DEVICE_RESET`, this.resetMs);
      await sleep(10);
    }
  }

  async close(): Promise<void> {
    this.device.close();
  }
}
