/**
 * Helpers of the write-recording suites (not a suite file: vitest collects only *.suite.ts).
 *
 * The device writes are made by a block guest: read requests whose data buffers the suite places at
 * chosen addresses, so it knows which pages the device must write. With DMA observation the exact set
 * of pages the device wrote is taken from the DMA log; without it, the pages of the buffers of
 * completed requests (data, status byte, used-ring element and index) are what the device must have
 * written, and the pages of every buffer it was given are all it may have written in the suite's own
 * region.
 */
import { AdminStatusError } from '../../harness/admin-client.ts';
import type { ConformanceContext } from '../../harness/ctest.ts';
import { blkRead, SECTOR } from '../../harness/guest/block-guest.ts';
import type { GuestArena } from '../../harness/guest/guest-arena.ts';
import type { GuestDriver } from '../../harness/guest/guest-driver.ts';
import type { PostedRequest } from '../../harness/guest/guest-queue.ts';
import { waitForDevice } from '../../harness/wait.ts';
import { decodeWriteRecordsReadResult, pageSizesOf, recordsCapacity, type VirtioAdminCmdDevWriteRecordCapResult } from '../../protocol/commands.ts';
import type { DmaAccess, GuestMemory } from '../../protocol/guest-memory.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import { UsedOff, USED_ELEM_SIZE } from '../../protocol/split-ring.ts';
import { Status } from '../../protocol/status.ts';
import { BlkStatus } from '../../protocol/virtio-blk.ts';

/** Largest page size the member tests exercise (their regions are a few pages of it). */
export const MAX_TESTED_PAGE = 2n << 20n;

/** Pages of the suite's region per member memory and page size. */
export const REGION_PAGES = 8;

export const hex = (v: bigint) => `0x${v.toString(16)}`;

/** A started range: `pages` pages of the START page size from `start`. */
export interface Range {
  start: bigint;
  pages: bigint;
}

export function rangeBytes(r: Range, pageSize: bigint): { start: bigint; end: bigint } {
  return { start: r.start, end: r.start + r.pages * pageSize };
}

export function describeRange(r: Range, pageSize: bigint): string {
  const b = rangeBytes(r, pageSize);
  return `[${hex(b.start)}, ${hex(b.end)})`;
}

/** The page_size-aligned pages [addr, addr + len) touches. */
export function pagesOf(addr: bigint, len: number | bigint, pageSize: bigint): bigint[] {
  const n = BigInt(len);
  if (n <= 0n) return [];
  const out: bigint[] = [];
  for (let p = addr - (addr % pageSize); p < addr + n; p += pageSize) out.push(p);
  return out;
}

export function inRange(page: bigint, r: Range, pageSize: bigint): boolean {
  const b = rangeBytes(r, pageSize);
  return page >= b.start && page < b.end;
}

export function sortPages(pages: Iterable<bigint>): bigint[] {
  return [...pages].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function listPages(pages: Iterable<bigint>, max = 8): string {
  const all = sortPages(pages);
  const head = all.slice(0, max).map(hex).join(', ');
  return all.length > max ? `${head} and ${all.length - max} more` : head || '(none)';
}

/** The capabilities and the page sizes (advertised, at most MAX_TESTED_PAGE) the member tests use. */
export async function recordingCaps(t: ConformanceContext): Promise<{ caps: VirtioAdminCmdDevWriteRecordCapResult; sizes: bigint[] }> {
  const caps = await t.admin.capQueryOk(t.src);
  const usable = pageSizesOf(caps.supportedPageSizeBitmap).filter((p) => p <= MAX_TESTED_PAGE);
  if (usable.length === 0) return t.notTested(`no advertised page size is at most ${MAX_TESTED_PAGE} bytes (bitmap 0x${caps.supportedPageSizeBitmap.toString(16)}); larger pages are not exercised`);
  const sizes = [usable[0]];
  if (usable.length > 1) sizes.push(usable[usable.length - 1]);
  return { caps, sizes };
}

const regions = new WeakMap<GuestMemory, Map<bigint, bigint>>();

/** REGION_PAGES pages of `pageSize`, aligned to it, in the member's memory; allocated once per memory and page size. */
export function region(port: MemberPort, pageSize: bigint): bigint {
  let m = regions.get(port.memory);
  if (!m) regions.set(port.memory, (m = new Map()));
  let at = m.get(pageSize);
  if (at === undefined) {
    at = port.memory.alloc(Number(pageSize) * REGION_PAGES, Number(pageSize));
    m.set(pageSize, at);
  }
  return at;
}

/** A buffer for the device to write: `len` bytes (a multiple of 512) at `addr`. */
export interface Placed {
  addr: bigint;
  len: number;
}

/** Device writes made by a block guest, and what the suite knows of them. */
export class DeviceWriter {
  /** Device writes seen in the DMA log since mark() (with DMA observation). */
  private dma: DmaAccess[] = [];
  /** Data buffers given to the device since mark(). */
  private posted: Placed[] = [];
  /** Memory the device certainly wrote since mark(): buffers of completed requests and their used-ring entries. */
  private certain: Placed[] = [];
  private nextStatus = 0;

  private constructor(
    readonly t: ConformanceContext,
    readonly port: MemberPort,
    readonly drv: GuestDriver,
    /** The suite's region for the page size under test. */
    readonly regionStart: bigint,
    readonly regionEnd: bigint,
  ) {}

  private get pageSizeOfRegion(): bigint {
    return (this.regionEnd - this.regionStart) / BigInt(REGION_PAGES);
  }

  /** A block guest on the test's source member, and the suite's region for `pageSize`. */
  static async open(t: ConformanceContext, pageSize: bigint, drv?: GuestDriver): Promise<DeviceWriter> {
    const port = t.port(t.src);
    if (port.virtioType !== VirtioDeviceType.BLOCK) return t.notTested(`member ${t.src} is virtio device type ${port.virtioType}; the write-recording tests drive block members only`);
    const guest = drv ?? (await t.guest(t.src, { queues: 1, queueSize: 64 }));
    const start = region(port, pageSize);
    return new DeviceWriter(t, port, guest, start, start + pageSize * BigInt(REGION_PAGES));
  }

  /** Whether the DMA log gives the exact set of device writes. */
  get exact(): boolean {
    return this.port.capabilities.dmaObservation;
  }

  /** Page `i` of the region. */
  page(i: number, pageSize: bigint): bigint {
    return this.regionStart + BigInt(i) * pageSize;
  }

  /** Forgets what was written so far: the next bounds() covers writes after this call. */
  mark(): void {
    this.port.takeDmaLog();
    this.dma = [];
    this.posted = [];
    this.certain = [];
  }

  /** Continues with another guest driver (after an FLR the member has to be initialized again). */
  withDriver(drv: GuestDriver): DeviceWriter {
    const w = new DeviceWriter(this.t, this.port, drv, this.regionStart, this.regionEnd);
    w.nextStatus = this.nextStatus;
    w.dma = this.dma;
    w.posted = this.posted;
    w.certain = this.certain;
    return w;
  }

  private collect(): void {
    for (const a of this.port.takeDmaLog()) if (a.kind === 'write') this.dma.push(a);
  }

  /**
   * Where the next status byte goes: 16-byte slots in the first half of region page 0, which no test
   * starts recording on. Status bytes kept away from the rings leave the page of the used ring with
   * ring writes only, so a test that records that page sees whether ring writes are recorded.
   */
  private statusSlot(): bigint {
    const slots = Number(this.pageSizeOfRegion / 2n / 16n);
    return this.regionStart + BigInt((this.nextStatus++ % Math.min(slots, 128)) * 16);
  }

  /** Posts block reads into the placed buffers (no doorbell). */
  post(bufs: readonly Placed[]): PostedRequest[] {
    const q = this.drv.queues[0];
    return bufs.map((b, i) => {
      if (b.len <= 0 || b.len % SECTOR) throw new RangeError('placed buffers are whole sectors');
      const status = this.statusSlot();
      this.posted.push({ addr: status, len: 1 });
      const addrs: (bigint | undefined)[] = [undefined, b.addr, status];
      let k = 0;
      // The queue takes buffer addresses from the arena; this one hands out the placed data buffer.
      const arena = Object.create(this.drv.arena) as GuestArena;
      arena.buffer = (len: number) => addrs[k++] ?? this.drv.arena.buffer(len);
      this.posted.push(b);
      return q.post(this.drv.memory, arena, blkRead(BigInt(i % 64), b.len / SECTOR), i);
    });
  }

  /** Reaps what completed: checks the status byte, notes the certain writes, frees the header. */
  reap(): number {
    const q = this.drv.queues[0];
    const mem = this.drv.memory;
    const from = q.lastUsedIdx;
    const done = q.reap(mem);
    done.forEach((c, i) => {
      const [head, data, status] = c.request.buffers;
      const st = mem.read(status.addr, 1)[0];
      if (st !== BlkStatus.OK) this.t.fail(undefined, `the block read into ${hex(data.addr)} (+${data.len}) completed with status ${st}: the device did not write the buffer`);
      const slot = (from + i) % q.size;
      this.certain.push(
        { addr: data.addr, len: data.len },
        { addr: status.addr, len: 1 },
        { addr: q.device + BigInt(UsedOff.RING + USED_ELEM_SIZE * slot), len: USED_ELEM_SIZE },
        { addr: q.device + BigInt(UsedOff.IDX), len: 2 },
      );
      this.drv.arena.release(head.addr, head.len);
    });
    this.collect();
    return done.length;
  }

  /** Makes the device write every placed buffer: block reads, one doorbell, all completions reaped (within the completion time the transport declares). */
  async write(bufs: readonly Placed[], timeoutMs = this.port.timing.completionMs): Promise<void> {
    this.post(bufs);
    await this.drv.kick(0);
    let got = 0;
    const done = await waitForDevice(this.port, () => (got += this.reap()) >= bufs.length, timeoutMs);
    if (!done) this.t.fail(undefined, `the member completed ${got} of ${bufs.length} block reads within ${timeoutMs} ms while write recording was started`);
  }

  /**
   * What the records of `ranges` must hold (`must`) and what they may hold (`may`) for the writes since
   * mark(): exact with the DMA log; otherwise the certain writes, and in the suite's region every page
   * of a buffer the device was given (elsewhere anything: the suite does not know all that is there).
   */
  bounds(ranges: readonly Range[], pageSize: bigint): { must: Set<bigint>; may: (page: bigint) => boolean } {
    this.collect();
    const inAny = (p: bigint) => ranges.some((r) => inRange(p, r, pageSize));
    const must = new Set<bigint>();
    const src = this.exact ? this.dma : this.certain;
    for (const a of src) for (const p of pagesOf(a.addr, a.len, pageSize)) if (inAny(p)) must.add(p);
    if (this.exact) return { must, may: (p) => must.has(p) };
    const given = new Set<bigint>();
    for (const b of this.posted) for (const p of pagesOf(b.addr, b.len, pageSize)) given.add(p);
    return { must, may: (p) => (p >= this.regionStart && p < this.regionEnd ? given.has(p) || must.has(p) : true) };
  }
}

/** One WRITE_RECORDS_READ: the decoded records (OK required; a refusal inside a started range ends the test). */
export async function readOnce(t: ConformanceContext, start: bigint, length: bigint, capacity: number): Promise<bigint[]> {
  const r = await t.admin.recordsRead(t.src, start, length, capacity);
  if (r.status !== Status.OK) throw new AdminStatusError(`DEV_WRITE_RECORDS_READ of [${hex(start)}, +${length}) inside a started range`, r.status, r.qualifier);
  return decodeWriteRecordsReadResult(r.output, r.result, t.wire);
}

/** READs of [start, start + length) until one returns fewer records than fit (E28); every record returned. */
export async function drain(t: ConformanceContext, start: bigint, length: bigint, capacity = 4096): Promise<bigint[]> {
  const fit = recordsCapacity(capacity, t.wire);
  const out: bigint[] = [];
  for (let rounds = 0; rounds < 4096; rounds++) {
    const got = await readOnce(t, start, length, capacity);
    out.push(...got);
    if (got.length < fit) return out;
  }
  return t.fail(undefined, `DEV_WRITE_RECORDS_READ of [${hex(start)}, +${length}) kept returning full buffers for 4096 reads`);
}

/** Drains every range; records by range index. */
export async function drainAll(t: ConformanceContext, ranges: readonly Range[], pageSize: bigint): Promise<bigint[][]> {
  const out: bigint[][] = [];
  for (const r of ranges) out.push(await drain(t, r.start, r.pages * pageSize));
  return out;
}

/** The smallest result capacity that holds one record under the profile's count placement (E8). */
export function oneRecordCapacity(t: ConformanceContext): number {
  let c = 8;
  while (recordsCapacity(c, t.wire) < 1) c += 8;
  return c;
}
