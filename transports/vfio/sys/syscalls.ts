/**
 * The one small system-call interface every kernel access of the vfio transport goes through: file
 * descriptors (open, close, ioctl, pread/pwrite, read/write), memory (mmap/munmap), eventfd and poll,
 * and the few file operations sysfs needs. Two implementations: Linux (node:fs plus koffi for the
 * calls Node lacks, loaded only when the vfio transport is used) and the in-memory fake host of CI.
 */

/** A failed call, with the errno the kernel (or the fake) returned. */
export class SysError extends Error {
  override name = 'SysError';
  constructor(
    readonly call: string,
    readonly code: string,
    readonly errno: number,
    detail?: string,
  ) {
    super(`${call}: ${code}${detail ? ` (${detail})` : ''}`);
  }
}

/** errno values of Linux (asm-generic), the ones the transport recognises. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  ERANGE: 34,
  EMSGSIZE: 90,
  E2BIG: 7,
} as const;
export type ErrnoName = keyof typeof Errno;

export function sysError(call: string, code: ErrnoName, detail?: string): SysError {
  return new SysError(call, code, Errno[code], detail);
}

/** open(2) flags (x86_64 and arm64 share these). */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_ANONYMOUS = 0x20;
export const MAP_POPULATE = 0x8000;

export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;

export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;

/**
 * Memory from mmap: its process address (what the IOMMU maps) and a view of it. Driver-side reads
 * and writes of DMA memory go through `bytes`; the device reaches it through the IOMMU.
 */
export interface MappedMemory {
  readonly addr: bigint;
  readonly length: number;
  readonly bytes: Uint8Array;
}

export interface PollFd {
  fd: number;
  events: number;
}

export interface Syscalls {
  /** 'linux' for the real kernel, 'fake' for the in-memory host of CI. */
  readonly kind: 'linux' | 'fake';

  open(path: string, flags: number): number;
  close(fd: number): void;
  /**
   * ioctl with the argument by value (a number) or by pointer (a buffer the kernel reads and writes in
   * place). Returns the call's non-negative result; a failure throws SysError.
   */
  ioctl(fd: number, request: number, arg?: Uint8Array | number): number;
  /** The same, for calls that may block (reset, FLR): run off the event loop, so deadlines still fire. */
  ioctlBlocking(fd: number, request: number, arg?: Uint8Array | number): Promise<number>;
  pread(fd: number, buf: Uint8Array, offset: number): number;
  pwrite(fd: number, buf: Uint8Array, offset: number): number;
  /**
   * A pwrite the kernel may take long over (vfio-pci performs an FLR or a power-state change inside a
   * config write to PCIe Device Control or PMCSR): off the event loop.
   */
  pwriteBlocking(fd: number, buf: Uint8Array, offset: number): Promise<number>;
  read(fd: number, buf: Uint8Array): number;
  write(fd: number, buf: Uint8Array): number;

  /** Anonymous shared memory (fd -1) or a mapping of a device region. */
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): MappedMemory;
  munmap(mem: MappedMemory): void;

  eventfd(initval: number, flags: number): number;
  /** poll(2) off the event loop; resolves with each fd's revents (all 0 when the time ran out). */
  poll(fds: readonly PollFd[], timeoutMs: number): Promise<number[]>;

  /** Whole-file text read (sysfs attributes, /proc files); throws SysError ENOENT when absent. */
  readText(path: string): string;
  /** One write(2) of the whole text (a sysfs store); the kernel's refusal is a SysError. */
  writeText(path: string, text: string): void;
  /** The target of a symbolic link, or undefined when `path` is not one (or does not exist). */
  readlink(path: string): string | undefined;
  /** Entry names of a directory; [] when it does not exist. */
  readdir(path: string): string[];
  exists(path: string): boolean;
  /** Creates a file that must not exist yet (O_CREAT|O_EXCL), with `text`; EEXIST when it does. */
  createExclusive(path: string, text: string, mode?: number): void;
  unlink(path: string): void;
  mkdirp(path: string, mode?: number): void;
  /** Whether a process id is alive (kill(pid, 0)). */
  processAlive(pid: number): boolean;
}
