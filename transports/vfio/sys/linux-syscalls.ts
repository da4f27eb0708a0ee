import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { type MappedMemory, type PollFd, SysError, type Syscalls } from './syscalls.ts';

/** The slice of koffi's API the transport uses (typed here: koffi's own typings are broad). */
interface Koffi {
  load(name: string): { func(proto: string): (...args: unknown[]) => unknown };
  errno(): number;
  view(ptr: bigint, len: number): ArrayBuffer;
}

interface LibcCalls {
  ioctlPtr(fd: number, request: number, arg: Uint8Array): number;
  ioctlVal(fd: number, request: number, arg: number): number;
  mmap(addr: null, len: number, prot: number, flags: number, fd: number, off: number): bigint;
  munmap(addr: bigint, len: number): number;
  eventfd(initval: number, flags: number): number;
  errno(): number;
  view(ptr: bigint, len: number): ArrayBuffer;
}

const MAP_FAILED = 0xffffffffffffffffn;
const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

let libc: LibcCalls | undefined;

/** koffi is loaded on the first call that needs it, never by importing this module. */
function loadLibc(): LibcCalls {
  if (libc) return libc;
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const lib = koffi.load('libc.so.6');
  // ioctl is variadic in C; an integer or pointer third argument travels the same way on x86_64 and
  // arm64 Linux, so two fixed prototypes of the one symbol are safe.
  const ioctlPtr = lib.func('int ioctl(int fd, unsigned long request, void *arg)');
  const ioctlVal = lib.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
  const mmap = lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)');
  const munmap = lib.func('int munmap(void *addr, size_t len)');
  const eventfd = lib.func('int eventfd(unsigned int initval, int flags)');
  libc = {
    ioctlPtr: (fd, r, a) => ioctlPtr(fd, r, a) as number,
    ioctlVal: (fd, r, a) => ioctlVal(fd, r, a) as number,
    mmap: (a, l, p, f, fd, o) => mmap(a, l, p, f, fd, o) as bigint,
    munmap: (a, l) => munmap(a, l) as number,
    eventfd: (i, f) => eventfd(i, f) as number,
    errno: () => koffi.errno(),
    view: (p, l) => koffi.view(p, l),
  };
  return libc;
}

function fromNode(call: string, e: unknown): SysError {
  const err = e as NodeJS.ErrnoException;
  const code = err.code ?? 'EIO';
  return new SysError(call, code, typeof err.errno === 'number' ? Math.abs(err.errno) : 0);
}

interface Pending {
  resolve(v: { ret: number; errno: number; arg?: Uint8Array; revents?: number[] }): void;
}

/**
 * Worker threads for blocking calls, one per call in flight (a reset must not wait behind a long
 * poll), kept idle for reuse and unreferenced so they never hold the process open.
 */
class BlockingPool {
  private idle: Worker[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  run(msg: Record<string, unknown>): Promise<{ ret: number; errno: number; arg?: Uint8Array; revents?: number[] }> {
    const w = this.idle.pop() ?? this.spawn();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, {
        resolve: (v) => {
          this.idle.push(w);
          w.unref();
          resolve(v);
        },
      });
      w.ref();
      w.postMessage({ ...msg, id });
    });
  }

  private spawn(): Worker {
    const w = new Worker(new URL('./blocking-worker.mjs', import.meta.url));
    w.unref();
    w.on('message', (m: { id: number; ret: number; errno: number; arg?: Uint8Array; revents?: number[] }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.resolve(m);
    });
    return w;
  }
}

/** The real kernel: node:fs for files and fds, koffi for ioctl, mmap, eventfd; blocking calls on workers. */
export class LinuxSyscalls implements Syscalls {
  readonly kind = 'linux' as const;
  private readonly pool = new BlockingPool();

  open(path: string, flags: number): number {
    try {
      return fs.openSync(path, flags);
    } catch (e) {
      throw fromNode(`open ${path}`, e);
    }
  }

  close(fd: number): void {
    try {
      fs.closeSync(fd);
    } catch (e) {
      throw fromNode('close', e);
    }
  }

  ioctl(fd: number, request: number, arg?: Uint8Array | number): number {
    const c = loadLibc();
    const ret = arg instanceof Uint8Array ? c.ioctlPtr(fd, request, arg) : c.ioctlVal(fd, request, arg ?? 0);
    if (ret < 0) {
      const n = c.errno();
      throw new SysError(`ioctl 0x${request.toString(16)}`, errnoName(n), n);
    }
    return ret;
  }

  async ioctlBlocking(fd: number, request: number, arg?: Uint8Array | number): Promise<number> {
    const r = await this.pool.run({ op: 'ioctl', fd, request, arg });
    if (arg instanceof Uint8Array && r.arg) arg.set(r.arg);
    if (r.ret < 0) throw new SysError(`ioctl 0x${request.toString(16)}`, errnoName(r.errno), r.errno);
    return r.ret;
  }

  pread(fd: number, buf: Uint8Array, offset: number): number {
    try {
      return fs.readSync(fd, buf, 0, buf.length, offset);
    } catch (e) {
      throw fromNode('pread', e);
    }
  }

  pwrite(fd: number, buf: Uint8Array, offset: number): number {
    try {
      return fs.writeSync(fd, buf, 0, buf.length, offset);
    } catch (e) {
      throw fromNode('pwrite', e);
    }
  }

  pwriteBlocking(fd: number, buf: Uint8Array, offset: number): Promise<number> {
    // fs.write runs on libuv's thread pool.
    return new Promise((resolve, reject) => fs.write(fd, buf, 0, buf.length, offset, (e, n) => (e ? reject(fromNode('pwrite', e)) : resolve(n))));
  }

  read(fd: number, buf: Uint8Array): number {
    try {
      return fs.readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      throw fromNode('read', e);
    }
  }

  write(fd: number, buf: Uint8Array): number {
    try {
      return fs.writeSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      throw fromNode('write', e);
    }
  }

  mmap(length: number, prot: number, flags: number, fd: number, offset: number): MappedMemory {
    const c = loadLibc();
    const addr = c.mmap(null, length, prot, flags, fd, offset);
    if (addr === MAP_FAILED || addr === -1n) {
      const n = c.errno();
      throw new SysError('mmap', errnoName(n), n);
    }
    return { addr, length, bytes: new Uint8Array(c.view(addr, length)) };
  }

  munmap(mem: MappedMemory): void {
    const c = loadLibc();
    if (c.munmap(mem.addr, mem.length) < 0) {
      const n = c.errno();
      throw new SysError('munmap', errnoName(n), n);
    }
  }

  eventfd(initval: number, flags: number): number {
    const c = loadLibc();
    const fd = c.eventfd(initval, flags);
    if (fd < 0) {
      const n = c.errno();
      throw new SysError('eventfd', errnoName(n), n);
    }
    return fd;
  }

  async poll(fds: readonly PollFd[], timeoutMs: number): Promise<number[]> {
    const r = await this.pool.run({ op: 'poll', fds: fds.map((f) => ({ fd: f.fd, events: f.events })), timeoutMs });
    if (r.ret < 0) {
      if (r.errno === os.constants.errno.EINTR) return fds.map(() => 0);
      throw new SysError('poll', errnoName(r.errno), r.errno);
    }
    return r.revents ?? fds.map(() => 0);
  }

  readText(path: string): string {
    try {
      return fs.readFileSync(path, 'utf8');
    } catch (e) {
      throw fromNode(`read ${path}`, e);
    }
  }

  writeText(path: string, text: string): void {
    let fd: number | undefined;
    try {
      // sysfs stores take the whole value in one write(2).
      fd = fs.openSync(path, 'w');
      fs.writeSync(fd, text);
    } catch (e) {
      throw fromNode(`write ${path}`, e);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  readlink(path: string): string | undefined {
    try {
      return fs.readlinkSync(path);
    } catch {
      return undefined;
    }
  }

  readdir(path: string): string[] {
    try {
      return fs.readdirSync(path);
    } catch {
      return [];
    }
  }

  exists(path: string): boolean {
    return fs.existsSync(path);
  }

  createExclusive(path: string, text: string, mode = 0o644): void {
    try {
      fs.writeFileSync(path, text, { flag: 'wx', mode });
    } catch (e) {
      throw fromNode(`create ${path}`, e);
    }
  }

  unlink(path: string): void {
    try {
      fs.unlinkSync(path);
    } catch (e) {
      throw fromNode(`unlink ${path}`, e);
    }
  }

  mkdirp(path: string, mode = 0o755): void {
    fs.mkdirSync(path, { recursive: true, mode });
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
