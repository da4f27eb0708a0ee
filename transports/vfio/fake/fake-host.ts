import { type MappedMemory, type PollFd, POLLIN, sysError, type Syscalls, EFD_NONBLOCK, O_NONBLOCK, MAP_ANONYMOUS } from '../sys/syscalls.ts';
import type { FakeFile } from './fake-fs.ts';
import { FakeFs } from './fake-fs.ts';
import type { FakeMemory } from './fake-iommu.ts';
import { type FakeFunctionSpec, FakePciBus } from './fake-pci-bus.ts';
import { type FakeEventfdRef, type FakeKernel, FakeVfio } from './fake-vfio.ts';

export interface FakeHostOptions {
  /** An IOMMU is on (DMAR in /sys/class/iommu, IOMMU groups). Default true. */
  iommu?: boolean;
  /** The vfio-pci driver is available. Default true. */
  vfioPci?: boolean;
  /** iommufd and vfio device cdevs (/dev/iommu, /dev/vfio/devices). Default true. */
  cdev?: boolean;
  /** vfio_pci enable_sriov. Default true. */
  enableSriov?: boolean;
  /** vfio noiommu mode (no IOMMU; /dev/vfio/noiommu-N). Default false. */
  noiommu?: boolean;
  /** RLIMIT_MEMLOCK soft limit in bytes ('unlimited' for root's usual). Default 'unlimited'. */
  memlock?: number | 'unlimited';
  /** The kernel command line. */
  cmdline?: string;
  /** This machine's own devices (the VM's disk, network and the rest, on virtio-pci). Default true. */
  ownDevices?: boolean;
}

/**
 * This machine's own PCI devices as the reference lists them (section 11): the fake host carries them
 * so that the safety rules are tested against exactly what must never be touched.
 */
export const OWN_DEVICES: FakeFunctionSpec[] = [
  { bdf: '0000:00:00.0', vendor: 0x8086, device: 0x0d57, classCode: 0x060000 },
  { bdf: '0000:00:01.0', vendor: 0x1af4, device: 0x1045, classCode: 0x00ff00, driver: 'virtio-pci' },
  { bdf: '0000:00:02.0', vendor: 0x1af4, device: 0x1042, classCode: 0x010000, driver: 'virtio-pci', block: { name: 'vda', mountedAt: '/' } },
  { bdf: '0000:00:03.0', vendor: 0x1af4, device: 0x1041, classCode: 0x020000, driver: 'virtio-pci', net: { name: 'eth0', routed: true } },
  { bdf: '0000:00:04.0', vendor: 0x1af4, device: 0x1053, classCode: 0x00ff00, driver: 'virtio-pci' },
  { bdf: '0000:00:05.0', vendor: 0x1af4, device: 0x1044, classCode: 0x00ff00, driver: 'virtio-pci' },
];

class FakeEventfd implements FakeFile, FakeEventfdRef {
  count = 0n;
  constructor(
    private readonly nonblock: boolean,
    private readonly wake: () => void,
  ) {}

  signal(): void {
    this.count++;
    this.wake();
  }

  read(buf: Uint8Array): number {
    if (buf.length < 8) throw sysError('read eventfd', 'EINVAL');
    if (this.count === 0n) {
      if (this.nonblock) throw sysError('read eventfd', 'EAGAIN');
      throw sysError('read eventfd', 'EAGAIN', 'the fake host never blocks');
    }
    new DataView(buf.buffer, buf.byteOffset).setBigUint64(0, this.count, true);
    this.count = 0n;
    return 8;
  }

  write(buf: Uint8Array): number {
    if (buf.length < 8) throw sysError('write eventfd', 'EINVAL');
    this.count += new DataView(buf.buffer, buf.byteOffset).getBigUint64(0, true);
    this.wake();
    return 8;
  }

  readiness(): number {
    return this.count > 0n ? POLLIN : 0;
  }
}

interface KmsgRecord {
  seq: number;
  level: number;
  usec: number;
  text: string;
}

/**
 * The in-memory host of CI: a fake sysfs and /dev/vfio over FakeFs, IOMMU domains whose unmapped
 * IOVAs really fault, eventfds and poll, mmap'd process memory, and a kernel log. It implements the
 * same Syscalls interface as Linux, so the whole vfio code path runs against it unchanged.
 */
export class FakeHost implements Syscalls, FakeKernel {
  readonly kind = 'fake' as const;
  readonly fs = new FakeFs();
  readonly bus: FakePciBus;
  readonly vfio: FakeVfio;
  readonly noiommu: boolean;
  private readonly files = new Map<number, FakeFile>();
  private nextFd = 3;
  private readonly memory: FakeMemory[] = [];
  private nextAddr = 0x7f00_0000_0000n;
  private waiters = new Set<() => void>();
  readonly kmsg: KmsgRecord[] = [];
  private kmsgSeq = 0;
  private readonly started = Date.now();

  constructor(opts: FakeHostOptions = {}) {
    this.noiommu = opts.noiommu ?? false;
    const iommu = (opts.iommu ?? true) && !this.noiommu;
    this.bus = new FakePciBus(this.fs, { iommu, vfioPci: opts.vfioPci ?? true, cdev: (opts.cdev ?? true) && iommu, enableSriov: opts.enableSriov ?? true });
    this.vfio = new FakeVfio(this);
    const memlock = opts.memlock ?? 'unlimited';
    const ml = memlock === 'unlimited' ? 'unlimited' : String(memlock);
    this.fs.file('/proc/self/limits', `Limit                     Soft Limit           Hard Limit           Units\nMax locked memory         ${ml.padEnd(20)} ${ml.padEnd(20)} bytes\n`);
    this.fs.file('/proc/cmdline', (opts.cmdline ?? (iommu ? 'root=/dev/vda rw intel_iommu=on iommu=pt' : 'root=/dev/vda rw')) + '\n');
    if (this.noiommu) this.fs.file('/sys/module/vfio/parameters/enable_unsafe_noiommu_mode', 'Y\n');
    this.fs.dev('/dev/kmsg', (flags) => this.openKmsg(flags));
    this.fs.dir('/run/lock');
    if (opts.ownDevices ?? true) for (const d of OWN_DEVICES) this.bus.add({ ...d });
  }

  /** Adds a function (a card's PF) to the bus. */
  addFunction(spec: FakeFunctionSpec): void {
    this.bus.add(spec);
  }

  /** The driver each function is bound to now (for tests of restore). */
  drivers(): Record<string, string | null> {
    return Object.fromEntries([...this.bus.fns.values()].map((f) => [f.bdf, f.driver ?? null]));
  }

  // ---- FakeKernel -----------------------------------------------------------------------------------

  fileOf(fd: number): FakeFile | undefined {
    return this.files.get(fd);
  }

  installFd(file: FakeFile): number {
    const fd = this.nextFd++;
    this.files.set(fd, file);
    return fd;
  }

  eventfdOf(fd: number): FakeEventfdRef | undefined {
    const f = this.files.get(fd);
    return f instanceof FakeEventfd ? f : undefined;
  }

  memoryAt(vaddr: bigint, length: bigint): { mem: FakeMemory; offset: number } | undefined {
    const m = this.memory.find((x) => vaddr >= x.addr && vaddr + length <= x.addr + BigInt(x.bytes.length));
    return m ? { mem: m, offset: Number(vaddr - m.addr) } : undefined;
  }

  userRead(addr: bigint, len: number): Uint8Array {
    const at = this.memoryAt(addr, BigInt(len));
    if (!at) throw sysError('copy_from_user', 'EFAULT');
    return at.mem.bytes.slice(at.offset, at.offset + len);
  }

  userWrite(addr: bigint, data: Uint8Array): void {
    const at = this.memoryAt(addr, BigInt(data.length));
    if (!at) throw sysError('copy_to_user', 'EFAULT');
    at.mem.bytes.set(data, at.offset);
  }

  log(level: number, text: string): void {
    this.kmsg.push({ seq: this.kmsgSeq++, level, usec: (Date.now() - this.started) * 1000, text });
    this.wakeAll();
  }

  private openKmsg(flags: number): FakeFile {
    // A new reader starts at the oldest record, as /dev/kmsg does.
    let next = this.kmsg.length ? this.kmsg[0].seq : this.kmsgSeq;
    return {
      read: (buf) => {
        const r = this.kmsg.find((x) => x.seq >= next);
        if (!r) throw sysError('read /dev/kmsg', 'EAGAIN', flags & O_NONBLOCK ? undefined : 'the fake host never blocks');
        next = r.seq + 1;
        const line = new TextEncoder().encode(`${r.level},${r.seq},${r.usec},-;${r.text}\n`);
        if (line.length > buf.length) throw sysError('read /dev/kmsg', 'EINVAL', 'buffer too small for the record');
        buf.set(line);
        return line.length;
      },
      readiness: () => (this.kmsg.some((x) => x.seq >= next) ? POLLIN : 0),
    };
  }

  private wakeAll(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  // ---- Syscalls -------------------------------------------------------------------------------------

  private file(fd: number, call: string): FakeFile {
    const f = this.files.get(fd);
    if (!f) throw sysError(call, 'EBADF', `fd ${fd}`);
    return f;
  }

  open(path: string, flags: number): number {
    const n = this.fs.node(path);
    if (!n) throw sysError(`open ${path}`, 'ENOENT');
    if (n.type !== 'dev') throw sysError(`open ${path}`, 'EINVAL', 'the fake host opens device nodes only');
    return this.installFd(n.open(flags));
  }

  close(fd: number): void {
    const f = this.file(fd, 'close');
    this.files.delete(fd);
    f.close?.();
  }

  ioctl(fd: number, request: number, arg?: Uint8Array | number): number {
    const f = this.file(fd, 'ioctl');
    if (!f.ioctl) throw sysError(`ioctl 0x${request.toString(16)}`, 'ENOTTY');
    const r = f.ioctl(request, arg);
    if (typeof r !== 'number') throw sysError(`ioctl 0x${request.toString(16)}`, 'EINVAL', 'this call blocks: use ioctlBlocking');
    return r;
  }

  async ioctlBlocking(fd: number, request: number, arg?: Uint8Array | number): Promise<number> {
    const f = this.file(fd, 'ioctl');
    if (!f.ioctl) throw sysError(`ioctl 0x${request.toString(16)}`, 'ENOTTY');
    return await f.ioctl(request, arg);
  }

  pread(fd: number, buf: Uint8Array, offset: number): number {
    const f = this.file(fd, 'pread');
    if (!f.pread) throw sysError('pread', 'EINVAL');
    return f.pread(buf, offset);
  }

  pwrite(fd: number, buf: Uint8Array, offset: number): number {
    const f = this.file(fd, 'pwrite');
    if (!f.pwrite) throw sysError('pwrite', 'EINVAL');
    const r = f.pwrite(buf, offset);
    if (typeof r !== 'number') throw sysError('pwrite', 'EINVAL', 'this write blocks in the kernel: use pwriteBlocking');
    return r;
  }

  async pwriteBlocking(fd: number, buf: Uint8Array, offset: number): Promise<number> {
    const f = this.file(fd, 'pwrite');
    if (!f.pwrite) throw sysError('pwrite', 'EINVAL');
    return await f.pwrite(buf, offset);
  }

  read(fd: number, buf: Uint8Array): number {
    const f = this.file(fd, 'read');
    if (!f.read) throw sysError('read', 'EINVAL');
    return f.read(buf);
  }

  write(fd: number, buf: Uint8Array): number {
    const f = this.file(fd, 'write');
    if (!f.write) throw sysError('write', 'EINVAL');
    return f.write(buf);
  }

  mmap(length: number, _prot: number, flags: number, fd: number, _offset: number): MappedMemory {
    if (fd !== -1 || !(flags & MAP_ANONYMOUS)) throw sysError('mmap', 'ENODEV', 'the fake host maps anonymous memory only (BARs are reached with pread/pwrite)');
    if (length <= 0) throw sysError('mmap', 'EINVAL');
    const len = Math.ceil(length / 4096) * 4096;
    const mem: FakeMemory = { addr: this.nextAddr, bytes: new Uint8Array(len) };
    this.nextAddr += BigInt(len) + 0x10000n;
    this.memory.push(mem);
    return { addr: mem.addr, length, bytes: mem.bytes.subarray(0, length) };
  }

  munmap(m: MappedMemory): void {
    const i = this.memory.findIndex((x) => x.addr === m.addr);
    if (i < 0) throw sysError('munmap', 'EINVAL');
    this.memory.splice(i, 1);
  }

  eventfd(initval: number, flags: number): number {
    const e = new FakeEventfd(!!(flags & EFD_NONBLOCK), () => this.wakeAll());
    e.count = BigInt(initval);
    return this.installFd(e);
  }

  poll(fds: readonly PollFd[], timeoutMs: number): Promise<number[]> {
    const check = () => fds.map((p) => (this.files.get(p.fd)?.readiness?.() ?? 0) & (p.events | 0x18));
    const now = check();
    if (now.some((r) => r) || timeoutMs === 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wake = () => {
        const r = check();
        if (r.some((x) => x)) {
          if (timer) clearTimeout(timer);
          resolve(r);
        } else this.waiters.add(wake);
      };
      this.waiters.add(wake);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.waiters.delete(wake);
          resolve(check());
        }, timeoutMs);
      }
    });
  }

  readText(path: string): string {
    return this.fs.readText(path);
  }

  writeText(path: string, text: string): void {
    this.fs.writeText(path, text);
  }

  readlink(path: string): string | undefined {
    return this.fs.readlink(path);
  }

  readdir(path: string): string[] {
    return this.fs.readdir(path);
  }

  exists(path: string): boolean {
    return this.fs.exists(path);
  }

  createExclusive(path: string, text: string): void {
    if (this.fs.exists(path)) throw sysError(`create ${path}`, 'EEXIST');
    this.fs.file(path, text);
  }

  unlink(path: string): void {
    if (!this.fs.exists(path)) throw sysError(`unlink ${path}`, 'ENOENT');
    this.fs.remove(path);
  }

  mkdirp(path: string): void {
    this.fs.dir(path);
  }

  processAlive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
}
