/**
 * The guest workload the property-based tests drive on a block member, and what the draft says about
 * it: every request a guest makes available completes exactly once, with the right data and status,
 * and never while the member is outside Active (its used ring is memory the device must not touch,
 * SD11a/SD12a, E35); kicks received in Stop are acted on once the member is Active again (SD11c); after
 * a context is applied (ctx-format.context-sufficient-to-resume) the member goes on where the source
 * stopped. It also tells the oracle which pages the device wrote (or may have written) for the
 * write-record rules, from the transport's DMA log when it has one, otherwise from the buffers of the
 * requests that completed.
 *
 * Runs are many and short, so the guest's 4 MiB arena is one region per member, scrubbed and handed out
 * again for every run instead of allocating a new one each time (SparseGuestMemory allocates eagerly).
 */
import { MemoryOverlayPort } from '../guest/memory-overlay-port.ts';
import type { GuestMemory } from '../../protocol/guest-memory.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { AvailOff, UsedOff, USED_ELEM_SIZE } from '../../protocol/split-ring.ts';
import { BlkFeature } from '../../protocol/virtio-blk.ts';
import { BlkStatus, blkRead, blkWrite, SECTOR } from '../guest/block-guest.ts';
import { GuestDriver, type GuestDriverInit } from '../guest/guest-driver.ts';
import type { GuestArena } from '../guest/guest-arena.ts';
import { type PostedRequest, UsedRingError } from '../guest/guest-queue.ts';
import type { Severity } from './types.ts';

/** The arena size GuestArena asks for (harness/guest/guest-arena.ts default). */
export const ARENA_SIZE = 4 << 20;

/**
 * A member's guest memory that hands out one fixed region for every arena-sized allocation, so a run
 * that re-initializes its guest reuses the same pages. `scrub` zeroes the pages an arena used.
 */
export class RecycledArenaMemory implements GuestMemory {
  private region: bigint | undefined;

  constructor(readonly inner: GuestMemory) {}

  get pageSize(): number {
    return this.inner.pageSize;
  }

  alloc(size: number, align?: number): bigint {
    if (size !== ARENA_SIZE) return this.inner.alloc(size, align);
    return this.regionBase();
  }

  /** Bus address of the recycled arena region (allocated on first use). */
  regionBase(): bigint {
    this.region ??= this.inner.alloc(ARENA_SIZE, 4096);
    return this.region;
  }

  read(addr: bigint, len: number): Uint8Array {
    return this.inner.read(addr, len);
  }

  write(addr: bigint, data: Uint8Array): void {
    this.inner.write(addr, data);
  }

  pages(): bigint[] {
    return this.inner.pages();
  }

  /** Zeroes `pages` (4 KiB each) of this memory. */
  scrub(pages: readonly bigint[]): void {
    const zero = new Uint8Array(this.inner.pageSize);
    for (const p of pages) this.inner.write(p, zero);
  }
}

/** A MemberPort whose guest memory is a RecycledArenaMemory; everything else goes to the real port. */
export class RecycledPort extends MemoryOverlayPort {
  declare readonly memory: RecycledArenaMemory;

  constructor(inner: MemberPort) {
    super(inner, new RecycledArenaMemory(inner.memory));
  }
}

/** One request of the workload, as the guest made it. */
export interface WorkRequest {
  tag: number;
  queue: number;
  kind: 'read' | 'write';
  sector: bigint;
  sectors: number;
  /** Payload of a write. */
  data?: Uint8Array;
  /** What a read must return, when the suite knows the sectors' contents. */
  expect?: Uint8Array;
  posted: PostedRequest;
  /** Member (port id) that held the request when it was made available. */
  member: number;
  kicked: boolean;
  kickedInStop: boolean;
  /** A written context was applied to the member while the request was outstanding (a migration). */
  migrated: boolean;
  /** A Stop or Freeze period passed while the request was outstanding. */
  paused: boolean;
}

/** What went wrong with the workload, named by the rule it breaks (a finding when no rule of the draft covers it). */
export interface WorkloadProblem {
  rule: string;
  severity: Severity;
  message: string;
}

export interface RequestSpec {
  queue: number;
  kind: 'read' | 'write';
  sector: number;
  sectors: number;
  /** Pages of the arena to skip first, so the buffers land on new pages. */
  skipPages: number;
}

/** Deterministic payload of a write (replays must see the same bytes). */
export function payload(tag: number, sector: number, sectors: number): Uint8Array {
  const out = new Uint8Array(sectors * SECTOR);
  let x = (Math.imul(tag + 1, 0x9e3779b1) ^ Math.imul(sector + 7, 0x85ebca6b)) >>> 0;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
    out[i + 1] = (x >>> 8) & 0xff;
    out[i + 2] = (x >>> 16) & 0xff;
    out[i + 3] = x >>> 24;
  }
  return out;
}

function pagesOfRange(addr: bigint, len: number): bigint[] {
  const out: bigint[] = [];
  if (len <= 0) return out;
  for (let p = addr - (addr % 4096n); p < addr + BigInt(len); p += 4096n) out.push(p);
  return out;
}

/**
 * The workload of one guest: a GuestDriver on a (recycled) member port, the requests it has made,
 * and what the suite knows of the disk. One instance lives for a whole property; `reset()` starts a
 * run (after the session baseline reset the member).
 */
export class GuestWorkload {
  driver: GuestDriver | undefined;
  /** The member the guest drives now (changes when the guest is rebound after a migration). */
  port: RecycledPort;
  readonly outstanding = new Map<number, WorkRequest>();
  private nextTag = 1;
  /** Known contents of sectors written in this run (the last completed write, none in flight). */
  private readonly disk = new Map<bigint, Uint8Array>();
  private readonly writing = new Map<bigint, number>();
  /** Arenas used in this run, to scrub at the next reset. */
  private arenas: { port: RecycledPort; arena: GuestArena }[] = [];
  /** The guest driver was lost (FLR, reset, broken used ring): the next request re-initializes it. */
  private dead = true;
  completed = 0;
  init: GuestDriverInit = {};

  constructor(
    readonly home: RecycledPort,
    /** Other member ports the guest may be migrated to (their memory gets the copied pages). */
    private readonly others: RecycledPort[] = [],
  ) {
    this.port = home;
  }

  get alive(): boolean {
    return !this.dead && this.driver !== undefined;
  }

  get queueCount(): number {
    return this.driver?.queues.length ?? 0;
  }

  /** Starts a run: the member was reset by the baseline; scrub what the last run used. */
  reset(): void {
    for (const { arena } of this.arenas) {
      const pages = arena.pages();
      this.home.memory.scrub(pages);
      for (const o of this.others) o.memory.scrub(pages);
    }
    this.arenas = [];
    this.outstanding.clear();
    this.disk.clear();
    this.writing.clear();
    this.driver = undefined;
    this.dead = true;
    this.port = this.home;
    this.nextTag = 1;
    this.completed = 0;
  }

  /** Initializes (again) the guest driver on its member when it has none. */
  async ensure(): Promise<GuestDriver> {
    if (this.alive) return this.driver!;
    for (const { arena } of this.arenas) this.port.memory.scrub(arena.pages());
    const d = new GuestDriver(this.port);
    this.driver = d;
    // As many queues as asked and the device has; several queues need VIRTIO_BLK_F_MQ.
    const has = await this.port.commonCfgRead(CommonCfg.NUM_QUEUES.offset, 2);
    const queues = Math.max(1, Math.min(this.init.queues ?? 1, has));
    const features = (this.init.features ?? 0n) | (queues > 1 ? 1n << BigInt(BlkFeature.MQ) : 0n);
    await d.init({ ...this.init, queues, features });
    this.arenas.push({ port: this.port, arena: d.arena });
    this.dead = false;
    return d;
  }

  /** The guest lost its device state (FLR, device reset): outstanding requests are abandoned. */
  abandon(): void {
    this.dead = true;
    for (const r of this.outstanding.values()) if (r.kind === 'write') this.unmarkWriting(r);
    this.outstanding.clear();
  }

  private unmarkWriting(r: WorkRequest): void {
    for (let i = 0; i < r.sectors; i++) {
      const s = r.sector + BigInt(i);
      const n = (this.writing.get(s) ?? 1) - 1;
      if (n <= 0) this.writing.delete(s);
      else this.writing.set(s, n);
      // An abandoned write may or may not have reached the disk.
      this.disk.delete(s);
    }
  }

  /** Makes one request available (no kick). */
  post(spec: RequestSpec, mode: number): WorkRequest {
    const d = this.driver!;
    const queue = spec.queue % d.queues.length;
    if (spec.skipPages) d.arena.alloc(spec.skipPages * 4096, 4096);
    const tag = this.nextTag++;
    const sector = BigInt(spec.sector);
    let req: WorkRequest;
    if (spec.kind === 'write') {
      const data = payload(tag, spec.sector, spec.sectors);
      const posted = d.post(queue, blkWrite(sector, data), tag);
      req = { tag, queue, kind: 'write', sector, sectors: spec.sectors, data, posted, member: this.port.id, kicked: false, kickedInStop: false, migrated: false, paused: mode !== 0 };
      for (let i = 0; i < spec.sectors; i++) {
        const s = sector + BigInt(i);
        this.writing.set(s, (this.writing.get(s) ?? 0) + 1);
      }
    } else {
      let expect: Uint8Array | undefined = new Uint8Array(spec.sectors * SECTOR);
      for (let i = 0; i < spec.sectors && expect; i++) {
        const s = sector + BigInt(i);
        const known = this.writing.has(s) ? undefined : this.disk.get(s);
        if (known) expect.set(known, i * SECTOR);
        else expect = undefined;
      }
      const posted = d.post(queue, blkRead(sector, spec.sectors), tag);
      req = { tag, queue, kind: 'read', sector, sectors: spec.sectors, expect, posted, member: this.port.id, kicked: false, kickedInStop: false, migrated: false, paused: mode !== 0 };
    }
    this.outstanding.set(tag, req);
    return req;
  }

  /** Available-buffer notification for a queue; `mode` is the member's mode at the time. */
  async kick(queue: number, mode: number): Promise<void> {
    const d = this.driver!;
    const q = queue % d.queues.length;
    for (const r of this.outstanding.values()) {
      if (r.queue === q && !r.kicked) {
        r.kicked = true;
        r.kickedInStop = mode === 1;
      }
    }
    await d.kick(q);
  }

  /** A mode other than Active was entered with requests outstanding. */
  notePaused(): void {
    for (const r of this.outstanding.values()) r.paused = true;
  }

  /** A written context was applied to the member holding the outstanding requests. */
  noteMigrated(): void {
    for (const r of this.outstanding.values()) r.migrated = true;
  }

  /** Attribution of a broken request: the rule it shows broken, or a finding when no rule of the draft covers it. */
  private ruleFor(r: WorkRequest | undefined, what: 'lost' | 'wrong'): { rule: string; severity: Severity } {
    if (r?.migrated) return { rule: what === 'lost' ? 'ctx-format.split-runtime-resume-index' : 'ctx-format.context-sufficient-to-resume', severity: 'fail' };
    if (r?.kickedInStop && what === 'lost') return { rule: 'member.stop-accepts-notifications', severity: 'fail' };
    return { rule: 'ctx-format.context-sufficient-to-resume', severity: 'finding' };
  }

  /**
   * Reaps what the device completed. `mode` is the member's mode: a completion outside Active means the
   * device wrote its used ring outside Active. Returns the problems and the device writes the
   * completions prove (buffers and used ring entries), for the write-record model.
   */
  reap(mode: number): { problems: WorkloadProblem[]; writes: { addr: bigint; len: number }[]; count: number } {
    const problems: WorkloadProblem[] = [];
    const writes: { addr: bigint; len: number }[] = [];
    const d = this.driver;
    if (!d || this.dead) return { problems, writes, count: 0 };
    let count = 0;
    for (let q = 0; q < d.queues.length; q++) {
      const gq = d.queues[q];
      const usedBefore = gq.lastUsedIdx;
      let done;
      try {
        done = d.reap(q);
      } catch (e) {
        if (!(e instanceof UsedRingError)) throw e;
        const any = [...this.outstanding.values()].find((r) => r.queue === q);
        const a = any?.migrated ? { rule: 'ctx-format.split-runtime-resume-index', severity: 'fail' as Severity } : this.ruleFor(any, 'wrong');
        problems.push({ ...a, message: `member ${this.port.id} queue ${q}: ${e.message} (a request repeated or invented)` });
        this.abandon();
        return { problems, writes, count };
      }
      for (let i = 0; i < done.length; i++) {
        const c = done[i];
        count++;
        const slot = (usedBefore + i) % gq.size;
        writes.push({ addr: gq.device + BigInt(UsedOff.RING + USED_ELEM_SIZE * slot), len: USED_ELEM_SIZE }, { addr: gq.device + BigInt(UsedOff.IDX), len: 2 });
        for (const b of c.request.buffers) if (b.writable) writes.push({ addr: b.addr, len: b.len });
        const r = this.outstanding.get(c.request.tag);
        if (!r) {
          problems.push({ rule: 'ctx-format.split-runtime-resume-index', severity: 'fail', message: `member ${this.port.id} queue ${q}: request ${c.request.tag} completed twice` });
          continue;
        }
        this.outstanding.delete(r.tag);
        this.completed++;
        if (mode !== 0) {
          problems.push({
            rule: 'member.no-vq-memory-access-outside-active',
            severity: 'fail',
            message: `member ${this.port.id} queue ${q}: request ${r.tag} (${r.kind} of sector ${r.sector}) completed in its used ring while the member was not Active`,
          });
        }
        const status = c.data[c.data.length - 1]?.[0];
        if (status !== BlkStatus.OK) {
          problems.push({ ...this.ruleFor(r, 'wrong'), message: `member ${this.port.id}: request ${r.tag} (${r.kind} of ${r.sectors} sector(s) at ${r.sector}) completed with status ${status}` });
        }
        if (r.kind === 'write') {
          this.unmarkWritingKeepDisk(r);
          if (status === BlkStatus.OK) for (let k = 0; k < r.sectors; k++) this.disk.set(r.sector + BigInt(k), r.data!.subarray(k * SECTOR, (k + 1) * SECTOR));
        } else if (r.expect && status === BlkStatus.OK) {
          const got = c.data[0];
          let bad = -1;
          for (let k = 0; k < r.expect.length; k++) {
            if (got[k] !== r.expect[k]) {
              bad = k;
              break;
            }
          }
          if (bad >= 0) problems.push({ ...this.ruleFor(r, 'wrong'), message: `member ${this.port.id}: read request ${r.tag} of sector ${r.sector} returned wrong data (byte ${bad})` });
        }
      }
    }
    return { problems, writes, count };
  }

  private unmarkWritingKeepDisk(r: WorkRequest): void {
    for (let i = 0; i < r.sectors; i++) {
      const s = r.sector + BigInt(i);
      const n = (this.writing.get(s) ?? 1) - 1;
      if (n <= 0) this.writing.delete(s);
      else this.writing.set(s, n);
    }
  }

  /**
   * The guest moved to a member whose disk is not the one its data was written to (no shared
   * storage): what the suite knew of the disk no longer holds.
   */
  forgetDisk(): void {
    this.disk.clear();
    for (const r of this.outstanding.values()) r.expect = undefined;
  }

  /** Requests that never completed, as problems (called once the member had every chance to finish them). */
  lost(): WorkloadProblem[] {
    return [...this.outstanding.values()].map((r) => ({
      ...this.ruleFor(r, 'lost'),
      message: `member ${this.port.id}: request ${r.tag} (${r.kind} of ${r.sectors} sector(s) at ${r.sector}, queue ${r.queue}${r.kickedInStop ? ', kicked in Stop' : ''}${r.migrated ? ', migrated' : ''}) never completed`,
    }));
  }

  /** Pages the device may write without the suite seeing it yet: writable buffers in flight and the used rings. */
  mayWritePages(): { addr: bigint; len: number }[] {
    const out: { addr: bigint; len: number }[] = [];
    const d = this.driver;
    if (!d || this.dead || this.outstanding.size === 0) return out;
    for (const r of this.outstanding.values()) for (const b of r.posted.buffers) if (b.writable) out.push({ addr: b.addr, len: b.len });
    for (const q of d.queues) out.push({ addr: q.device, len: 4 + USED_ELEM_SIZE * q.size + 2 });
    return out;
  }

  /** Arena pages in use (what a hypervisor copies when it migrates the guest). */
  arenaPages(): bigint[] {
    return this.driver?.arena.pages() ?? [];
  }

  /** Moves the guest to another member after a migration (the hypervisor restores bus mastering and MSI-X). */
  async rebind(to: RecycledPort): Promise<void> {
    this.port = to;
    await this.driver!.rebind(to);
  }

  /** Page numbers (4 KiB) a set of byte ranges touches. */
  static pages(ranges: { addr: bigint; len: number }[]): bigint[] {
    const s = new Set<bigint>();
    for (const r of ranges) for (const p of pagesOfRange(r.addr, r.len)) s.add(p);
    return [...s];
  }
}

export { AvailOff };
