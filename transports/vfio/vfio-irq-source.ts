import type { IrqEvent, IrqSource } from '../../protocol/irq-source.ts';
import { EFD_CLOEXEC, EFD_NONBLOCK, POLLIN, type Syscalls, SysError } from './sys/syscalls.ts';
import * as U from './uapi/vfio-uapi.ts';
import type { VfioDevice } from './vfio-device.ts';

/**
 * Interrupts of a VFIO function as eventfds: every MSI-X vector of the table gets one (SET_IRQS
 * EVENTFD|TRIGGER), or INTx where the function has no MSI-X. Waits poll the eventfds off the event
 * loop, with one more eventfd that a deadline or an abort writes to wake the poll at once.
 */
export class VfioIrqSource implements IrqSource {
  readonly delivery: 'events' | 'none';
  readonly pollMs = 0;
  private readonly fds: { fd: number; vector: number | 'intx' }[] = [];
  private readonly wakeFd: number;
  private readonly one = new Uint8Array(8);
  private closed = false;
  readonly index: number;

  constructor(
    private readonly sys: Syscalls,
    private readonly dev: VfioDevice,
    private readonly nextSeq: () => number,
  ) {
    new DataView(this.one.buffer).setBigUint64(0, 1n, true);
    this.wakeFd = sys.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    const msix = dev.irqInfo(U.VfioPciIrq.MSIX);
    if (msix.count > 0 && msix.flags & U.IRQ_INFO_EVENTFD) {
      this.index = U.VfioPciIrq.MSIX;
      for (let v = 0; v < msix.count; v++) this.fds.push({ fd: sys.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), vector: v });
      dev.setIrqs({ flags: U.IRQ_SET_DATA_EVENTFD | U.IRQ_SET_ACTION_TRIGGER, index: U.VfioPciIrq.MSIX, start: 0, count: msix.count, fds: this.fds.map((f) => f.fd) });
    } else if (dev.irqInfo(U.VfioPciIrq.INTX).count > 0) {
      this.index = U.VfioPciIrq.INTX;
      this.fds.push({ fd: sys.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), vector: 'intx' });
      dev.setIrqs({ flags: U.IRQ_SET_DATA_EVENTFD | U.IRQ_SET_ACTION_TRIGGER, index: U.VfioPciIrq.INTX, start: 0, count: 1, fds: [this.fds[0].fd] });
    } else {
      // A VF without MSI-X has no interrupt at all (VFs have no INTx): nothing to observe.
      this.index = -1;
    }
    this.delivery = this.fds.length ? 'events' : 'none';
  }

  /** Reads one eventfd's counter (the number of messages since the last read), 0 when none. */
  private drain(fd: number): number {
    const b = new Uint8Array(8);
    try {
      this.sys.read(fd, b);
    } catch (e) {
      if (e instanceof SysError && e.code === 'EAGAIN') return 0;
      throw e;
    }
    return Number(new DataView(b.buffer).getBigUint64(0, true));
  }

  take(): IrqEvent[] {
    if (this.closed) return [];
    const out: IrqEvent[] = [];
    for (const f of this.fds) {
      const n = this.drain(f.fd);
      for (let i = 0; i < n; i++) out.push({ seq: this.nextSeq(), vector: f.vector });
      // INTx is automasked after each event: unmask for the next one.
      if (n && f.vector === 'intx') this.dev.setIrqs({ flags: U.IRQ_SET_DATA_NONE | U.IRQ_SET_ACTION_UNMASK, index: U.VfioPciIrq.INTX, start: 0, count: 1 });
    }
    return out;
  }

  async wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || !this.fds.length) return false;
    const fds = [...this.fds.map((f) => ({ fd: f.fd, events: POLLIN })), { fd: this.wakeFd, events: POLLIN }];
    const wake = () => this.sys.write(this.wakeFd, this.one);
    if (signal?.aborted) return false;
    // A wake left over from an earlier wait (its timer fired as its poll returned) must not end this one.
    this.drain(this.wakeFd);
    signal?.addEventListener('abort', wake, { once: true });
    // A deadline of our own as well: poll's timeout is kept, but the event loop decides.
    const timer = setTimeout(wake, timeoutMs);
    try {
      const revents = await this.sys.poll(fds, timeoutMs);
      this.drain(this.wakeFd);
      return revents.slice(0, -1).some((r) => r & POLLIN);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', wake);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.index >= 0) this.dev.setIrqs({ flags: U.IRQ_SET_DATA_NONE | U.IRQ_SET_ACTION_TRIGGER, index: this.index, start: 0, count: 0 });
    } finally {
      for (const f of this.fds) this.sys.close(f.fd);
      this.sys.close(this.wakeFd);
    }
  }
}
