import { SysfsPci } from '../host/sysfs-pci.ts';
import { type MappedMemory, O_CLOEXEC, O_RDWR, type Syscalls, SysError } from '../sys/syscalls.ts';
import * as U from '../uapi/vfio-uapi.ts';
import { VfioDevice } from '../vfio-device.ts';
import type { IommuContext, IovaRange } from './iommu-context.ts';

/**
 * The legacy container/group flow (reference section 2): one container holds every group the run
 * opens, so the PF and its VFs share one IOVA space and one set of mappings. Type1v2 when the kernel
 * has it, type1 otherwise.
 */
export class GroupContainer implements IommuContext {
  readonly flow = 'group' as const;
  pageSize = 4096;
  ranges: IovaRange[] = [];
  private readonly container: number;
  private readonly groups = new Map<number, number>();
  private readonly devices: VfioDevice[] = [];
  private iommuType = 0;
  private readonly pci: SysfsPci;

  constructor(private readonly sys: Syscalls) {
    this.pci = new SysfsPci(sys);
    this.container = sys.open('/dev/vfio/vfio', O_RDWR | O_CLOEXEC);
    try {
      const v = sys.ioctl(this.container, U.VfioIoctl.GET_API_VERSION);
      if (v !== U.VFIO_API_VERSION) throw new Error(`VFIO API version ${v}; this tool speaks ${U.VFIO_API_VERSION}`);
      if (sys.ioctl(this.container, U.VfioIoctl.CHECK_EXTENSION, U.VfioIommuType.TYPE1v2) > 0) this.iommuType = U.VfioIommuType.TYPE1v2;
      else if (sys.ioctl(this.container, U.VfioIoctl.CHECK_EXTENSION, U.VfioIommuType.TYPE1) > 0) this.iommuType = U.VfioIommuType.TYPE1;
      else throw new Error('the VFIO container offers neither type1v2 nor type1 IOMMU (an IOMMU-less host is not supported: the suite needs the IOMMU to keep the card off host memory)');
    } catch (e) {
      sys.close(this.container);
      throw e;
    }
  }

  private group(bdf: string): number {
    const n = this.pci.iommuGroup(bdf);
    if (n === undefined) throw new Error(`${bdf} has no IOMMU group (is the IOMMU on?)`);
    let fd = this.groups.get(n);
    if (fd !== undefined) return fd;
    try {
      fd = this.sys.open(`/dev/vfio/${n}`, O_RDWR | O_CLOEXEC);
    } catch (e) {
      if (e instanceof SysError && e.code === 'EBUSY') throw new Error(`IOMMU group ${n} of ${bdf} is open in another process (another run, or a VM using the card)`);
      throw e;
    }
    const st = U.groupStatus.encode();
    this.sys.ioctl(fd, U.VfioIoctl.GROUP_GET_STATUS, st);
    if (!(U.groupStatus.flags(st) & U.GROUP_FLAGS_VIABLE)) {
      this.sys.close(fd);
      throw new Error(`IOMMU group ${n} of ${bdf} is not viable: another member still has a host driver (${this.pci.groupMembers(n).join(', ')})`);
    }
    this.sys.ioctl(fd, U.VfioIoctl.GROUP_SET_CONTAINER, U.containerFdArg(this.container));
    this.groups.set(n, fd);
    if (this.groups.size === 1) {
      this.sys.ioctl(this.container, U.VfioIoctl.SET_IOMMU, this.iommuType);
      this.readInfo();
    }
    return fd;
  }

  private readInfo(): void {
    let b = U.iommuType1Info.encode();
    this.sys.ioctl(this.container, U.VfioIoctl.IOMMU_GET_INFO, b);
    let info = U.iommuType1Info.decode(b);
    if (info.flags & U.IOMMU_INFO_CAPS && info.needed > b.length) {
      b = U.iommuType1Info.encode(info.needed);
      this.sys.ioctl(this.container, U.VfioIoctl.IOMMU_GET_INFO, b);
      info = U.iommuType1Info.decode(b);
    }
    if (info.flags & U.IOMMU_INFO_PGSIZES && info.pgsizes) {
      const low = info.pgsizes & -info.pgsizes;
      this.pageSize = Number(low);
    }
    this.ranges = info.ranges.length ? info.ranges : [{ start: 0n, end: (1n << 39n) - 1n }];
  }

  openDevice(bdf: string, vfToken?: string): VfioDevice {
    const g = this.group(bdf);
    const fd = this.sys.ioctl(g, U.VfioIoctl.GROUP_GET_DEVICE_FD, U.deviceNameArg(bdf, vfToken));
    const d = new VfioDevice(this.sys, fd, bdf);
    this.devices.push(d);
    return d;
  }

  map(mem: MappedMemory, iova: bigint): void {
    this.sys.ioctl(this.container, U.VfioIoctl.IOMMU_MAP_DMA, U.dmaMap.encode({ flags: U.DMA_MAP_FLAG_READ | U.DMA_MAP_FLAG_WRITE, vaddr: mem.addr, iova, size: BigInt(mem.length) }));
  }

  unmap(iova: bigint, length: number): void {
    this.sys.ioctl(this.container, U.VfioIoctl.IOMMU_UNMAP_DMA, U.dmaUnmap.encode(iova, BigInt(length)));
  }

  close(): void {
    // Devices first, then groups (which leave the container on close), then the container.
    const errors: unknown[] = [];
    for (const d of this.devices.splice(0)) {
      try {
        d.close();
      } catch (e) {
        errors.push(e);
      }
    }
    for (const fd of this.groups.values()) {
      try {
        this.sys.close(fd);
      } catch (e) {
        errors.push(e);
      }
    }
    this.groups.clear();
    this.sys.close(this.container);
    if (errors.length) throw errors[0];
  }
}
