/**
 * The Linux system-call layer on this machine, with harmless calls only (eventfd, poll, mmap, FIONREAD
 * on a file of our own); the container check needs a real /dev/vfio and says so when skipped. No PCI
 * device of this machine is opened, bound, reset or written.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LinuxSyscalls } from '../../transports/vfio/sys/linux-syscalls.ts';
import { EFD_CLOEXEC, EFD_NONBLOCK, MAP_ANONYMOUS, MAP_SHARED, O_CLOEXEC, O_RDWR, POLLIN, PROT_READ, PROT_WRITE, SysError } from '../../transports/vfio/sys/syscalls.ts';
import { VfioIoctl, VfioIommuType } from '../../transports/vfio/uapi/vfio-uapi.ts';

const FIONREAD = 0x541b;
const ROOT = path.resolve(import.meta.dirname, '../..');

describe('LinuxSyscalls', () => {
  const sys = new LinuxSyscalls();

  it('eventfd counters, and poll off the event loop: ready at once, or at its timeout', async () => {
    const fd = sys.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    try {
      expect(await sys.poll([{ fd, events: POLLIN }], 0)).toEqual([0]);
      const one = new Uint8Array(8);
      one[0] = 3;
      sys.write(fd, one);
      expect((await sys.poll([{ fd, events: POLLIN }], 1000))[0] & POLLIN).toBe(POLLIN);
      const b = new Uint8Array(8);
      sys.read(fd, b);
      expect(b[0]).toBe(3);
      expect(() => sys.read(fd, b)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
      // A blocking poll runs on a worker: a timer on the main thread still fires meanwhile.
      let ticked = false;
      setTimeout(() => (ticked = true), 10);
      expect(await sys.poll([{ fd, events: POLLIN }], 80)).toEqual([0]);
      expect(ticked).toBe(true);
    } finally {
      sys.close(fd);
    }
  });

  it('ioctl by pointer, in place and off the event loop, with errno as a SysError', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmcts-sys-'));
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'hello');
    const fd = sys.open(file, O_RDWR | O_CLOEXEC);
    try {
      const n = new Uint8Array(4);
      expect(sys.ioctl(fd, FIONREAD, n)).toBe(0);
      expect(n[0]).toBe(5);
      n.fill(0);
      expect(await sys.ioctlBlocking(fd, FIONREAD, n)).toBe(0);
      expect(n[0]).toBe(5);
      // A VFIO number on a plain file is refused by the kernel, and said so.
      expect(() => sys.ioctl(fd, VfioIoctl.GET_API_VERSION)).toThrow(SysError);
      await expect(sys.ioctlBlocking(fd, VfioIoctl.DEVICE_RESET)).rejects.toMatchObject({ code: 'ENOTTY' });
    } finally {
      sys.close(fd);
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('mmap gives memory the process and its views share', () => {
    const m = sys.mmap(8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    expect(m.addr % 4096n).toBe(0n);
    m.bytes[4097] = 42;
    expect(m.bytes[4097]).toBe(42);
    sys.munmap(m);
  });

  it('importing the vfio transport does not load koffi; the first call that needs it does', () => {
    const script = `
      const { createRequire } = await import('node:module');
      const req = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))});
      const loaded = () => Object.keys(req.cache).some((k) => k.includes('/koffi/'));
      const { LinuxSyscalls } = await import(${JSON.stringify(path.join(ROOT, 'transports/vfio/sys/linux-syscalls.ts'))});
      const s = new LinuxSyscalls();
      const before = loaded();
      s.readdir('/');
      const afterFiles = loaded();
      s.close(s.eventfd(0, 0));
      console.log(JSON.stringify({ before, afterFiles, after: loaded() }));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ before: false, afterFiles: false, after: true });
  });

  it('the VFIO container answers GET_API_VERSION and type1 on a real host', (ctx) => {
    if (!fs.existsSync('/dev/vfio/vfio')) return ctx.skip('needs a real /dev/vfio/vfio (a Linux host with VFIO and an IOMMU); this machine has none');
    const fd = sys.open('/dev/vfio/vfio', O_RDWR | O_CLOEXEC);
    try {
      expect(sys.ioctl(fd, VfioIoctl.GET_API_VERSION)).toBe(0);
      expect(sys.ioctl(fd, VfioIoctl.CHECK_EXTENSION, VfioIommuType.TYPE1v2) + sys.ioctl(fd, VfioIoctl.CHECK_EXTENSION, VfioIommuType.TYPE1)).toBeGreaterThan(0);
    } finally {
      sys.close(fd);
    }
  });
});
