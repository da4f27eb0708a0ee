import { sysError } from '../sys/syscalls.ts';
import type { FakeEndpoint, FakeSriov } from './fake-endpoint.ts';
import type { FakeFs } from './fake-fs.ts';

/** A function of the fake host's PCI bus and what uses it. */
export interface FakeFunctionSpec {
  bdf: string;
  vendor: number;
  device: number;
  /** 24-bit class code (0x010000 mass storage, 0x020000 network, 0xff0000 other). */
  classCode?: number;
  driver?: string;
  /** IOMMU group number; each function gets its own when not given. */
  group?: number;
  endpoint?: FakeEndpoint;
  sriov?: FakeSriov;
  /** A block device on this function: mounted somewhere, held (LVM/md), or swap. */
  block?: { name: string; mountedAt?: string; holders?: string[]; swap?: boolean };
  /** A network interface on this function, with routes or not. */
  net?: { name: string; routed?: boolean };
}

export interface FakeFunction {
  spec: FakeFunctionSpec;
  bdf: string;
  driver?: string;
  override?: string;
  group: number;
  physfn?: string;
  vfs: string[];
  numVfs: number;
  /** Counts sriov_numvfs changes: VFs of an older change that become ready late are not added. */
  sriovGen: number;
  autoprobe: boolean;
  aerNonfatal: number;
  /** vfio cdev index while bound to vfio-pci (iommufd hosts). */
  cdev?: number;
  /** The VF token vfio-pci gave the PF (random until the user sets one). */
  vfToken?: string;
  /** Open vfio device fds of this function. */
  opens: number;
}

/** Drivers of the fake host and the ids they claim on their own (vfio-pci claims only by override). */
const NATIVE: Record<string, (f: FakeFunctionSpec) => boolean> = {
  'virtio-pci': (f) => f.vendor === 0x1af4 && f.device >= 0x1000 && f.device <= 0x107f,
  pcieport: (f) => (f.classCode ?? 0) >> 8 === 0x0604,
  'vfio-pci': () => false,
  'pci-stub': () => false,
};

/** Drivers that do not claim DMA ownership: vfio tolerates them in a group. */
const GROUP_TOLERATED = new Set(['vfio-pci', 'pcieport', 'pci-stub']);

export interface FakePciBusOptions {
  iommu: boolean;
  vfioPci: boolean;
  cdev: boolean;
  enableSriov: boolean;
}

function hex(n: number, digits: number): string {
  return '0x' + n.toString(16).padStart(digits, '0');
}

function randomUuid(): string {
  return crypto.randomUUID();
}

/** A BDF a routing id away from another (same segment and bus arithmetic as SR-IOV). */
function bdfPlus(bdf: string, delta: number): string {
  const [seg, bus, df] = bdf.split(':');
  const [dev, fn] = df.split('.');
  const rid = (parseInt(bus, 16) << 8) | (parseInt(dev, 16) << 3) | parseInt(fn, 10);
  const r = rid + delta;
  return `${seg}:${((r >> 8) & 0xff).toString(16).padStart(2, '0')}:${((r >> 3) & 0x1f).toString(16).padStart(2, '0')}.${r & 7}`;
}

/**
 * The PCI bus of the fake host as sysfs shows it: per-function attributes, driver links, driver_override,
 * bind/unbind/drivers_probe, SR-IOV (sriov_numvfs with the kernel's rules), IOMMU groups, the vfio
 * cdev directory, AER counters, and the block and net devices that sit on functions.
 */
export class FakePciBus {
  readonly fns = new Map<string, FakeFunction>();
  private nextGroup = 100;
  private nextCdev = 0;
  enableSriov: boolean;
  /** Told when a function's vfio-pci binding changes (the fake vfio creates and removes device nodes). */
  onVfioBind: (f: FakeFunction, bound: boolean) => void = () => {};

  constructor(
    private readonly fs: FakeFs,
    readonly opts: FakePciBusOptions,
  ) {
    this.enableSriov = opts.enableSriov;
    fs.dir('/sys/bus/pci/devices');
    fs.dir('/sys/kernel/iommu_groups');
    fs.dir('/sys/class/iommu');
    fs.dir('/sys/class/net');
    fs.dir('/sys/block');
    if (opts.iommu) fs.dir('/sys/class/iommu/dmar0');
    fs.attr('/sys/bus/pci/drivers_probe', () => '', (t) => this.probe(t.trim()));
    for (const d of Object.keys(NATIVE)) {
      if (d === 'vfio-pci' && !opts.vfioPci) continue;
      fs.dir(`/sys/bus/pci/drivers/${d}`);
      fs.attr(`/sys/bus/pci/drivers/${d}/bind`, () => '', (t) => this.bind(t.trim(), d));
      fs.attr(`/sys/bus/pci/drivers/${d}/unbind`, () => '', (t) => this.unbind(t.trim(), d));
    }
    if (opts.vfioPci) {
      fs.attr('/sys/module/vfio_pci/parameters/enable_sriov', () => (this.enableSriov ? 'Y\n' : 'N\n'), (t) => {
        this.enableSriov = /^[Yy1]/.test(t.trim());
      });
    }
    fs.file('/proc/mounts', '');
    fs.file('/proc/swaps', 'Filename\tType\tSize\tUsed\tPriority\n');
    fs.file('/proc/net/route', 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n');
  }

  add(spec: FakeFunctionSpec, physfn?: string): FakeFunction {
    const f: FakeFunction = { spec, bdf: spec.bdf, group: spec.group ?? this.nextGroup++, vfs: [], numVfs: 0, sriovGen: 0, autoprobe: true, aerNonfatal: 0, opens: 0, ...(physfn ? { physfn } : {}) };
    this.fns.set(f.bdf, f);
    const dir = `/sys/bus/pci/devices/${f.bdf}`;
    const fs = this.fs;
    fs.dir(dir);
    fs.file(`${dir}/vendor`, hex(spec.vendor, 4) + '\n');
    fs.file(`${dir}/device`, hex(spec.device, 4) + '\n');
    fs.file(`${dir}/class`, hex(spec.classCode ?? 0xff0000, 6) + '\n');
    fs.file(`${dir}/subsystem_vendor`, hex(spec.vendor, 4) + '\n');
    fs.file(`${dir}/subsystem_device`, hex(0x1100, 4) + '\n');
    fs.attr(`${dir}/driver_override`, () => (f.override ?? '(null)') + '\n', (t) => {
      const v = t.replace(/\0/g, '').trim();
      f.override = v || undefined;
    });
    fs.attr(`${dir}/aer_dev_nonfatal`, () => `Undefined 0\nDLP 0\nSDES 0\nTLP 0\nFCP 0\nCmpltTO 0\nCmpltAbrt 0\nUnxCmplt 0\nRxOF 0\nMalfTLP 0\nECRC 0\nUnsupReq ${f.aerNonfatal}\nACSViol 0\nTOTAL_ERR_NONFATAL ${f.aerNonfatal}\n`);
    fs.link(`${dir}/iommu_group`, `../../../../kernel/iommu_groups/${f.group}`);
    fs.dir(`/sys/kernel/iommu_groups/${f.group}/devices`);
    fs.link(`/sys/kernel/iommu_groups/${f.group}/devices/${f.bdf}`, `../../../../bus/pci/devices/${f.bdf}`);
    if (physfn) fs.link(`${dir}/physfn`, `../${physfn}`);
    if (spec.sriov) {
      const s = spec.sriov;
      fs.file(`${dir}/sriov_totalvfs`, `${s.totalVfs}\n`);
      fs.file(`${dir}/sriov_offset`, `${s.offset}\n`);
      fs.file(`${dir}/sriov_stride`, `${s.stride}\n`);
      fs.file(`${dir}/sriov_vf_device`, s.vfDeviceId.toString(16) + '\n');
      fs.attr(`${dir}/sriov_numvfs`, () => `${f.numVfs}\n`, (t) => this.setNumVfs(f, t.trim()));
      fs.attr(`${dir}/sriov_drivers_autoprobe`, () => (f.autoprobe ? '1\n' : '0\n'), (t) => {
        f.autoprobe = t.trim() !== '0';
      });
    }
    if (spec.block) {
      const b = spec.block;
      fs.dir(`/sys/block/${b.name}/holders`);
      for (const h of b.holders ?? []) fs.dir(`/sys/block/${b.name}/holders/${h}`);
      fs.link(`/sys/block/${b.name}/device`, `../../bus/pci/devices/${f.bdf}`);
      if (b.mountedAt) this.appendFile('/proc/mounts', `/dev/${b.name} ${b.mountedAt} ext4 rw,relatime 0 0\n`);
      if (b.swap) this.appendFile('/proc/swaps', `/dev/${b.name}\tpartition\t1048572\t0\t-2\n`);
    }
    if (spec.net) {
      fs.link(`/sys/class/net/${spec.net.name}/device`, `../../../bus/pci/devices/${f.bdf}`);
      if (spec.net.routed) this.appendFile('/proc/net/route', `${spec.net.name}\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n`);
    }
    if (spec.driver) this.attach(f, spec.driver);
    return f;
  }

  private appendFile(path: string, line: string): void {
    this.fs.file(path, this.fs.readText(path) + line);
  }

  get(bdf: string, call: string): FakeFunction {
    const f = this.fns.get(bdf);
    if (!f) throw sysError(call, 'ENODEV', bdf);
    return f;
  }

  groupMembers(group: number): FakeFunction[] {
    return [...this.fns.values()].filter((f) => f.group === group);
  }

  /** vfio's viability rule: every member of the group on vfio-pci, a tolerated driver, or none. */
  groupViable(group: number): boolean {
    return this.groupMembers(group).every((m) => !m.driver || GROUP_TOLERATED.has(m.driver));
  }

  private matches(f: FakeFunction, driver: string): boolean {
    if (f.override) return f.override === driver;
    return NATIVE[driver]?.(f.spec) ?? false;
  }

  private attach(f: FakeFunction, driver: string): void {
    f.driver = driver;
    this.fs.link(`/sys/bus/pci/devices/${f.bdf}/driver`, `../../../bus/pci/drivers/${driver}`);
    this.fs.link(`/sys/bus/pci/drivers/${driver}/${f.bdf}`, `../../../../devices/${f.bdf}`);
    if (driver === 'vfio-pci') {
      f.vfToken = randomUuid();
      if (this.opts.cdev) {
        f.cdev = this.nextCdev++;
        this.fs.dir(`/sys/bus/pci/devices/${f.bdf}/vfio-dev/vfio${f.cdev}`);
      }
      this.onVfioBind(f, true);
    }
  }

  private detach(f: FakeFunction): void {
    const was = f.driver;
    if (!was) return;
    if (was === 'vfio-pci' && f.opens > 0) throw sysError(`unbind ${f.bdf}`, 'EBUSY', 'the device is open by a vfio user');
    // A PF driver going away takes SR-IOV with it.
    if (f.numVfs > 0) this.disableVfs(f);
    this.fs.remove(`/sys/bus/pci/devices/${f.bdf}/driver`);
    this.fs.remove(`/sys/bus/pci/drivers/${was}/${f.bdf}`);
    f.driver = undefined;
    if (was === 'vfio-pci') {
      this.fs.remove(`/sys/bus/pci/devices/${f.bdf}/vfio-dev`);
      f.cdev = undefined;
      f.vfToken = undefined;
      this.onVfioBind(f, false);
    }
  }

  bind(bdf: string, driver: string): void {
    const f = this.get(bdf, `bind ${driver}`);
    if (f.driver) throw sysError(`bind ${driver}`, 'EBUSY', `${bdf} already has a driver`);
    if (!this.matches(f, driver)) throw sysError(`bind ${driver}`, 'ENODEV', `${driver} does not match ${bdf}`);
    if (driver === 'vfio-pci' && f.numVfs > 0) throw sysError(`bind ${driver}`, 'EBUSY', 'Cannot bind to PF with SR-IOV enabled');
    this.attach(f, driver);
  }

  unbind(bdf: string, driver: string): void {
    const f = this.get(bdf, `unbind ${driver}`);
    if (f.driver !== driver) throw sysError(`unbind ${driver}`, 'ENODEV', `${bdf} is not bound to ${driver}`);
    this.detach(f);
  }

  probe(bdf: string): void {
    const f = this.get(bdf, 'drivers_probe');
    if (f.driver) return;
    if (f.override) {
      if (this.fs.exists(`/sys/bus/pci/drivers/${f.override}`)) {
        if (f.override === 'vfio-pci' && f.numVfs > 0) throw sysError('drivers_probe', 'EBUSY', 'Cannot bind to PF with SR-IOV enabled');
        this.attach(f, f.override);
      }
      return;
    }
    const d = Object.keys(NATIVE).find((n) => this.fs.exists(`/sys/bus/pci/drivers/${n}`) && NATIVE[n](f.spec));
    if (d) this.attach(f, d);
  }

  /** sriov_numvfs store, with the kernel's rules. */
  private setNumVfs(f: FakeFunction, text: string): void {
    const s = f.spec.sriov!;
    if (!/^\d+$/.test(text)) throw sysError('sriov_numvfs', 'EINVAL');
    const n = Number(text);
    if (n === f.numVfs) return;
    if (!f.driver) throw sysError('sriov_numvfs', 'ENOENT', 'no driver bound to the PF');
    if (f.driver === 'vfio-pci' && !this.enableSriov) throw sysError('sriov_numvfs', 'ENOENT', 'vfio-pci was loaded without enable_sriov');
    if (f.driver !== 'vfio-pci' && f.driver !== 'virtio-pci') throw sysError('sriov_numvfs', 'ENOENT', `${f.driver} does not support SR-IOV configuration`);
    if (n > s.totalVfs) throw sysError('sriov_numvfs', 'ERANGE', `at most ${s.totalVfs}`);
    if (n === 0) return this.disableVfs(f);
    if (f.numVfs > 0) throw sysError('sriov_numvfs', 'EBUSY', `${f.numVfs} VFs already enabled`);
    const { vfs: eps, ready } = s.enable(n);
    f.numVfs = n;
    const gen = ++f.sriovGen;
    const add = () => eps.forEach((ep, i) => {
      if (f.sriovGen !== gen) return;
      const bdf = bdfPlus(f.bdf, s.offset + i * s.stride);
      const vf = this.add({ bdf, vendor: f.spec.vendor, device: s.vfDeviceId, classCode: f.spec.classCode, endpoint: ep }, f.bdf);
      this.fs.link(`/sys/bus/pci/devices/${f.bdf}/virtfn${i}`, `../${bdf}`);
      f.vfs.push(bdf);
      if (f.driver === 'vfio-pci') vf.override = 'vfio-pci';
      if (f.autoprobe) this.probe(bdf);
    });
    // The store returns once VF Enable is set; the VFs appear on the bus when they are ready.
    if (ready) void ready.then(add);
    else add();
  }

  private disableVfs(f: FakeFunction): void {
    f.sriovGen++;
    for (const [i, bdf] of f.vfs.entries()) {
      const vf = this.fns.get(bdf);
      if (vf) {
        if (vf.opens > 0) throw sysError('sriov_numvfs', 'EBUSY', `VF ${bdf} is open by a vfio user`);
        this.detach(vf);
        this.fs.remove(`/sys/kernel/iommu_groups/${vf.group}`);
        this.fs.remove(`/sys/bus/pci/devices/${bdf}`);
        this.fns.delete(bdf);
      }
      this.fs.remove(`/sys/bus/pci/devices/${f.bdf}/virtfn${i}`);
    }
    f.vfs = [];
    f.numVfs = 0;
    f.spec.sriov?.disable();
  }
}
