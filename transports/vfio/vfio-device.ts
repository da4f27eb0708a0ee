import type { Syscalls } from './sys/syscalls.ts';
import { SysError } from './sys/syscalls.ts';
import * as U from './uapi/vfio-uapi.ts';

/**
 * One VFIO device fd (from a group or a bound cdev): device, region and IRQ info, region access with
 * pread/pwrite at exact width, SET_IRQS, the VF token, and VFIO_DEVICE_RESET off the event loop.
 */
export class VfioDevice {
  readonly info: U.DeviceInfo;
  private readonly regions = new Map<number, U.RegionInfo>();
  private closed = false;

  constructor(
    readonly sys: Syscalls,
    readonly fd: number,
    readonly bdf: string,
    /** Closes what the device was opened through (a cdev's iommufd binding goes with the fd). */
    private readonly onClose: () => void = () => {},
  ) {
    const b = U.deviceInfo.encode();
    sys.ioctl(fd, U.VfioIoctl.DEVICE_GET_INFO, b);
    this.info = U.deviceInfo.decode(b);
    if (!(this.info.flags & U.DEVICE_FLAGS_PCI)) throw new Error(`${bdf}: the VFIO device is not a vfio-pci device (flags 0x${this.info.flags.toString(16)})`);
  }

  get canReset(): boolean {
    return (this.info.flags & U.DEVICE_FLAGS_RESET) !== 0;
  }

  region(index: number): U.RegionInfo {
    let r = this.regions.get(index);
    if (r) return r;
    let b = U.regionInfo.encode(index);
    this.sys.ioctl(this.fd, U.VfioIoctl.DEVICE_GET_REGION_INFO, b);
    r = U.regionInfo.decode(b);
    // Capabilities that did not fit: the kernel said how much it needs; ask again with that much.
    if (r.flags & U.REGION_INFO_FLAG_CAPS && r.needed > b.length) {
      b = U.regionInfo.encode(index, r.needed);
      this.sys.ioctl(this.fd, U.VfioIoctl.DEVICE_GET_REGION_INFO, b);
      r = U.regionInfo.decode(b);
    }
    this.regions.set(index, r);
    return r;
  }

  irqInfo(index: number): U.IrqInfo {
    const b = U.irqInfo.encode(index);
    this.sys.ioctl(this.fd, U.VfioIoctl.DEVICE_GET_IRQ_INFO, b);
    return U.irqInfo.decode(b);
  }

  setIrqs(s: U.IrqSet): void {
    this.sys.ioctl(this.fd, U.VfioIoctl.DEVICE_SET_IRQS, U.irqSet.encode(s));
  }

  /** pread of `len` bytes at `off` in a region, one call (the kernel does one access of that width). */
  read(index: number, off: number, len: number): Uint8Array {
    const r = this.region(index);
    if (off < 0 || BigInt(off + len) > r.size) throw new RangeError(`${this.bdf}: region ${index} access at 0x${off.toString(16)}+${len} is outside its ${r.size} bytes`);
    const buf = new Uint8Array(len);
    const n = this.sys.pread(this.fd, buf, Number(r.offset) + off);
    if (n !== len) throw new SysError('pread', 'EIO', 5, `${n} of ${len} bytes`);
    return buf;
  }

  write(index: number, off: number, data: Uint8Array): void {
    const r = this.region(index);
    if (off < 0 || BigInt(off + data.length) > r.size) throw new RangeError(`${this.bdf}: region ${index} access at 0x${off.toString(16)}+${data.length} is outside its ${r.size} bytes`);
    const n = this.sys.pwrite(this.fd, data, Number(r.offset) + off);
    if (n !== data.length) throw new SysError('pwrite', 'EIO', 5, `${n} of ${data.length} bytes`);
  }

  /** A write the kernel may take long over (an FLR or a power-state change inside a config write), off the event loop. */
  async writeBlocking(index: number, off: number, data: Uint8Array): Promise<void> {
    const r = this.region(index);
    if (off < 0 || BigInt(off + data.length) > r.size) throw new RangeError(`${this.bdf}: region ${index} access at 0x${off.toString(16)}+${data.length} is outside its ${r.size} bytes`);
    const n = await this.sys.pwriteBlocking(this.fd, data, Number(r.offset) + off);
    if (n !== data.length) throw new SysError('pwrite', 'EIO', 5, `${n} of ${data.length} bytes`);
  }

  /** Installs a known VF token on a PF (VFIO_DEVICE_FEATURE PCI_VF_TOKEN, SET). */
  setVfToken(uuid: string): void {
    this.sys.ioctl(this.fd, U.VfioIoctl.DEVICE_FEATURE, U.vfTokenFeature(uuid));
  }

  /** VFIO_DEVICE_RESET (FLR, PM or a contained bus reset as the kernel chooses); blocks, so it runs off the event loop. */
  async reset(): Promise<void> {
    if (!this.canReset) throw new Error(`${this.bdf}: the kernel offers no reset for this device (VFIO_DEVICE_FLAGS_RESET clear)`);
    await this.sys.ioctlBlocking(this.fd, U.VfioIoctl.DEVICE_RESET);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.sys.close(this.fd);
    } finally {
      this.onClose();
    }
  }
}
