import { O_CLOEXEC, O_NONBLOCK, O_RDONLY, type Syscalls, SysError } from '../sys/syscalls.ts';

/** One device access the IOMMU refused, as the kernel logged it. */
export interface LoggedFault {
  /** bus:dev.fn as logged (Intel's DMAR lines carry no segment). */
  rid: string;
  kind: 'read' | 'write' | 'access';
  addr: bigint;
  line: string;
}

const DMAR = /DMAR: \[DMA (Read|Write)[^\]]*\] Request device \[([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\] fault addr (?:0x)?([0-9a-f]+)/i;
const AMD_VI = /IO_PAGE_FAULT device=(?:[0-9a-f]{4}:)?([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) domain=0x[0-9a-f]+ address=0x([0-9a-f]+) flags=0x([0-9a-f]+)/i;
/** Newer kernels name the device in the dev_printk prefix: "vfio-pci 0000:3b:00.1: AMD-Vi: Event logged [IO_PAGE_FAULT domain=... address=... flags=...]". */
const AMD_VI_DEV = /(?:[0-9a-f]{4}:)?([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): AMD-Vi: Event logged \[IO_PAGE_FAULT domain=0x[0-9a-f]+ address=0x([0-9a-f]+) flags=0x([0-9a-f]+)/i;

/** Parses an IOMMU fault line of the Intel (DMAR) or AMD (AMD-Vi IO_PAGE_FAULT) driver; undefined otherwise. */
export function parseFaultLine(line: string): LoggedFault | undefined {
  let m = DMAR.exec(line);
  if (m) return { rid: m[2].toLowerCase(), kind: m[1].toLowerCase() === 'write' ? 'write' : 'read', addr: BigInt('0x' + m[3]), line };
  m = AMD_VI.exec(line) ?? AMD_VI_DEV.exec(line);
  // AMD-Vi flags bit 5 (0x20) is RW: set for a write.
  if (m) return { rid: m[1].toLowerCase(), kind: parseInt(m[3], 16) & 0x20 ? 'write' : 'read', addr: BigInt('0x' + m[2]), line };
  return undefined;
}

/** The bus:dev.fn part of a BDF, as fault lines name a requester. */
export function requesterId(bdf: string): string {
  return bdf.split(':').slice(1).join(':').toLowerCase();
}

/**
 * Reads the kernel log (/dev/kmsg, non-blocking) for IOMMU faults, from the moment it was opened:
 * records logged before are skipped. Needs CAP_SYSLOG (root) where dmesg_restrict is set; without
 * the log, `available` is false and faults are seen only in AER status.
 */
export class IommuFaultLog {
  private fd: number | undefined;
  private readonly faults: LoggedFault[] = [];
  readonly unavailableReason?: string;

  constructor(private readonly sys: Syscalls) {
    try {
      this.fd = sys.open('/dev/kmsg', O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      this.drain(false);
    } catch (e) {
      this.fd = undefined;
      this.unavailableReason = `the kernel log cannot be read (${e instanceof SysError ? e.code : String(e)})`;
    }
  }

  get available(): boolean {
    return this.fd !== undefined;
  }

  private drain(keep: boolean): void {
    if (this.fd === undefined) return;
    const buf = new Uint8Array(8192);
    const dec = new TextDecoder();
    for (;;) {
      let n: number;
      try {
        n = this.sys.read(this.fd, buf);
      } catch (e) {
        // EAGAIN: no more records; EPIPE: records were overwritten (read on).
        if (e instanceof SysError && e.code === 'EPIPE') continue;
        return;
      }
      if (n <= 0) return;
      if (!keep) continue;
      const rec = dec.decode(buf.subarray(0, n));
      const text = rec.slice(rec.indexOf(';') + 1).trimEnd();
      const f = parseFaultLine(text);
      if (f) this.faults.push(f);
    }
  }

  /** Faults of the function at `bdf` logged since the last call for it. */
  take(bdf: string): LoggedFault[] {
    this.drain(true);
    const rid = requesterId(bdf);
    const mine = this.faults.filter((f) => f.rid === rid);
    for (let i = this.faults.length - 1; i >= 0; i--) if (this.faults[i].rid === rid) this.faults.splice(i, 1);
    return mine;
  }

  close(): void {
    if (this.fd !== undefined) this.sys.close(this.fd);
    this.fd = undefined;
  }
}
