import { equalBytes } from '../../protocol/bytes.ts';
import { type ConformanceContext, describeStatus } from '../../harness/ctest.ts';
import { MemoryOverlayPort } from '../../harness/guest/memory-overlay-port.ts';
import { blkRead, blkWrite, BlkStatus, SECTOR } from '../../harness/guest/block-guest.ts';
import { GuestDriver, readFeatureBits } from '../../harness/guest/guest-driver.ts';
import { waitForDevice } from '../../harness/wait.ts';
import { decodeCtxReadOutput, decodeWriteRecordsReadResult, DeviceMode, modeName, pageSizesOf, recordsCapacity } from '../../protocol/commands.ts';
import { decodeVqSplitDevDescs, decodeVqSplitRuntime } from '../../protocol/dev-ctx-fields.ts';
import { decodeDevCtx, DevCtxType, type VirtioDevCtx } from '../../protocol/device-context.ts';
import type { DmaAccess, GuestMemory } from '../../protocol/guest-memory.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { CommonCfg, VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import { UsedOff, USED_ELEM_SIZE } from '../../protocol/split-ring.ts';
import { Status } from '../../protocol/status.ts';
import { BlkConfig, BlkFeature } from '../../protocol/virtio-blk.ts';

/** Requirement ids the flows check (catalog ids). */
export const Req = {
  SUFFICIENT: 'ctx-format.context-sufficient-to-resume',
  RESUME_INDEX: 'ctx-format.split-runtime-resume-index',
  EFFECTIVE: 'ctx-write.effective-on-leaving-freeze',
  LAST_WRITTEN: 'ctx-write.last-written-context-used',
  WRITE_MULTI: 'ctx-write.multi-command-stream',
  WRITE_AGAIN: 'ctx-write.complete-context-multiple-times',
  READ_MULTI: 'ctx-read.multi-command-stream',
  READ_EVERY_MODE: 'ctx-read.supported-in-every-mode',
  READ_NEW_STREAM: 'ctx-read.mode-change-starts-new-stream',
  RECORDS_IN_RANGE: 'wr.start-records-writes-in-range',
  DISCARD_READ: 'ctx-discard.discards-partial-read',
  DISCARD_READ_RESTART: 'ctx-discard.read-restarts-after-discard',
  DISCARD_WRITE: 'ctx-discard.discards-partial-write',
  DISCARD_WRITE_NEW: 'ctx-discard.write-starts-new-context',
  STOP_KICKS: 'member.stop-accepts-notifications',
  TRANSITIONS: 'mode.any-transition-allowed',
} as const;

/** At most this many request queues are driven (the device may have more). */
const MAX_QUEUES = 4;
/** Pages of the hypervisor's own dirty logging and of copying guest memory. */
export const PAGE = 4096n;

// ---- the guest VM: a driver whose CPU writes to guest memory are logged -------------------------------

/** Guest memory as the guest's CPU writes it: every write marks its pages (the hypervisor's dirty logging). */
class CpuLoggedMemory implements GuestMemory {
  constructor(
    private readonly inner: GuestMemory,
    private readonly dirty: Set<bigint>,
  ) {}

  get pageSize(): number {
    return this.inner.pageSize;
  }

  alloc(size: number, align?: number): bigint {
    return this.inner.alloc(size, align);
  }

  read(addr: bigint, len: number): Uint8Array {
    return this.inner.read(addr, len);
  }

  write(addr: bigint, data: Uint8Array): void {
    if (data.length) for (let p = addr - (addr % PAGE); p < addr + BigInt(data.length); p += PAGE) this.dirty.add(p);
    this.inner.write(addr, data);
  }

  pages(): bigint[] {
    return this.inner.pages();
  }
}

/**
 * The member port the guest driver runs on: the harness's port (with its driver-rule checks), except
 * that guest memory writes are logged. Device writes reach memory through the member, not through
 * here: telling them apart is what write recording is for.
 */
class GuestPort extends MemoryOverlayPort {
  constructor(inner: MemberPort, dirty: Set<bigint>) {
    super(inner, new CpuLoggedMemory(inner.memory, dirty));
  }
}

/** One block request the guest made available. */
export interface BlockRequest {
  tag: number;
  queue: number;
  kind: 'write' | 'read';
  sector: bigint;
  /** Write payload, or the data a read must return. */
  data: Uint8Array;
  head: number;
  /** Available-ring index the request was published at. */
  availIdx: number;
  /** The workload phase that posted it (for messages and attribution). */
  phase: string;
}

/** Something the device did wrong with the workload's requests. */
export interface WorkloadProblem {
  kind: 'repeat' | 'used-index' | 'status' | 'data' | 'lost';
  queue: number;
  request?: BlockRequest;
  message: string;
}

/**
 * The migrating guest: a virtio-blk driver (harness/guest) on the source member, with a block
 * workload of writes and reads on several queues (as many as the device has, up to 4). Every request
 * is tracked by tag, so after a migration each one is known to have completed exactly once with the
 * right data, or not.
 */
export class GuestVm {
  readonly outstanding = new Map<number, BlockRequest>();
  readonly problems: WorkloadProblem[] = [];
  /** Data each sector holds once every completed write landed. */
  readonly stable = new Map<bigint, Uint8Array>();
  private readonly broken = new Set<number>();
  private nextTag = 1;
  private nextSector: bigint;
  private readonly regionEnd: bigint;
  queues: number[] = [];
  writeback: { supported: boolean; value: number } = { supported: false, value: 1 };

  private constructor(
    readonly t: ConformanceContext,
    public member: number,
    readonly drv: GuestDriver,
    /** Pages of guest memory the guest CPU wrote since the last take (the hypervisor's dirty log). */
    private readonly cpuDirty: Set<bigint>,
    region: { base: bigint; sectors: number },
  ) {
    this.nextSector = region.base;
    this.regionEnd = region.base + BigInt(region.sectors);
  }

  /**
   * Boots the guest on `member`: virtio-blk init with every queue (up to 4), CONFIG_WCE (so the
   * writeback byte of the device configuration can be set) and MQ when there are several queues.
   * `slot` picks this test's own sectors near the end of the disk.
   */
  static async boot(t: ConformanceContext, member: number, slot: number): Promise<GuestVm> {
    const port = t.port(member);
    if (port.virtioType !== VirtioDeviceType.BLOCK) t.notTested(`the migration flows drive a block workload; member ${member} is virtio device type ${port.virtioType}`);
    const numQueues = await port.commonCfgRead(CommonCfg.NUM_QUEUES.offset, 2);
    const queues = Math.max(1, Math.min(numQueues, MAX_QUEUES));
    const features = (1n << BigInt(BlkFeature.CONFIG_WCE)) | (queues > 1 ? 1n << BigInt(BlkFeature.MQ) : 0n);
    const dirty = new Set<bigint>();
    const drv = await new GuestDriver(new GuestPort(port, dirty)).init({ queues, features });
    // Buffers start on a page of their own, as rings and buffers of a real guest do: the last
    // used ring then shares its page only with rings, so a device write to it that write recording
    // misses is not hidden by a buffer write to the same page.
    drv.arena.alloc(1, Number(PAGE));
    const capacity = BigInt(await port.deviceCfgRead(BlkConfig.CAPACITY, 4)) | (BigInt(await port.deviceCfgRead(BlkConfig.CAPACITY + 4, 4)) << 32n);
    const span = 512;
    if (capacity < BigInt(span * 8)) t.notTested(`the block member has ${capacity} sectors; the flows need at least ${span * 8}`);
    const base = capacity - BigInt(span * 8) + BigInt((slot % 8) * span);
    const vm = new GuestVm(t, member, drv, dirty, { base, sectors: span });
    vm.queues = Array.from({ length: queues }, (_, i) => i);
    vm.writeback.supported = ((drv.features >> BigInt(BlkFeature.CONFIG_WCE)) & 1n) === 1n;
    return vm;
  }

  get port(): MemberPort {
    return this.drv.port;
  }

  get memory(): GuestMemory {
    return this.t.port(this.member).memory;
  }

  /** Every page of the guest's arena (rings and buffers live there and nowhere else). */
  arenaPages(): bigint[] {
    const out: bigint[] = [];
    for (let a = this.drv.arena.base; a < this.drv.arena.end; a += PAGE) out.push(a);
    return out;
  }

  get arenaSpan(): { start: bigint; end: bigint } {
    return { start: this.drv.arena.base, end: this.drv.arena.end };
  }

  /** Pages the guest CPU wrote since the last call. */
  takeCpuDirty(): bigint[] {
    const out = [...this.cpuDirty];
    this.cpuDirty.clear();
    return out;
  }

  /** The hypervisor moves the guest to another member (PCI state restored: bus mastering, MSI-X). */
  async rebind(member: number): Promise<void> {
    this.member = member;
    await this.drv.rebind(new GuestPort(this.t.port(member), this.cpuDirty));
  }

  /** Sets the writeback byte of virtio_blk_config (needs CONFIG_WCE); returns the value read back. */
  async setWriteback(value: number): Promise<number> {
    await this.port.deviceCfgWrite(BlkConfig.WRITEBACK, 1, value);
    const now = await this.port.deviceCfgRead(BlkConfig.WRITEBACK, 1);
    this.writeback.value = now;
    return now;
  }

  // ---- requests ------------------------------------------------------------------------------------

  private pattern(tag: number, sector: bigint): Uint8Array {
    const b = new Uint8Array(SECTOR);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, tag, true);
    dv.setBigUint64(8, sector, true);
    for (let i = 16; i < SECTOR; i++) b[i] = (tag * 31 + i * 7 + Number(sector & 0xffn)) & 0xff;
    return b;
  }

  private post(queue: number, kind: 'write' | 'read', phase: string): BlockRequest {
    const tag = this.nextTag++;
    const gq = this.drv.queues[queue];
    let sector: bigint;
    let data: Uint8Array;
    if (kind === 'read' && this.stable.size) {
      const keys = [...this.stable.keys()];
      sector = keys[this.t.rng.next() % keys.length];
      data = this.stable.get(sector)!;
    } else {
      kind = 'write';
      if (this.nextSector >= this.regionEnd) throw new Error('the flow used up its sectors');
      sector = this.nextSector++;
      data = this.pattern(tag, sector);
    }
    const availIdx = gq.availIdx;
    const posted = this.drv.post(queue, kind === 'write' ? blkWrite(sector, data) : blkRead(sector, 1), tag);
    const req: BlockRequest = { tag, queue, kind, sector, data, head: posted.head, availIdx, phase };
    this.outstanding.set(tag, req);
    return req;
  }

  /** Posts `perQueue` requests on every queue, writes and reads alternating (no notification). */
  postBatch(perQueue: number, phase: string): BlockRequest[] {
    const out: BlockRequest[] = [];
    for (const q of this.queues) for (let i = 0; i < perQueue; i++) out.push(this.post(q, i % 2 === 0 ? 'write' : 'read', phase));
    return out;
  }

  async kickAll(): Promise<void> {
    for (const q of this.queues) await this.drv.kick(q);
  }

  /**
   * Posts `perQueue` requests on every queue and notifies them so that the device takes them and holds
   * them until releaseTaken(): requests in flight at the next mode change. That needs the transport's
   * hold-requests stimulus (a stalled backend, given the completion time to take them); without it the
   * requests are only notified, and the device may complete them or not have taken them yet.
   */
  async postTaken(perQueue: number, phase: string): Promise<BlockRequest[]> {
    const hold = this.port.stimuli?.holdRequests;
    await hold?.(true);
    const out = this.postBatch(perQueue, phase);
    await this.kickAll();
    if (hold) await this.port.settle(this.port.timing.completionMs);
    return out;
  }

  /** Lets the backend stalled by postTaken go on (a member outside Active still completes nothing). */
  async releaseTaken(): Promise<void> {
    await this.port.stimuli?.holdRequests?.(false);
  }

  /** Collects completions until `done()` holds or the time is up (default: the completion time the transport declares). */
  async pollUntil(done: () => boolean, timeoutMs = this.port.timing.completionMs): Promise<void> {
    await waitForDevice(
      this.port,
      () => {
        for (const q of this.queues) this.collect(q);
        return done() || this.queues.every((q) => this.broken.has(q));
      },
      timeoutMs,
    );
  }

  /** Collects until no request is outstanding (or the time is up); a broken queue has nothing more to give. */
  pollAll(timeoutMs?: number): Promise<void> {
    return this.pollUntil(() => [...this.outstanding.values()].every((r) => this.broken.has(r.queue)), timeoutMs);
  }

  /** Collects until these requests completed. */
  pollFor(reqs: readonly BlockRequest[], timeoutMs?: number): Promise<void> {
    return this.pollUntil(() => reqs.every((r) => !this.outstanding.has(r.tag) || this.broken.has(r.queue)), timeoutMs);
  }

  private u16(addr: bigint): number {
    const b = this.drv.memory.read(addr, 2);
    return b[0] | (b[1] << 8);
  }

  /**
   * Takes what the device put in the used ring, checking it first: the used index may move forward
   * by at most the number of requests outstanding, and each entry must name a descriptor chain the
   * guest made available and has not had back yet.
   */
  private collect(q: number): void {
    if (this.broken.has(q)) return;
    const gq = this.drv.queues[q];
    const usedIdx = this.u16(gq.device + BigInt(UsedOff.IDX));
    const n = (usedIdx - gq.lastUsedIdx) & 0xffff;
    if (n === 0) return;
    const back = (gq.lastUsedIdx - usedIdx) & 0xffff;
    if (n > gq.outstanding.size && back < 0x8000) {
      this.problem({ kind: 'used-index', queue: q, message: `queue ${q}: the used index went back from ${gq.lastUsedIdx} to ${usedIdx}: the device does not continue the used ring where it was` });
      this.broken.add(q);
      return;
    }
    if (n > gq.size) {
      this.problem({
        kind: 'repeat',
        queue: q,
        message: `queue ${q}: the used index moved from ${gq.lastUsedIdx} to ${usedIdx}, ${n} entries with ${gq.outstanding.size} requests outstanding: the device processed ring entries the guest never made available`,
      });
      this.broken.add(q);
      return;
    }
    // Up to a ring's worth of new entries: each must return a chain the guest is waiting for.
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) {
      const slot = (gq.lastUsedIdx + i) % gq.size;
      const e = this.drv.memory.read(gq.device + BigInt(UsedOff.RING + USED_ELEM_SIZE * slot), 4);
      const head = (e[0] | (e[1] << 8) | (e[2] << 16) | (e[3] << 24)) >>> 0;
      if (!gq.outstanding.has(head) || seen.has(head)) {
        const earlier = [...this.completedHeads.get(q)?.get(head) ?? []];
        this.problem({
          kind: 'repeat',
          queue: q,
          message: `queue ${q}: used ring entry ${(gq.lastUsedIdx + i) & 0xffff} returns descriptor ${head}, ${seen.has(head) ? 'which an earlier entry of the same batch returned already' : `which is not outstanding${earlier.length ? ` (it carried request ${earlier.join(', ')}, already completed)` : ''}`}: a request was processed twice`,
        });
        this.broken.add(q);
        return;
      }
      seen.add(head);
    }
    for (const c of this.drv.reap(q)) this.complete(q, c.request.tag, c.data);
  }

  private readonly completedHeads = new Map<number, Map<number, number[]>>();

  private complete(q: number, tag: number, data: Uint8Array[]): void {
    const req = this.outstanding.get(tag);
    if (!req) return;
    this.outstanding.delete(tag);
    const heads = this.completedHeads.get(q) ?? new Map<number, number[]>();
    heads.set(req.head, [...(heads.get(req.head) ?? []), tag]);
    this.completedHeads.set(q, heads);
    const status = data[data.length - 1]?.[0];
    if (status !== BlkStatus.OK) {
      this.problem({ kind: 'status', queue: q, request: req, message: `request ${tag} (${req.kind} of sector ${req.sector}, ${req.phase}) completed with status ${status}` });
      return;
    }
    if (req.kind === 'write') this.stable.set(req.sector, req.data);
    else if (!equalBytes(data[0], req.data)) {
      this.problem({ kind: 'data', queue: q, request: req, message: `request ${tag} (read of sector ${req.sector}, ${req.phase}) returned data other than what the sector holds` });
    }
  }

  private problem(p: WorkloadProblem): void {
    this.problems.push(p);
  }

  /** The device broke this queue's used ring: its outstanding requests cannot be judged one by one. */
  isBroken(q: number): boolean {
    return this.broken.has(q);
  }

  /** Problems found since the last call (lost requests are judged by the caller). */
  takeProblems(): WorkloadProblem[] {
    return this.problems.splice(0, this.problems.length);
  }

  /** Reads back every sector the workload wrote and compares it with the last completed write. */
  async verifyDisk(phase: string): Promise<void> {
    const sectors = [...this.stable.keys()];
    const perRound = 8 * this.queues.length;
    for (let at = 0; at < sectors.length; at += perRound) {
      const reqs: BlockRequest[] = [];
      sectors.slice(at, at + perRound).forEach((sector, i) => {
        const queue = this.queues[i % this.queues.length];
        const tag = this.nextTag++;
        const gq = this.drv.queues[queue];
        const availIdx = gq.availIdx;
        const posted = this.drv.post(queue, blkRead(sector, 1), tag);
        const req: BlockRequest = { tag, queue, kind: 'read', sector, data: this.stable.get(sector)!, head: posted.head, availIdx, phase };
        this.outstanding.set(tag, req);
        reqs.push(req);
      });
      await this.kickAll();
      await this.pollFor(reqs);
      if (reqs.some((r) => this.outstanding.has(r.tag))) return;
    }
  }
}

// ---- admin steps -----------------------------------------------------------------------------------

/** MODE_SET that must complete OK (its failure ends the flow as a FAIL of `req`). */
export async function setMode(t: ConformanceContext, member: number, mode: number, req: string = Req.TRANSITIONS): Promise<void> {
  t.requireOk(req, await t.admin.modeSet(member, mode), `DEV_MODE_SET ${modeName(mode)} on member ${member}`);
}

/** Reads a whole context stream in `chunk`-byte READs (a multiple of 8), to the end of the stream. */
export async function readContext(t: ConformanceContext, member: number, chunk: number, req: string, what: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let n = 0; ; n++) {
    const r = await t.admin.ctxRead(member, chunk);
    t.requireOk(req, r, `${what}: DEV_CTX_READ #${n + 1} on member ${member}`);
    const len = decodeCtxReadOutput(r.output);
    t.require(req, len <= chunk && r.result.length >= len, `${what}: DEV_CTX_READ returned context_len ${len} with ${r.result.length} result bytes for a ${chunk}-byte buffer`);
    parts.push(r.result.slice(0, len));
    total += len;
    if (len < chunk) break;
    t.require(req, total < 64 << 20, `${what}: the context stream of member ${member} did not end within 64 MiB`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One READ of `chunk` bytes that must return a full chunk (a partial read, for the abort paths). */
export async function readPart(t: ConformanceContext, member: number, chunk: number, req: string, what: string): Promise<Uint8Array> {
  const r = await t.admin.ctxRead(member, chunk);
  t.requireOk(req, r, `${what}: DEV_CTX_READ on member ${member}`);
  const len = decodeCtxReadOutput(r.output);
  t.require(req, len === chunk, `${what}: a ${chunk}-byte DEV_CTX_READ returned ${len} bytes; the context is longer than that`);
  return r.result.slice(0, len);
}

/** Writes `bytes` in `chunk`-byte WRITEs (a multiple of 8; only the last may be shorter). */
export async function writeContext(t: ConformanceContext, member: number, bytes: Uint8Array, chunk: number, req: string, what: string): Promise<void> {
  for (let at = 0; at < bytes.length; at += chunk) {
    t.requireOk(req, await t.admin.ctxWrite(member, bytes.subarray(at, at + chunk)), `${what}: DEV_CTX_WRITE of bytes ${at}..${Math.min(at + chunk, bytes.length) - 1} to member ${member}`);
  }
}

export function decodeContext(t: ConformanceContext, bytes: Uint8Array, req: string, what: string): VirtioDevCtx {
  try {
    return decodeDevCtx(bytes, t.wire.ctxStreamAlignment, { allowReservedTypes: true });
  } catch (e) {
    t.fail(req, `${what}: the ${bytes.length} bytes read are not one complete device context (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Where each virtqueue stood in a context: dev_avail_idx and the device-owned descriptors. */
export type ResumePoint = Map<number, { devAvailIdx: number; owned: Set<number> }>;

export function resumePoint(t: ConformanceContext, ctx: VirtioDevCtx, req: string): ResumePoint {
  const out: ResumePoint = new Map();
  try {
    for (const f of ctx.fields) {
      if (f.type === DevCtxType.VQ_SPLIT_RUNTIME_CFG) {
        const r = decodeVqSplitRuntime(f.value);
        const e = out.get(r.vqIndex) ?? { devAvailIdx: 0, owned: new Set<number>() };
        e.devAvailIdx = r.devAvailIdx;
        out.set(r.vqIndex, e);
      }
    }
    for (const f of ctx.fields) {
      if (f.type === DevCtxType.VQ_SPLIT_DEV_OWN_DESC) {
        const d = decodeVqSplitDevDescs(f.value);
        const e = out.get(d.vqIndex) ?? { devAvailIdx: 0, owned: new Set<number>() };
        for (const i of d.descIdx) e.owned.add(i);
        out.set(d.vqIndex, e);
      }
    }
  } catch (e) {
    t.fail(req, `a context field does not decode: ${e instanceof Error ? e.message : String(e)}`);
  }
  return out;
}

/**
 * Lets the destination finish the guest's requests after a migration and judges the outcome:
 * every request outstanding at Stop completes exactly once with the right data. A request processed
 * twice, or an available request skipped, is the virtqueue's resume position (dev_avail_idx); a
 * device-owned request lost, a request taken by the source but missing from the context, a broken
 * used index or wrong data is the context not being enough to resume.
 */
export async function judgeResume(t: ConformanceContext, vm: GuestVm, at: ResumePoint, what: string): Promise<void> {
  await vm.kickAll();
  await vm.pollAll();
  reportProblems(t, vm.takeProblems(), what, (p) => (p.kind === 'repeat' ? Req.RESUME_INDEX : Req.SUFFICIENT));
  for (const req of vm.outstanding.values()) {
    if (vm.isBroken(req.queue)) continue; // judged by the used-ring problem already reported
    const rp = at.get(req.queue);
    let rule: string = Req.SUFFICIENT;
    let why: string;
    if (!rp) why = `queue ${req.queue} has no runtime field in the context`;
    else if (rp.owned.has(req.head)) why = `it was device-owned at Stop (descriptor ${req.head} listed in VQ_SPLIT_DEV_OWN_DESC) and never completed on member ${vm.member}`;
    else if (((req.availIdx - rp.devAvailIdx) & 0xffff) < 0x8000) {
      rule = Req.RESUME_INDEX;
      why = `it was available at ring index ${req.availIdx}, at or after dev_avail_idx ${rp.devAvailIdx}, and member ${vm.member} never processed it`;
    } else why = `the source had taken it (ring index ${req.availIdx} before dev_avail_idx ${rp.devAvailIdx}) but the context does not list descriptor ${req.head} as device-owned`;
    t.check(rule, false, `${what}: request ${req.tag} (${req.kind} of sector ${req.sector} on queue ${req.queue}, posted ${req.phase}) was lost: ${why}`);
  }
  vm.outstanding.clear();
}

/** Turns workload problems into FAILs, at most 4 messages per requirement. */
export function reportProblems(t: ConformanceContext, problems: WorkloadProblem[], what: string, rule: (p: WorkloadProblem) => string): void {
  const shown = new Map<string, number>();
  for (const p of problems) {
    const r = rule(p);
    const n = shown.get(r) ?? 0;
    shown.set(r, n + 1);
    if (n < 4) t.check(r, false, `${what}: ${p.message}`);
    else if (n === 4) t.check(r, false, `${what}: ${problems.length - 4} more problems of the same kind`);
  }
}

/** Requests outstanding after a flow that should have completed, reported against `rule`. */
export function reportLost(t: ConformanceContext, vm: GuestVm, rule: string, what: string): void {
  for (const req of vm.outstanding.values()) if (!vm.isBroken(req.queue)) t.check(rule, false, `${what}: request ${req.tag} (${req.kind} of sector ${req.sector} on queue ${req.queue}, posted ${req.phase}) never completed`);
  vm.outstanding.clear();
}

/** A round of fresh requests that must all complete (the guest keeps working). */
export async function workloadRound(t: ConformanceContext, vm: GuestVm, perQueue: number, phase: string, rule: string): Promise<void> {
  vm.postBatch(perQueue, phase);
  await vm.kickAll();
  await vm.pollAll();
  reportProblems(t, vm.takeProblems(), phase, () => rule);
  reportLost(t, vm, rule, phase);
}

// ---- guest memory --------------------------------------------------------------------------------------

/** The hypervisor copies guest memory pages between members. */
export function copyPages(from: GuestMemory, to: GuestMemory, pages: Iterable<bigint>, pageBytes = PAGE): number {
  let n = 0;
  for (const p of pages) {
    for (let a = p; a < p + pageBytes; a += PAGE) to.write(a, from.read(a, Number(PAGE)));
    n++;
  }
  return n;
}

/** Pages whose bytes differ between the two memories. */
export function differingPages(a: GuestMemory, b: GuestMemory, pages: readonly bigint[]): bigint[] {
  return pages.filter((p) => !equalBytes(a.read(p, Number(PAGE)), b.read(p, Number(PAGE))));
}

/** The features the driver negotiated, as a member reports them (DRIVER_FEATURE words 0 and 1). */
export function driverFeatures(port: MemberPort): Promise<bigint> {
  return readFeatureBits(port, 'driver', 2);
}

/**
 * Rounds of requests on the source before any migration. They are the flow's instrument: when the
 * member cannot run them the flow cannot judge migration, and is NOT_TESTED with the reason.
 */
export async function warmUp(t: ConformanceContext, vm: GuestVm, rounds: number): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    vm.postBatch(4, 'before the migration');
    await vm.kickAll();
    await vm.pollAll();
    const bad = vm.takeProblems();
    if (bad.length || vm.outstanding.size) t.notTested(`the block workload does not run on member ${vm.member} before any migration: ${bad[0]?.message ?? `${vm.outstanding.size} request(s) never completed`}`);
  }
}

/** device_status of a member, read through its common configuration (the member must be Active). */
export async function deviceStatus(t: ConformanceContext, member: number): Promise<number> {
  return t.port(member).commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
}

// ---- write recording ---------------------------------------------------------------------------------

/** Write recording over the guest's arena, drained with WRITE_RECORDS_READ. */
export class ArenaRecording {
  private constructor(
    readonly t: ConformanceContext,
    readonly member: number,
    readonly pageSize: bigint,
    readonly start: bigint,
    readonly pages: bigint,
  ) {}

  /**
   * START over the arena at the smallest page size the device advertises. Where the profile's
   * numbering gives CAP_QUERY the opcode of DEV_CTX_DISCARD (text numbering, E2) the capabilities
   * cannot be asked for: the flow tries 4 KiB, the granularity the draft names as the minimum.
   */
  static async start(t: ConformanceContext, vm: GuestVm, req: string): Promise<ArenaRecording> {
    let pageSize = 4096n;
    const op = t.wire.opcodes;
    const collides = op.DEV_WRITE_RECORD_CAP_QUERY === op.DEV_CTX_DISCARD;
    if (!collides) {
      const caps = await t.admin.capQuery(vm.member);
      t.requireOk(req, caps, `DEV_WRITE_RECORD_CAP_QUERY on member ${vm.member}`);
      const bitmap = caps.result.length >= 4 ? (caps.result[0] | (caps.result[1] << 8) | (caps.result[2] << 16) | (caps.result[3] << 24)) >>> 0 : 0;
      const sizes = pageSizesOf(bitmap);
      t.require(req, sizes.length > 0, `member ${vm.member} advertises no write-record page size`);
      pageSize = sizes[0];
    }
    const span = vm.arenaSpan;
    const start = span.start - (span.start % pageSize);
    const pages = (span.end - start + pageSize - 1n) / pageSize;
    const r = await t.admin.recordsStart(vm.member, { pageSize, entries: [{ pageAddress: start, pageCount: pages }] });
    if (collides && r.status !== Status.OK) {
      t.notTested(`the profile's opcode numbering gives DEV_WRITE_RECORD_CAP_QUERY the opcode of DEV_CTX_DISCARD (E2), so the page sizes cannot be asked for, and START at 4 KiB failed (${describeStatus(r)})`);
    }
    t.requireOk(req, r, `DEV_WRITE_RECORDS_START of the guest's ${pages} pages at ${pageSize} bytes on member ${vm.member}`);
    return new ArenaRecording(t, vm.member, pageSize, start, pages);
  }

  /** READs until one returns fewer records than fit: the recorded pages, each `pageSize` bytes. */
  async drain(req: string): Promise<bigint[]> {
    const capacity = 4096;
    const fit = recordsCapacity(capacity, this.t.wire);
    const out: bigint[] = [];
    for (let n = 0; n < 100_000; n++) {
      const r = await this.t.admin.recordsRead(this.member, this.start, this.pages * this.pageSize, capacity);
      this.t.requireOk(req, r, `DEV_WRITE_RECORDS_READ of the guest's pages on member ${this.member}`);
      const got = decodeWriteRecordsReadResult(r.output, r.result, this.t.wire);
      out.push(...got);
      if (got.length < fit) return out;
    }
    this.t.fail(req, `member ${this.member}: write records never drained`);
  }

  async stop(): Promise<void> {
    const r = await this.t.admin.recordsStop(this.member);
    this.t.requireOk(Req.RECORDS_IN_RANGE, r, `DEV_WRITE_RECORDS_STOP on member ${this.member}`);
  }

  /** Pages (at this recording's page size) a device write of [addr, addr+len) touched inside the range. */
  pagesOf(a: DmaAccess): bigint[] {
    const out: bigint[] = [];
    const end = a.addr + BigInt(a.len);
    const lo = this.start;
    const hi = this.start + this.pages * this.pageSize;
    for (let p = a.addr - (a.addr % this.pageSize); p < end; p += this.pageSize) if (p >= lo && p < hi) out.push(p);
    return out;
  }
}

/**
 * The stop-and-copy steps from one member to another, up to the destination in Freeze with the
 * context written, the guest's memory copied and its PCI state restored: requests taken before Stop,
 * requests notified during Stop, Stop, Freeze, the whole context read and written. The caller takes
 * the destination out of Freeze (to Active, or through Stop).
 */
export async function stopAndCopyTo(t: ConformanceContext, vm: GuestVm, to: number, label: string): Promise<ResumePoint> {
  const from = vm.member;
  await vm.postTaken(2, `before Stop on member ${from} (taken by the device), ${label}`);
  await setMode(t, from, DeviceMode.STOP);
  await vm.releaseTaken();
  vm.postBatch(1, `during Stop on member ${from} (notified), ${label}`);
  await vm.kickAll();
  await setMode(t, from, DeviceMode.FREEZE);
  const bytes = await readContext(t, from, 4096, Req.SUFFICIENT, `context of member ${from}, ${label}`);
  const at = resumePoint(t, decodeContext(t, bytes, Req.SUFFICIENT, `context of member ${from}, ${label}`), Req.SUFFICIENT);
  await setMode(t, to, DeviceMode.FREEZE);
  await writeContext(t, to, bytes, 4096, Req.SUFFICIENT, `context of member ${from} to member ${to}, ${label}`);
  copyPages(t.port(from).memory, t.port(to).memory, vm.arenaPages());
  await vm.rebind(to);
  return at;
}

export { equalBytes };
