// A worker thread for the calls that may block (VFIO_DEVICE_RESET waits 100 ms or more for an FLR,
// poll waits on eventfds): the event loop of the main thread keeps running, so deadlines fire.
// Plain JavaScript so that it loads without the TypeScript loader. Messages:
//   { id, op: 'ioctl', fd, request, arg }  -> { id, ret, errno, arg }
//   { id, op: 'poll', fds: [{fd, events}], timeoutMs } -> { id, ret, errno, revents }
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';

const koffi = createRequire(import.meta.url)('koffi');
const libc = koffi.load('libc.so.6');
// ioctl is variadic in C; an integer or pointer third argument is passed the same way on x86_64 and
// arm64 Linux, so fixed prototypes are safe (and callable here).
const ioctlPtr = libc.func('int ioctl(int fd, unsigned long request, void *arg)');
const ioctlVal = libc.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
const poll = libc.func('int poll(void *fds, unsigned long nfds, int timeout)');

parentPort.on('message', (m) => {
  if (m.op === 'ioctl') {
    const buf = m.arg instanceof Uint8Array ? m.arg : undefined;
    const ret = buf ? ioctlPtr(m.fd, m.request, buf) : ioctlVal(m.fd, m.request, m.arg ?? 0);
    parentPort.postMessage({ id: m.id, ret, errno: ret < 0 ? koffi.errno() : 0, arg: buf });
    return;
  }
  if (m.op === 'poll') {
    const arr = Buffer.alloc(8 * m.fds.length);
    m.fds.forEach((p, i) => {
      arr.writeInt32LE(p.fd, 8 * i);
      arr.writeInt16LE(p.events, 8 * i + 4);
    });
    const ret = poll(arr, m.fds.length, m.timeoutMs);
    const errno = ret < 0 ? koffi.errno() : 0;
    const revents = m.fds.map((_, i) => arr.readInt16LE(8 * i + 6) & 0xffff);
    parentPort.postMessage({ id: m.id, ret, errno, revents });
  }
});
