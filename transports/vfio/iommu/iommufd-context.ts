import { SysfsPci } from '../host/sysfs-pci.ts';
import { MAP_ANONYMOUS, MAP_SHARED, type MappedMemory, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE, type Syscalls, SysError } from '../sys/syscalls.ts';
import * as U from '../uapi/vfio-uapi.ts';
import { VfioDevice } from '../vfio-device.ts';
import type { IommuContext, IovaRange } from './iommu-context.ts';

/**
 * The iommufd + device cdev flow (Linux 6.6+, reference section 3): one IOAS for the PF and its VFs,
 * each device bound to the iommufd (with the VF token where the PF is on vfio-pci) and attached to it.
 */
export class IommufdContext implements IommuContext {
  readonly flow = 'iommufd' as const;
  pageSize = 4096;
  ranges: IovaRange[] = [];
  private readonly iommufd: number;
  private readonly ioas: number;
  private readonly devices: VfioDevice[] = [];
  /** Native memory for the arguments the kernel reads through pointers (token, IOVA range array). */
  private readonly scratch: MappedMemory;
  private readonly pci: SysfsPci;

  constructor(private readonly sys: Syscalls) {
    this.pci = new SysfsPci(sys);
    this.iommufd = sys.open('/dev/iommu', O_RDWR | O_CLOEXEC);
    try {
      this.scratch = sys.mmap(4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      const b = U.ioasAlloc.encode();
      sys.ioctl(this.iommufd, U.IommufdIoctl.IOAS_ALLOC, b);
      this.ioas = U.ioasAlloc.id(b);
    } catch (e) {
      sys.close(this.iommufd);
      throw e;
    }
  }

  private readRanges(): void {
    const probe = U.ioasIovaRanges.encode(this.ioas, 0, 0n);
    let n = 0;
    try {
      this.sys.ioctl(this.iommufd, U.IommufdIoctl.IOAS_IOVA_RANGES, probe);
    } catch (e) {
      if (!(e instanceof SysError && e.code === 'EMSGSIZE')) throw e;
    }
    const first = U.ioasIovaRanges.decode(probe);
    n = first.numIovas;
    if (16 * n > this.scratch.length) throw new Error(`iommufd reports ${n} IOVA ranges; more than this tool reads`);
    const b = U.ioasIovaRanges.encode(this.ioas, n, this.scratch.addr);
    this.sys.ioctl(this.iommufd, U.IommufdIoctl.IOAS_IOVA_RANGES, b);
    const out = U.ioasIovaRanges.decode(b);
    const v = new DataView(this.scratch.bytes.buffer, this.scratch.bytes.byteOffset);
    this.ranges = [];
    for (let i = 0; i < out.numIovas; i++) this.ranges.push({ start: v.getBigUint64(16 * i, true), end: v.getBigUint64(16 * i + 8, true) });
    if (out.alignment > 0n) this.pageSize = Math.max(4096, Number(out.alignment));
  }

  openDevice(bdf: string, vfToken?: string): VfioDevice {
    const cdev = this.pci.vfioCdev(bdf);
    if (!cdev) throw new Error(`${bdf} has no vfio cdev (is it bound to vfio-pci, on a kernel with CONFIG_VFIO_DEVICE_CDEV?)`);
    let fd: number;
    try {
      fd = this.sys.open(`/dev/vfio/devices/${cdev}`, O_RDWR | O_CLOEXEC);
    } catch (e) {
      if (e instanceof SysError && e.code === 'EBUSY') throw new Error(`${bdf} is open in another process`);
      throw e;
    }
    try {
      let tokenPtr: bigint | undefined;
      if (vfToken) {
        this.scratch.bytes.set(U.uuidBytes(vfToken), 0);
        tokenPtr = this.scratch.addr;
      }
      this.sys.ioctl(fd, U.VfioIoctl.DEVICE_BIND_IOMMUFD, U.bindIommufd.encode(this.iommufd, tokenPtr));
      this.sys.ioctl(fd, U.VfioIoctl.DEVICE_ATTACH_IOMMUFD_PT, U.attachIommufdPt.encode(this.ioas));
    } catch (e) {
      this.sys.close(fd);
      throw e;
    }
    // The valid ranges narrow with every attached device.
    this.readRanges();
    const d = new VfioDevice(this.sys, fd, bdf);
    this.devices.push(d);
    return d;
  }

  map(mem: MappedMemory, iova: bigint): void {
    const flags = U.IOMMU_IOAS_MAP_FIXED_IOVA | U.IOMMU_IOAS_MAP_READABLE | U.IOMMU_IOAS_MAP_WRITEABLE;
    this.sys.ioctl(this.iommufd, U.IommufdIoctl.IOAS_MAP, U.ioasMap.encode({ flags, ioasId: this.ioas, userVa: mem.addr, length: BigInt(mem.length), iova }));
  }

  unmap(iova: bigint, length: number): void {
    this.sys.ioctl(this.iommufd, U.IommufdIoctl.IOAS_UNMAP, U.ioasUnmap.encode(this.ioas, iova, BigInt(length)));
  }

  close(): void {
    const errors: unknown[] = [];
    for (const d of this.devices.splice(0)) {
      try {
        d.close();
      } catch (e) {
        errors.push(e);
      }
    }
    try {
      this.sys.ioctl(this.iommufd, U.IommufdIoctl.DESTROY, U.iommuDestroy.encode(this.ioas));
    } catch (e) {
      errors.push(e);
    }
    this.sys.close(this.iommufd);
    this.sys.munmap(this.scratch);
    if (errors.length) throw errors[0];
  }
}
