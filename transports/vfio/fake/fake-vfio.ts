import { MSIX_BIR_MASK, MSIX_CTRL_ENABLE, MSIX_CTRL_TABLE_SIZE, MSIX_ENTRY_SIZE, MsixCap, PCI_COMMAND_MEMORY, PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PciCapId, PciCfg } from '../../../protocol/pci.ts';
import { sysError } from '../sys/syscalls.ts';
import * as U from '../uapi/vfio-uapi.ts';
import type { FakeBus, FakeEndpoint } from './fake-endpoint.ts';
import type { FakeFile, FakeFs } from './fake-fs.ts';
import { FakeIommuDomain, type FakeMemory, type IommuFault } from './fake-iommu.ts';
import type { FakeFunction, FakePciBus } from './fake-pci-bus.ts';

/** An eventfd object as the kernel holds it (a reference that outlives the user's fd number). */
export interface FakeEventfdRef {
  signal(): void;
}

/** What the fake vfio needs from the rest of the fake kernel. */
export interface FakeKernel {
  fs: FakeFs;
  bus: FakePciBus;
  fileOf(fd: number): FakeFile | undefined;
  /** A new fd number for a file the kernel opened (VFIO_GROUP_GET_DEVICE_FD). */
  installFd(file: FakeFile): number;
  eventfdOf(fd: number): FakeEventfdRef | undefined;
  memoryAt(vaddr: bigint, length: bigint): { mem: FakeMemory; offset: number } | undefined;
  /** copy_from_user / copy_to_user: EFAULT outside process memory. */
  userRead(addr: bigint, len: number): Uint8Array;
  userWrite(addr: bigint, data: Uint8Array): void;
  /** A kernel log record (/dev/kmsg). */
  log(level: number, text: string): void;
  noiommu: boolean;
}

const REGION_SHIFT = 40n;

/**
 * The fake kernel's pci_find_capability: synchronous, as the kernel's config cycles are (the driver
 * side uses protocol/pci-capabilities). At most 48 hops, like Linux.
 */
function kernelFindCapability(ep: FakeEndpoint, id: number): number | undefined {
  if (!(ep.configRead(PciCfg.STATUS, 2) & 0x10)) return undefined;
  let at = ep.configRead(PciCfg.CAPABILITY_LIST, 1) & 0xfc;
  for (let hops = 0; at >= 0x40 && hops < 48; hops++) {
    if (ep.configRead(at, 1) === id) return at;
    at = ep.configRead(at + 1, 1) & 0xfc;
  }
  return undefined;
}

function regionOf(offset: number): { index: number; off: number } {
  const o = BigInt(offset);
  return { index: Number(o >> REGION_SHIFT), off: Number(o & ((1n << REGION_SHIFT) - 1n)) };
}

/** Extended capabilities whose writes vfio-pci passes to the device (AER, vendor-specific, DVSEC); writes to the rest (SR-IOV among them) are dropped. */
const WRITABLE_ECAPS = new Set([0x0001, 0x000b, 0x0023]);

/** The id of the extended capability that holds `offset` (the one starting last at or before it). */
function kernelExtCapAt(ep: FakeEndpoint, offset: number): number | undefined {
  let found: number | undefined;
  for (let at = 0x100, hops = 0; at >= 0x100 && at + 4 <= ep.configSize && hops < 480; hops++) {
    const hdr = ep.configRead(at, 4) >>> 0;
    if (hdr === 0 || hdr === 0xffffffff) break;
    if (at <= offset) found = hdr & 0xffff;
    const next = (hdr >>> 20) & 0xffc;
    if (next <= at) break;
    at = next;
  }
  return found;
}

/** The DMAR fault line Intel's IOMMU driver logs (the transport parses these from /dev/kmsg). */
export function dmarFaultLine(f: IommuFault): string {
  const [, bus, df] = f.bdf.split(':');
  const reason = f.kind === 'write' ? '[fault reason 0x05] PTE Write access is not set' : '[fault reason 0x06] PTE Read access is not set';
  return `DMAR: [DMA ${f.kind === 'write' ? 'Write' : 'Read'} NO_PASID] Request device [${bus}:${df}] fault addr 0x${f.iova.toString(16)} ${reason}`;
}

class Container {
  domain?: FakeIommuDomain;
  type = 0;
  groups = new Set<GroupState>();
}

interface GroupState {
  id: number;
  open: boolean;
  container?: Container;
}

/** One vfio-pci device as the fake kernel keeps it: its domain, IRQ routing, virtualized MSI-X control. */
class DeviceState implements FakeBus {
  domain?: FakeIommuDomain;
  msixFds: (FakeEventfdRef | undefined)[] = [];
  intxFd?: FakeEventfdRef;
  errFd?: FakeEventfdRef;
  reqFd?: FakeEventfdRef;
  /** The MSI-X Message Control the user sees (vfio emulates the enable bits). */
  msixCtrlVirtual = 0;
  msixCap?: number;
  msixTable?: { bar: number; offset: number; size: number };
  /** VFs do not implement Command.Memory; vfio-pci emulates it (and never gates BAR access on it). */
  cmdMemoryVirtual = 0;
  expCap?: number;

  constructor(
    readonly fn: FakeFunction,
    readonly ep: FakeEndpoint,
    private readonly fault: (f: IommuFault) => void,
  ) {
    this.msixCap = kernelFindCapability(ep, PciCapId.MSIX);
    this.expCap = kernelFindCapability(ep, PciCapId.EXP);
    if (this.msixCap !== undefined) {
      const ctrl = ep.configRead(this.msixCap + MsixCap.CTRL, 2);
      const table = ep.configRead(this.msixCap + MsixCap.TABLE, 4);
      this.msixCtrlVirtual = ctrl & ~MSIX_CTRL_ENABLE;
      this.msixTable = { bar: table & MSIX_BIR_MASK, offset: table & ~MSIX_BIR_MASK, size: ((ctrl & MSIX_CTRL_TABLE_SIZE) + 1) * MSIX_ENTRY_SIZE };
    }
    ep.connect(this);
  }

  get msixCount(): number {
    return this.msixTable ? this.msixTable.size / MSIX_ENTRY_SIZE : 0;
  }

  dmaRead(iova: bigint, len: number): Uint8Array {
    if (!this.domain) {
      this.fault({ bdf: this.fn.bdf, kind: 'read', iova, len });
      return new Uint8Array(len).fill(0xff);
    }
    return this.domain.read(this.fn.bdf, iova, len);
  }

  dmaWrite(iova: bigint, data: Uint8Array): void {
    if (!this.domain) return this.fault({ bdf: this.fn.bdf, kind: 'write', iova, len: data.length });
    this.domain.write(this.fn.bdf, iova, data);
  }

  msix(vector: number): void {
    this.msixFds[vector]?.signal();
  }

  intx(): void {
    this.intxFd?.signal();
  }

  /** The kernel's side of SET_IRQS for MSI-X: program the table and the enable bit of the real device. */
  applyMsix(): void {
    if (this.msixCap === undefined || !this.msixTable) return;
    const on = this.msixFds.some((f) => f);
    const ctrl = this.ep.configRead(this.msixCap + MsixCap.CTRL, 2);
    if (on) {
      for (let v = 0; v < this.msixCount; v++) {
        const e = this.msixTable.offset + v * MSIX_ENTRY_SIZE;
        this.ep.barWrite(this.msixTable.bar, e, 4, 0xfee00000);
        this.ep.barWrite(this.msixTable.bar, e + 4, 4, 0);
        this.ep.barWrite(this.msixTable.bar, e + 8, 4, v);
        this.ep.barWrite(this.msixTable.bar, e + 12, 4, this.msixFds[v] ? 0 : 1);
      }
    }
    this.ep.configWrite(this.msixCap + MsixCap.CTRL, 2, on ? ctrl | MSIX_CTRL_ENABLE : ctrl & ~MSIX_CTRL_ENABLE);
  }

  inMsixTable(bar: number, off: number, width: number): boolean {
    const t = this.msixTable;
    return !!t && t.bar === bar && off < t.offset + t.size && t.offset < off + width;
  }
}

/**
 * /dev/vfio/vfio, /dev/vfio/<group>, /dev/vfio/devices/vfioX and /dev/iommu of the fake host: the
 * ioctls of the container/group flow and the iommufd/cdev flow with the kernel's checks (argsz, group
 * viability, one open per group, VF token rules), config and BAR access through the device fd with
 * vfio-pci's virtualization (MSI-X enable bits and table, memory decode), IRQs to eventfds, and reset.
 */
export class FakeVfio {
  private readonly groups = new Map<number, GroupState>();
  private readonly devices = new Map<string, DeviceState>();
  private readonly ioas = new Map<number, FakeIommuDomain>();
  private nextIoas = 1;
  private nextDevid = 1;

  constructor(private readonly k: FakeKernel) {
    // The nodes exist once vfio-pci (and with it vfio and iommufd) is loaded.
    if (k.bus.opts.vfioPci) k.fs.dev('/dev/vfio/vfio', () => this.openContainer());
    k.bus.onVfioBind = (f, bound) => this.onBind(f, bound);
    if (k.bus.opts.cdev && k.bus.opts.vfioPci) k.fs.dev('/dev/iommu', () => this.openIommufd());
  }

  private newDomain(strict = true): FakeIommuDomain {
    return new FakeIommuDomain((va, len) => this.k.memoryAt(va, len), (f) => this.fault(f), strict);
  }

  /** What the hardware reports for a refused DMA: a DMAR record in the kernel log, and AER status of the requester. */
  fault(f: IommuFault): void {
    this.k.log(3, dmarFaultLine(f));
    const fn = this.k.bus.fns.get(f.bdf);
    if (fn) fn.aerNonfatal++;
  }

  private onBind(f: FakeFunction, bound: boolean): void {
    const node = this.k.noiommu ? `/dev/vfio/noiommu-${f.group}` : `/dev/vfio/${f.group}`;
    if (bound) {
      if (this.k.bus.opts.iommu || this.k.noiommu) this.k.fs.dev(node, () => this.openGroup(f.group));
      if (f.cdev !== undefined) this.k.fs.dev(`/dev/vfio/devices/vfio${f.cdev}`, () => this.openCdev(f));
    } else {
      this.devices.delete(f.bdf);
      this.k.fs.remove(`/dev/vfio/devices`);
      for (const o of this.k.bus.fns.values()) if (o.cdev !== undefined) this.k.fs.dev(`/dev/vfio/devices/vfio${o.cdev}`, () => this.openCdev(o));
      if (!this.k.bus.groupMembers(f.group).some((m) => m.driver === 'vfio-pci')) this.k.fs.remove(node);
    }
  }

  // ---- container ------------------------------------------------------------------------------------

  private openContainer(): FakeFile & { container: Container } {
    const c = new Container();
    const file = {
      container: c,
      ioctl: (req: number, arg: Uint8Array | number | undefined): number => {
        switch (req) {
          case U.VfioIoctl.GET_API_VERSION:
            return U.VFIO_API_VERSION;
          case U.VfioIoctl.CHECK_EXTENSION: {
            const id = Number(arg);
            if (this.k.noiommu) return id === U.VfioIommuType.NOIOMMU ? 1 : 0;
            return id === U.VfioIommuType.TYPE1 || id === U.VfioIommuType.TYPE1v2 || id === U.VfioIommuType.UNMAP_ALL ? 1 : 0;
          }
          case U.VfioIoctl.SET_IOMMU: {
            const t = Number(arg);
            if (!c.groups.size || c.type) throw sysError('VFIO_SET_IOMMU', 'EINVAL', c.type ? 'already set' : 'no group attached');
            const ok = this.k.noiommu ? t === U.VfioIommuType.NOIOMMU : t === U.VfioIommuType.TYPE1 || t === U.VfioIommuType.TYPE1v2;
            if (!ok) throw sysError('VFIO_SET_IOMMU', 'ENODEV');
            c.type = t;
            if (t !== U.VfioIommuType.NOIOMMU) c.domain = this.newDomain(t === U.VfioIommuType.TYPE1v2);
            this.attachContainerDevices(c);
            return 0;
          }
          case U.VfioIoctl.IOMMU_GET_INFO: {
            const b = this.ptr(arg, 16, 'VFIO_IOMMU_GET_INFO');
            if (!c.domain) throw sysError('VFIO_IOMMU_GET_INFO', 'EINVAL');
            const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
            const capSize = 16 + 16 * c.domain.ranges.length;
            const need = 24 + capSize;
            v.setUint32(4, U.IOMMU_INFO_PGSIZES | U.IOMMU_INFO_CAPS, true);
            v.setBigUint64(8, 0x40201000n, true);
            if (U.argsz(b) < need || b.length < need) {
              v.setUint32(0, need, true);
              if (b.length >= 24) v.setUint32(16, 0, true);
              return 0;
            }
            v.setUint32(16, 24, true);
            v.setUint16(24, U.IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, true);
            v.setUint16(26, 1, true);
            v.setUint32(28, 0, true);
            v.setUint32(32, c.domain.ranges.length, true);
            c.domain.ranges.forEach((r, i) => {
              v.setBigUint64(40 + 16 * i, r.start, true);
              v.setBigUint64(48 + 16 * i, r.end, true);
            });
            return 0;
          }
          case U.VfioIoctl.IOMMU_MAP_DMA: {
            const b = this.ptr(arg, U.dmaMap.size, 'VFIO_IOMMU_MAP_DMA');
            if (!c.domain) throw sysError('VFIO_IOMMU_MAP_DMA', 'EINVAL', 'no IOMMU model set');
            const m = U.dmaMap.decode(b);
            c.domain.map(m.vaddr, m.iova, m.size, !!(m.flags & U.DMA_MAP_FLAG_READ), !!(m.flags & U.DMA_MAP_FLAG_WRITE));
            return 0;
          }
          case U.VfioIoctl.IOMMU_UNMAP_DMA: {
            const b = this.ptr(arg, U.dmaUnmap.size, 'VFIO_IOMMU_UNMAP_DMA');
            if (!c.domain) throw sysError('VFIO_IOMMU_UNMAP_DMA', 'EINVAL');
            const u = U.dmaUnmap.decode(b);
            const n = u.flags & U.DMA_UNMAP_FLAG_ALL ? c.domain.unmapAll() : c.domain.unmap(u.iova, u.size);
            new DataView(b.buffer, b.byteOffset).setBigUint64(16, n, true);
            return 0;
          }
        }
        throw sysError(`ioctl 0x${req.toString(16)} on a container`, 'ENOTTY');
      },
      close: () => {
        for (const g of c.groups) g.container = undefined;
        c.groups.clear();
        c.domain?.unmapAll();
      },
    };
    return file;
  }

  private attachContainerDevices(c: Container): void {
    for (const d of this.devices.values()) {
      const g = this.groups.get(d.fn.group);
      if (g && g.container === c) d.domain = c.domain;
    }
  }

  private ptr(arg: Uint8Array | number | undefined, minsz: number, what: string): Uint8Array {
    if (!(arg instanceof Uint8Array)) throw sysError(what, 'EFAULT');
    if (arg.length < minsz || U.argsz(arg) < minsz) throw sysError(what, 'EINVAL', `argsz ${U.argsz(arg)} is below ${minsz}`);
    return arg;
  }

  // ---- group ----------------------------------------------------------------------------------------

  private openGroup(id: number): FakeFile {
    let g = this.groups.get(id);
    if (!g) {
      g = { id, open: false };
      this.groups.set(id, g);
    }
    if (g.open) throw sysError(`open /dev/vfio/${id}`, 'EBUSY', 'the group is open elsewhere');
    if (this.k.noiommu && !this.k.bus.opts.iommu && !this.k.fs.exists('/proc/self')) throw sysError('open', 'EPERM');
    g.open = true;
    const group = g;
    const opened: DeviceState[] = [];
    return {
      ioctl: (req, arg) => {
        switch (req) {
          case U.VfioIoctl.GROUP_GET_STATUS: {
            const b = this.ptr(arg, U.groupStatus.size, 'VFIO_GROUP_GET_STATUS');
            const flags = (this.k.bus.groupViable(id) ? U.GROUP_FLAGS_VIABLE : 0) | (group.container ? U.GROUP_FLAGS_CONTAINER_SET : 0);
            new DataView(b.buffer, b.byteOffset).setUint32(4, flags, true);
            return 0;
          }
          case U.VfioIoctl.GROUP_SET_CONTAINER: {
            if (!(arg instanceof Uint8Array) || arg.length < 4) throw sysError('VFIO_GROUP_SET_CONTAINER', 'EFAULT');
            if (group.container) throw sysError('VFIO_GROUP_SET_CONTAINER', 'EINVAL', 'already in a container');
            if (!this.k.bus.groupViable(id)) throw sysError('VFIO_GROUP_SET_CONTAINER', 'EPERM', 'group not viable');
            const cfd = new DataView(arg.buffer, arg.byteOffset).getInt32(0, true);
            const cf = this.k.fileOf(cfd) as (FakeFile & { container?: Container }) | undefined;
            if (!cf?.container) throw sysError('VFIO_GROUP_SET_CONTAINER', 'EBADF');
            group.container = cf.container;
            cf.container.groups.add(group);
            this.attachContainerDevices(cf.container);
            return 0;
          }
          case U.VfioIoctl.GROUP_UNSET_CONTAINER:
            if (!group.container) throw sysError('VFIO_GROUP_UNSET_CONTAINER', 'EINVAL');
            group.container.groups.delete(group);
            group.container = undefined;
            return 0;
          case U.VfioIoctl.GROUP_GET_DEVICE_FD: {
            if (!(arg instanceof Uint8Array)) throw sysError('VFIO_GROUP_GET_DEVICE_FD', 'EFAULT');
            if (!group.container?.type) throw sysError('VFIO_GROUP_GET_DEVICE_FD', 'EINVAL', 'the group has no container with an IOMMU model');
            const [bdf, ...opts] = U.decodeCString(arg).split(' ');
            const f = this.k.bus.fns.get(bdf);
            if (!f || f.group !== id || f.driver !== 'vfio-pci') throw sysError('VFIO_GROUP_GET_DEVICE_FD', 'ENODEV', bdf);
            const token = opts.find((o) => o.startsWith('vf_token='))?.slice('vf_token='.length);
            this.checkToken(f, token, 'VFIO_GROUP_GET_DEVICE_FD');
            const d = this.deviceState(f);
            d.domain = group.container.domain;
            opened.push(d);
            return this.k.installFd(this.deviceFile(d, () => {}));
          }
        }
        throw sysError(`ioctl 0x${req.toString(16)} on a group`, 'ENOTTY');
      },
      close: () => {
        group.open = false;
        if (group.container) {
          group.container.groups.delete(group);
          group.container = undefined;
        }
      },
    };
  }

  private deviceState(f: FakeFunction): DeviceState {
    let d = this.devices.get(f.bdf);
    if (!d) {
      if (!f.spec.endpoint) throw sysError('open device', 'ENODEV', `${f.bdf} has no device model behind it`);
      d = new DeviceState(f, f.spec.endpoint, (x) => this.fault(x));
      this.devices.set(f.bdf, d);
    }
    return d;
  }

  /** vfio-pci's VF token rules (section 4.7 of the reference). */
  private checkToken(f: FakeFunction, token: string | undefined, what: string): void {
    if (token !== undefined && !U.isUuid(token)) throw sysError(what, 'EINVAL', 'malformed vf_token');
    if (f.physfn) {
      const pf = this.k.bus.fns.get(f.physfn);
      if (pf?.driver === 'vfio-pci') {
        if (token === undefined) throw sysError(what, 'EACCES', 'VF token required');
        if (token.toLowerCase() !== pf.vfToken) throw sysError(what, 'EACCES', 'incorrect VF token');
      } else if (token !== undefined) throw sysError(what, 'EINVAL', 'VF token given but the PF is not on vfio-pci');
      return;
    }
    if (token !== undefined) {
      const vfsInUse = f.vfs.some((v) => (this.k.bus.fns.get(v)?.opens ?? 0) > 0);
      if (vfsInUse && token.toLowerCase() !== f.vfToken) throw sysError(what, 'EACCES', 'incorrect VF token');
      if (!vfsInUse) f.vfToken = token.toLowerCase();
    }
  }

  // ---- device fd ------------------------------------------------------------------------------------

  private deviceFile(d: DeviceState, onClose: () => void): FakeFile {
    const ep = d.ep;
    d.fn.opens++;
    let closed = false;
    const regionSize = (i: number): bigint => {
      if (i === U.VfioPciRegion.CONFIG) return BigInt(ep.configSize);
      return ep.bars.find((b) => b.index === i)?.size ?? 0n;
    };
    const bar = (i: number) => ep.bars.find((b) => b.index === i);
    return {
      ioctl: (req, arg) => {
        switch (req) {
          case U.VfioIoctl.DEVICE_GET_INFO: {
            const b = this.ptr(arg, 16, 'VFIO_DEVICE_GET_INFO');
            U.deviceInfo.fill(b, { flags: U.DEVICE_FLAGS_PCI | U.DEVICE_FLAGS_RESET, numRegions: U.VfioPciRegion.NUM, numIrqs: U.VfioPciIrq.NUM });
            return 0;
          }
          case U.VfioIoctl.DEVICE_GET_REGION_INFO: {
            const b = this.ptr(arg, 32, 'VFIO_DEVICE_GET_REGION_INFO');
            const i = U.regionInfo.index(b);
            if (i >= U.VfioPciRegion.NUM) throw sysError('VFIO_DEVICE_GET_REGION_INFO', 'EINVAL');
            const size = regionSize(i);
            const bi = bar(i);
            const flags = size === 0n ? 0 : U.REGION_INFO_FLAG_READ | U.REGION_INFO_FLAG_WRITE | (bi && bi.kind === 'memory' ? U.REGION_INFO_FLAG_MMAP : 0);
            U.regionInfo.fill(b, { flags, size, offset: BigInt(i) << REGION_SHIFT });
            return 0;
          }
          case U.VfioIoctl.DEVICE_GET_IRQ_INFO: {
            const b = this.ptr(arg, 16, 'VFIO_DEVICE_GET_IRQ_INFO');
            const i = U.irqInfo.index(b);
            if (i >= U.VfioPciIrq.NUM) throw sysError('VFIO_DEVICE_GET_IRQ_INFO', 'EINVAL');
            const table: Record<number, [number, number]> = {
              // VFs have no INTx (PCIe SR-IOV): vfio-pci reports a count of 0 for them.
              [U.VfioPciIrq.INTX]: [U.IRQ_INFO_EVENTFD | U.IRQ_INFO_MASKABLE | U.IRQ_INFO_AUTOMASKED, d.fn.physfn ? 0 : 1],
              [U.VfioPciIrq.MSI]: [U.IRQ_INFO_EVENTFD | U.IRQ_INFO_NORESIZE, 0],
              [U.VfioPciIrq.MSIX]: [U.IRQ_INFO_EVENTFD | U.IRQ_INFO_NORESIZE, d.msixCount],
              [U.VfioPciIrq.ERR]: [U.IRQ_INFO_EVENTFD, 1],
              [U.VfioPciIrq.REQ]: [U.IRQ_INFO_EVENTFD, 1],
            };
            U.irqInfo.fill(b, ...table[i]);
            return 0;
          }
          case U.VfioIoctl.DEVICE_SET_IRQS:
            return this.setIrqs(d, this.ptr(arg, U.irqSet.header, 'VFIO_DEVICE_SET_IRQS'));
          case U.VfioIoctl.DEVICE_RESET:
            return this.hostReset(d).then(() => 0);
          case U.VfioIoctl.DEVICE_FEATURE: {
            const b = this.ptr(arg, 8, 'VFIO_DEVICE_FEATURE');
            const flags = U.deviceFeature.flags(b);
            if ((flags & 0xffff) !== U.DEVICE_FEATURE_PCI_VF_TOKEN) throw sysError('VFIO_DEVICE_FEATURE', 'ENOTTY');
            if (!d.fn.spec.sriov) throw sysError('VFIO_DEVICE_FEATURE', 'ENOTTY', 'not an SR-IOV PF');
            if (flags & U.DEVICE_FEATURE_GET) throw sysError('VFIO_DEVICE_FEATURE', 'EINVAL', 'the VF token cannot be read');
            if (flags & U.DEVICE_FEATURE_PROBE) return 0;
            if (U.argsz(b) < 24 || b.length < 24) throw sysError('VFIO_DEVICE_FEATURE', 'EINVAL');
            d.fn.vfToken = U.uuidString(U.deviceFeature.data(b));
            return 0;
          }
          case U.VfioIoctl.DEVICE_BIND_IOMMUFD:
          case U.VfioIoctl.DEVICE_ATTACH_IOMMUFD_PT:
            throw sysError('ioctl', 'EINVAL', 'already bound');
        }
        throw sysError(`ioctl 0x${req.toString(16)} on a device`, 'ENOTTY');
      },
      pread: (buf, offset) => {
        const { index, off } = regionOf(offset);
        // Reads never block here (only config writes that reset the function do).
        return this.access(d, index, off, buf, false, regionSize(index)) as number;
      },
      pwrite: (buf, offset) => {
        const { index, off } = regionOf(offset);
        return this.access(d, index, off, buf, true, regionSize(index));
      },
      close: () => {
        if (closed) return;
        closed = true;
        d.fn.opens--;
        if (d.fn.opens === 0) {
          // Last close: vfio-pci turns interrupts off and disables the device.
          d.msixFds = [];
          d.intxFd = undefined;
          d.applyMsix();
          d.domain = undefined;
        }
        onClose();
      },
    };
  }

  /** pci_try_reset_function as vfio-pci calls it: the function's state saved, an FLR, the state restored. */
  private async hostReset(d: DeviceState): Promise<void> {
    const saved = d.ep.configRead(PciCfg.COMMAND, 2);
    await d.ep.flr();
    d.ep.configWrite(PciCfg.COMMAND, 2, saved);
    d.applyMsix();
  }

  private setIrqs(d: DeviceState, b: Uint8Array): number {
    const s = U.irqSet.decode(b);
    const trigger = !!(s.flags & U.IRQ_SET_ACTION_TRIGGER);
    if (s.flags & U.IRQ_SET_DATA_EVENTFD && U.argsz(b) < U.irqSet.header + 4 * s.count) throw sysError('VFIO_DEVICE_SET_IRQS', 'EINVAL', 'argsz too small for the eventfds');
    const refs = (s.fds ?? []).map((fd) => {
      if (fd < 0) return undefined;
      const r = this.k.eventfdOf(fd);
      if (!r) throw sysError('VFIO_DEVICE_SET_IRQS', 'EBADF', `fd ${fd} is not an eventfd`);
      return r;
    });
    switch (s.index) {
      case U.VfioPciIrq.MSIX: {
        if (s.start + s.count > d.msixCount) throw sysError('VFIO_DEVICE_SET_IRQS', 'EINVAL', 'vectors beyond the MSI-X table');
        if (!trigger) return 0;
        if (s.flags & U.IRQ_SET_DATA_NONE && s.count === 0) {
          d.msixFds = [];
          d.applyMsix();
          return 0;
        }
        if (s.flags & U.IRQ_SET_DATA_NONE) {
          for (let v = s.start; v < s.start + s.count; v++) d.msix(v);
          return 0;
        }
        for (let i = 0; i < s.count; i++) d.msixFds[s.start + i] = refs[i];
        d.applyMsix();
        return 0;
      }
      case U.VfioPciIrq.INTX:
        if (trigger && s.flags & U.IRQ_SET_DATA_EVENTFD) d.intxFd = refs[0];
        return 0;
      case U.VfioPciIrq.ERR:
        if (trigger && s.flags & U.IRQ_SET_DATA_EVENTFD) d.errFd = refs[0];
        return 0;
      case U.VfioPciIrq.REQ:
        if (trigger && s.flags & U.IRQ_SET_DATA_EVENTFD) d.reqFd = refs[0];
        return 0;
    }
    throw sysError('VFIO_DEVICE_SET_IRQS', 'EINVAL');
  }

  /** pread/pwrite of a region: config with vfio-pci's virtualization, BARs at exact width. */
  private access(d: DeviceState, index: number, off: number, buf: Uint8Array, write: boolean, size: bigint): number | Promise<number> {
    const len = buf.length;
    if (BigInt(off + len) > size) throw sysError(write ? 'pwrite' : 'pread', 'EINVAL', 'beyond the region');
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const ep = d.ep;
    if (index === U.VfioPciRegion.CONFIG) {
      let blocking: Promise<void> | undefined;
      // The kernel splits a transfer into naturally aligned config cycles.
      for (let o = 0; o < len; ) {
        const at = off + o;
        const w: 1 | 2 | 4 = at % 4 === 0 && len - o >= 4 ? 4 : at % 2 === 0 && len - o >= 2 ? 2 : 1;
        const msixCtrl = d.msixCap !== undefined && at === d.msixCap + MsixCap.CTRL && w === 2;
        const vfCommand = d.fn.physfn !== undefined && at === PciCfg.COMMAND && w >= 2;
        if (write) {
          const val = w === 4 ? v.getUint32(o, true) : w === 2 ? v.getUint16(o, true) : v.getUint8(o);
          if (msixCtrl) d.msixCtrlVirtual = val & (MSIX_CTRL_ENABLE | 0x4000);
          else if (at >= 0x100 && !WRITABLE_ECAPS.has(kernelExtCapAt(ep, at) ?? -1)) {
            // vfio-pci: no write permission for this extended capability; the write is dropped.
          } else if (d.expCap !== undefined && at === d.expCap + PCI_EXP_DEVCTL && w === 2 && val & PCI_EXP_DEVCTL_BCR_FLR) {
            // vfio-pci turns Initiate FLR into pci_try_reset_function (save the state, FLR, restore it)
            // inside the write: it returns when the function is back.
            ep.configWrite(at, w, val & ~PCI_EXP_DEVCTL_BCR_FLR);
            blocking = this.hostReset(d);
          } else {
            if (vfCommand) d.cmdMemoryVirtual = val & PCI_COMMAND_MEMORY;
            ep.configWrite(at, w, val);
          }
        } else {
          let val = ep.configRead(at, w);
          if (msixCtrl) val = (val & ~(MSIX_CTRL_ENABLE | 0x4000)) | d.msixCtrlVirtual;
          if (vfCommand) val = (val & ~PCI_COMMAND_MEMORY) | d.cmdMemoryVirtual;
          if (w === 4) v.setUint32(o, val >>> 0, true);
          else if (w === 2) v.setUint16(o, val, true);
          else v.setUint8(o, val);
        }
        o += w;
      }
      return blocking ? blocking.then(() => len) : len;
    }
    if (index > U.VfioPciRegion.BAR5 || size === 0n) throw sysError('region access', 'EINVAL');
    if (d.fn.physfn === undefined && !(ep.configRead(PciCfg.COMMAND, 2) & PCI_COMMAND_MEMORY)) throw sysError(write ? 'pwrite' : 'pread', 'EIO', 'memory decode is disabled');
    if (![1, 2, 4, 8].includes(len) || off % len) throw sysError('BAR access', 'EINVAL', 'only naturally aligned 1, 2, 4 and 8 byte accesses');
    const w = len as 1 | 2 | 4 | 8;
    if (d.inMsixTable(index, off, w)) {
      // vfio-pci drops user writes to the MSI-X table and reads it as all ones.
      if (!write) buf.fill(0xff);
      return len;
    }
    if (write) ep.barWrite(index, off, w, w === 8 ? v.getBigUint64(0, true) : w === 4 ? v.getUint32(0, true) : w === 2 ? v.getUint16(0, true) : v.getUint8(0));
    else {
      const val = ep.barRead(index, off, w);
      if (w === 8) v.setBigUint64(0, BigInt(val), true);
      else if (w === 4) v.setUint32(0, Number(val) >>> 0, true);
      else if (w === 2) v.setUint16(0, Number(val), true);
      else v.setUint8(0, Number(val));
    }
    return len;
  }

  // ---- iommufd and cdev -----------------------------------------------------------------------------

  private openIommufd(): FakeFile & { iommufd: true } {
    const owned: number[] = [];
    return {
      iommufd: true,
      ioctl: (req, arg) => {
        const b = this.ptr(arg, 8, `iommufd ioctl 0x${req.toString(16)}`);
        const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
        switch (req) {
          case U.IommufdIoctl.IOAS_ALLOC: {
            const id = this.nextIoas++;
            this.ioas.set(id, this.newDomain(false));
            owned.push(id);
            U.ioasAlloc.setId(b, id);
            return 0;
          }
          case U.IommufdIoctl.IOAS_MAP: {
            const m = U.ioasMap.decode(this.ptr(arg, 40, 'IOMMU_IOAS_MAP'));
            const dom = this.ioas.get(m.ioasId);
            if (!dom) throw sysError('IOMMU_IOAS_MAP', 'ENOENT');
            if (!(m.flags & U.IOMMU_IOAS_MAP_FIXED_IOVA)) throw sysError('IOMMU_IOAS_MAP', 'EINVAL', 'the fake host maps fixed IOVAs only');
            dom.map(m.userVa, m.iova, m.length, !!(m.flags & U.IOMMU_IOAS_MAP_READABLE), !!(m.flags & U.IOMMU_IOAS_MAP_WRITEABLE));
            return 0;
          }
          case U.IommufdIoctl.IOAS_UNMAP: {
            const u = U.ioasUnmap.decode(this.ptr(arg, 24, 'IOMMU_IOAS_UNMAP'));
            const dom = this.ioas.get(u.ioasId);
            if (!dom) throw sysError('IOMMU_IOAS_UNMAP', 'ENOENT');
            const n = u.iova === 0n && u.length === 0xffffffffffffffffn ? dom.unmapAll() : dom.unmap(u.iova, u.length);
            if (n === 0n) throw sysError('IOMMU_IOAS_UNMAP', 'ENOENT');
            U.ioasUnmap.setLength(b, n);
            return 0;
          }
          case U.IommufdIoctl.IOAS_IOVA_RANGES: {
            const r = U.ioasIovaRanges.decode(this.ptr(arg, 32, 'IOMMU_IOAS_IOVA_RANGES'));
            const dom = this.ioas.get(r.ioasId);
            if (!dom) throw sysError('IOMMU_IOAS_IOVA_RANGES', 'ENOENT');
            const n = dom.ranges.length;
            U.ioasIovaRanges.setOut(b, n, 4096n);
            if (r.numIovas < n) throw sysError('IOMMU_IOAS_IOVA_RANGES', 'EMSGSIZE');
            const out = new Uint8Array(16 * n);
            const ov = new DataView(out.buffer);
            dom.ranges.forEach((x, i) => {
              ov.setBigUint64(16 * i, x.start, true);
              ov.setBigUint64(16 * i + 8, x.end, true);
            });
            this.k.userWrite(r.arrayPtr, out);
            return 0;
          }
          case U.IommufdIoctl.DESTROY: {
            const id = v.getUint32(4, true);
            if (!this.ioas.delete(id)) throw sysError('IOMMU_DESTROY', 'ENOENT');
            return 0;
          }
        }
        throw sysError(`ioctl 0x${req.toString(16)} on iommufd`, 'ENOTTY');
      },
      close: () => {
        for (const id of owned) this.ioas.get(id)?.unmapAll();
      },
    };
  }

  private openCdev(f: FakeFunction): FakeFile {
    let inner: FakeFile | undefined;
    let state: DeviceState | undefined;
    return {
      ioctl: (req, arg) => {
        if (inner) {
          if (req === U.VfioIoctl.DEVICE_ATTACH_IOMMUFD_PT) {
            const b = this.ptr(arg, 12, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
            const dom = this.ioas.get(U.attachIommufdPt.ptId(b));
            if (!dom) throw sysError('VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'ENOENT');
            state!.domain = dom;
            return 0;
          }
          if (req === U.VfioIoctl.DEVICE_DETACH_IOMMUFD_PT) {
            state!.domain = undefined;
            return 0;
          }
          return inner.ioctl!(req, arg);
        }
        if (req !== U.VfioIoctl.DEVICE_BIND_IOMMUFD) throw sysError(`ioctl 0x${req.toString(16)} before VFIO_DEVICE_BIND_IOMMUFD`, 'EINVAL');
        const b = this.ptr(arg, 16, 'VFIO_DEVICE_BIND_IOMMUFD');
        const bind = U.bindIommufd.decode(b);
        const ifile = this.k.fileOf(bind.iommufd) as (FakeFile & { iommufd?: true }) | undefined;
        if (!ifile?.iommufd) throw sysError('VFIO_DEVICE_BIND_IOMMUFD', 'EBADF');
        if (!this.k.bus.groupViable(f.group)) throw sysError('VFIO_DEVICE_BIND_IOMMUFD', 'EPERM', 'a member of the IOMMU group has a host driver');
        let token: string | undefined;
        if (bind.flags & U.BIND_FLAG_TOKEN) token = U.uuidString(this.k.userRead(bind.tokenPtr, 16));
        this.checkToken(f, token, 'VFIO_DEVICE_BIND_IOMMUFD');
        state = this.deviceState(f);
        inner = this.deviceFile(state, () => {});
        U.bindIommufd.setDevid(b, this.nextDevid++);
        return 0;
      },
      pread: (buf, off) => {
        if (!inner) throw sysError('pread', 'EINVAL', 'not bound');
        return inner.pread!(buf, off);
      },
      pwrite: (buf, off) => {
        if (!inner) throw sysError('pwrite', 'EINVAL', 'not bound');
        return inner.pwrite!(buf, off);
      },
      close: () => inner?.close?.(),
    };
  }
}
