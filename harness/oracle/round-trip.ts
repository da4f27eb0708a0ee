/**
 * The context round trip as a property: a random member state (negotiated features, several queues of
 * random sizes, MSI-X or not, a device configuration write, completed traffic, requests the device
 * holds in flight, requests made available without a kick, kicks in Stop) is read on the source in
 * Freeze (after an optional pre-copy read in Active), written to a destination member in random chunk
 * sizes (after an optional pre-copy write), the guest's memory copied, and the destination resumed.
 * Then the destination's observable state must equal the source's (common and per-queue configuration
 * registers, device configuration), and the guest must go on with no request lost or repeated and the
 * right data. Abort paths use DISCARD: the source abandons the migration mid-read and goes back to
 * Active (and must finish its requests itself), or the destination discards a partial write and
 * starts over. Every admin command is judged by the oracle on both members.
 *
 * Readings: E7/E20 the destination writes the exact stream the source read; E12 the common
 * configuration is compared register by register, not as bytes; E14 the used index is not in the
 * context (the destination learns it from the ring the guest's memory brought along); E34 the
 * destination must take a context read from a member of the same kind; E35 nothing is accessed in
 * Stop, and kicks rung in Stop are served once the member runs again (on the source, or after the
 * hypervisor's post-migration notification of every queue with requests on the destination).
 */
import fc from 'fast-check';
import { DeviceMode, modeName } from '../../protocol/commands.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { Status } from '../../protocol/status.ts';
import { BlkConfig, BlkFeature } from '../../protocol/virtio-blk.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { waitForDevice } from '../wait.ts';
import { type FuzzWorld } from './fuzz-world.ts';
import { type FuzzOutcome, type FuzzRunOptions, prepareWorld, runProperty } from './machine.ts';
import { GuestWorkload, type RecycledPort, type RequestSpec } from './workload.ts';

export interface RoundTripScenario {
  queues: number;
  queueSize: number;
  /** Optional block features to accept (FLUSH, CONFIG_WCE, BLK_SIZE, SEG_MAX). */
  features: number[];
  msix: boolean;
  /** Value written to virtio_blk_config.writeback in Active (when CONFIG_WCE was negotiated). */
  writeback: number | undefined;
  warmup: RequestSpec[];
  inflight: RequestSpec[];
  unkicked: RequestSpec[];
  inStop: RequestSpec[];
  viaStop: boolean;
  /** Read the context in Active first (pre-copy): fully, or partially and DISCARD it. */
  precopy: 'none' | 'full' | 'partial-discard';
  srcChunks: number[];
  dstChunks: number[];
  /** Write the context read in Active to the destination before the final one. */
  dstPrecopy: boolean;
  dstViaStop: boolean;
  /** src-abort: DISCARD mid-read and resume the source; src-retry: DISCARD mid-read and read again; dst-discard: DISCARD a partial write and write again. */
  abort: 'none' | 'src-abort' | 'src-retry' | 'dst-discard';
  /** Try MODE_SET Active on the destination while its write is partial (must fail). */
  probePartialWrite: boolean;
  /** Requests made on the destination after the migration (write, then read back). */
  after: RequestSpec[];
}

const OPTIONAL_FEATURES = [BlkFeature.FLUSH, BlkFeature.CONFIG_WCE, BlkFeature.BLK_SIZE, BlkFeature.SEG_MAX];

const req = (kind?: 'read' | 'write') =>
  fc.record({
    queue: fc.integer({ min: 0, max: 3 }),
    kind: kind ? fc.constant(kind) : fc.constantFrom<'read' | 'write'>('read', 'write'),
    sector: fc.integer({ min: 0, max: 31 }).map((x) => 2048 + x * 8),
    sectors: fc.integer({ min: 1, max: 8 }),
    skipPages: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
  });

/** READ and WRITE chunk sizes: mostly small (many boundaries inside fields), sometimes large, sometimes all at once. */
const chunk = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 8 }).map((x) => x * 8) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 40 }).map((x) => x * 8) },
  { weight: 1, arbitrary: fc.constant(4096) },
);

export const roundTripArbitrary: fc.Arbitrary<RoundTripScenario> = fc.record({
  queues: fc.integer({ min: 1, max: 4 }),
  queueSize: fc.constantFrom(16, 64, 256),
  features: fc.subarray(OPTIONAL_FEATURES),
  msix: fc.boolean(),
  writeback: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }),
  warmup: fc.array(req(), { maxLength: 4 }),
  inflight: fc.array(req(), { maxLength: 6 }),
  unkicked: fc.array(req(), { maxLength: 2 }),
  inStop: fc.array(req(), { maxLength: 3 }),
  viaStop: fc.boolean(),
  precopy: fc.constantFrom<RoundTripScenario['precopy']>('none', 'full', 'partial-discard'),
  srcChunks: fc.array(chunk, { minLength: 1, maxLength: 4 }),
  dstChunks: fc.array(chunk, { minLength: 1, maxLength: 4 }),
  dstPrecopy: fc.boolean(),
  dstViaStop: fc.boolean(),
  abort: fc.constantFrom<RoundTripScenario['abort']>('none', 'none', 'none', 'src-abort', 'src-retry', 'dst-discard'),
  probePartialWrite: fc.boolean(),
  after: fc.array(req('write'), { minLength: 1, maxLength: 2 }),
});

/** What the guest can see of a member: the registers of struct virtio_pci_common_cfg per queue, and the device configuration. */
export interface ObservableState {
  deviceStatus: number;
  configMsixVector: number;
  numQueues: number;
  driverFeatures: bigint;
  queues: { size: number; msixVector: number; enable: number; desc: bigint; driver: bigint; device: bigint }[];
  deviceConfig: number[];
}

async function read64(p: MemberPort, offset: number): Promise<bigint> {
  const lo = await p.commonCfgRead(offset, 4);
  const hi = await p.commonCfgRead(offset + 4, 4);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Reads the observable state through the member port (in Active: the guest's own registers). */
export async function observe(p: MemberPort, queues: number, configBytes = BlkConfig.SIZE): Promise<ObservableState> {
  let driverFeatures = 0n;
  for (let w = 0; w < 2; w++) {
    await p.commonCfgWrite(CommonCfg.DRIVER_FEATURE_SELECT.offset, 4, w);
    driverFeatures |= BigInt(await p.commonCfgRead(CommonCfg.DRIVER_FEATURE.offset, 4)) << BigInt(32 * w);
  }
  const qs: ObservableState['queues'] = [];
  for (let q = 0; q < queues; q++) {
    await p.commonCfgWrite(CommonCfg.QUEUE_SELECT.offset, 2, q);
    qs.push({
      size: await p.commonCfgRead(CommonCfg.QUEUE_SIZE.offset, 2),
      msixVector: await p.commonCfgRead(CommonCfg.QUEUE_MSIX_VECTOR.offset, 2),
      enable: await p.commonCfgRead(CommonCfg.QUEUE_ENABLE.offset, 2),
      desc: await read64(p, CommonCfg.QUEUE_DESC.offset),
      driver: await read64(p, CommonCfg.QUEUE_DRIVER.offset),
      device: await read64(p, CommonCfg.QUEUE_DEVICE.offset),
    });
  }
  const deviceConfig: number[] = [];
  for (let at = 0; at < configBytes; at++) deviceConfig.push(await p.deviceCfgRead(at, 1));
  return {
    deviceStatus: await p.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1),
    configMsixVector: await p.commonCfgRead(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2),
    numQueues: await p.commonCfgRead(CommonCfg.NUM_QUEUES.offset, 2),
    driverFeatures,
    queues: qs,
    deviceConfig,
  };
}

/** Differences between two observable states, in words. */
export function stateDiff(src: ObservableState, dst: ObservableState): string[] {
  const out: string[] = [];
  const hex = (v: bigint | number) => `0x${v.toString(16)}`;
  if (src.deviceStatus !== dst.deviceStatus) out.push(`device_status ${hex(dst.deviceStatus)}, the source had ${hex(src.deviceStatus)}`);
  if (src.configMsixVector !== dst.configMsixVector) out.push(`config_msix_vector ${dst.configMsixVector}, the source had ${src.configMsixVector}`);
  if (src.numQueues !== dst.numQueues) out.push(`num_queues ${dst.numQueues}, the source had ${src.numQueues}`);
  if (src.driverFeatures !== dst.driverFeatures) out.push(`driver features ${hex(dst.driverFeatures)}, the source negotiated ${hex(src.driverFeatures)}`);
  src.queues.forEach((q, i) => {
    const d = dst.queues[i];
    for (const k of ['size', 'msixVector', 'enable', 'desc', 'driver', 'device'] as const) {
      if (d && q[k] !== d[k]) out.push(`queue ${i} ${k} ${hex(d[k])}, the source had ${hex(q[k])}`);
    }
  });
  const at = src.deviceConfig.findIndex((b, i) => b !== dst.deviceConfig[i]);
  if (at >= 0) out.push(`device configuration byte ${at} is ${dst.deviceConfig[at]}, the source had ${src.deviceConfig[at]}`);
  return out;
}

/** Shared-storage probe result (block members backed by the same disk): in-flight reads keep their expected data across members. */
export interface RoundTripOptions extends FuzzRunOptions {
  sharedStorage?: boolean;
}

/** One round trip (the property body). */
export async function roundTrip(world: FuzzWorld, sc: RoundTripScenario, sharedStorage: boolean): Promise<void> {
  const [src, dst] = world.env.members;
  const wl = world.workloads.get(src)!;
  const dstPort = world.ports.get(dst)! as RecycledPort;
  await world.begin();
  wl.init = {
    queues: sc.queues,
    queueSize: sc.queueSize,
    msix: sc.msix,
    features: sc.features.reduce((f, b) => f | (1n << BigInt(b)), 0n),
  };
  const d = await wl.ensure();
  world.note(`GUEST_INIT(${src}, ${wl.queueCount} queue(s) of ${d.queues[0]?.size}, features 0x${d.features.toString(16)}${sc.msix ? ', MSI-X' : ''})`);
  const act = DeviceMode.ACTIVE;
  if (sc.writeback !== undefined && (d.features >> BigInt(BlkFeature.CONFIG_WCE)) & 1n) {
    await wl.port.deviceCfgWrite(BlkConfig.WRITEBACK, 1, sc.writeback);
    world.action(`CONFIG_WRITE(${src}, writeback ${sc.writeback})`);
  }
  const io = async (specs: RequestSpec[], mode: number, kick: boolean, what: string) => {
    const qs = new Set<number>();
    for (const s of specs) {
      if (wl.driver!.queues[s.queue % wl.queueCount].freeCount < 3) continue;
      qs.add(wl.post(s, mode).queue);
    }
    if (kick) for (const q of qs) await wl.kick(q, mode);
    if (specs.length) {
      const text = `GUEST_IO(${wl.port.id}, ${specs.map((s) => `${s.kind === 'write' ? 'W' : 'R'} q${s.queue % wl.queueCount} s${s.sector}+${s.sectors}`).join(', ')}${kick ? ', kick' : ''}) ${what}`;
      world.action(text, `${text} in ${modeName(mode)}`);
    }
  };
  // Completed traffic before the migration.
  for (const s of sc.warmup) {
    await io([s], act, true, 'warm-up');
    await world.drain(src);
  }
  // Pre-copy: read the context while the member runs.
  let activeContext: Uint8Array | undefined;
  if (sc.precopy !== 'none') {
    const bytes = await readStream(world, src, sc.srcChunks, sc.precopy === 'partial-discard' ? 1 : Infinity);
    if (sc.precopy === 'partial-discard') {
      if (world.oracle.member(src).ctx.read === 'partial') await world.call({ op: 'DISCARD', member: src });
    } else activeContext = bytes;
  }
  // Requests in flight at the mode change: taken and held by a stalled backend where the transport can
  // stall it (the source goes on with them after an abandoned migration, the destination after the
  // context carried them); elsewhere only notified.
  const holding = sc.inflight.length > 0 && wl.port.stimuli?.holdRequests !== undefined;
  if (holding) await world.hold(src, true);
  await io(sc.inflight, act, true, 'in flight');
  if (holding) await wl.port.settle(wl.port.timing.completionMs);
  await io(sc.unkicked, act, false, 'not notified');
  const before = await observe(wl.port, wl.queueCount);
  // Source: Stop (kicks there), Freeze, read.
  if (sc.viaStop) {
    await modeSet(world, src, DeviceMode.STOP);
    await io(sc.inStop, DeviceMode.STOP, true, 'kicked in Stop');
  }
  await modeSet(world, src, DeviceMode.FREEZE);
  if (holding) await world.hold(src, false);
  if (sc.abort === 'src-abort' || sc.abort === 'src-retry') {
    await readStream(world, src, sc.srcChunks, 1);
    if (world.oracle.member(src).ctx.read === 'partial') await world.call({ op: 'DISCARD', member: src });
    if (sc.abort === 'src-abort') {
      // The migration is abandoned: the source goes on with its own requests.
      await modeSet(world, src, act);
      await finishRequests(world, src, 'the source after an abandoned migration');
      return;
    }
  }
  const context = await readStream(world, src, sc.srcChunks, Infinity);
  const srcCtx = world.oracle.member(src).ctx;
  if (srcCtx.read !== 'ended' || !context.length) return;
  // Destination: Freeze, optional pre-copy write, the final context in chunks (with an optional discard).
  const dctx = world.oracle.member(dst).ctx;
  dctx.accept(context);
  if (activeContext) dctx.accept(activeContext);
  if (sc.dstViaStop) await modeSet(world, dst, DeviceMode.STOP);
  await modeSet(world, dst, DeviceMode.FREEZE);
  if (sc.dstPrecopy && activeContext) await writeStream(world, dst, activeContext, sc.dstChunks, Infinity, 'the context read in Active');
  if (sc.abort === 'dst-discard' || sc.probePartialWrite) {
    const first = Math.min(...sc.dstChunks, 8 * Math.max(1, Math.floor(context.length / 16)));
    await writeStream(world, dst, context, [first], 1, 'the final context');
    if (sc.probePartialWrite && dctx.writePartial) await world.call({ op: 'MODE_SET', member: dst, mode: act }, '(probe) ');
    if (dctx.writePartial) await world.call({ op: 'DISCARD', member: dst });
  }
  await writeStream(world, dst, context, sc.dstChunks, Infinity, 'the final context');
  // The hypervisor copies the guest's memory, then resumes the destination.
  for (const p of wl.arenaPages()) dstPort.memory.write(p, wl.port.memory.read(p, 4096));
  world.action(`COPY_MEMORY(${src} -> ${dst}, ${wl.arenaPages().length} page(s))`);
  const r = await world.call({ op: 'MODE_SET', member: dst, mode: act });
  if (r.status !== Status.OK) return;
  wl.noteMigrated();
  if (!sharedStorage) wl.forgetDisk();
  await wl.rebind(dstPort);
  world.action(`REBIND(guest -> ${dst})`);
  const after = await observe(dstPort, wl.queueCount);
  const diff = stateDiff(before, after);
  if (diff.length) {
    // device_status 0: the destination still holds its own reset state (the written context never took effect).
    const rule = after.deviceStatus === 0 ? 'ctx-write.effective-on-leaving-freeze' : sc.dstPrecopy && activeContext ? 'ctx-write.last-written-context-used' : 'ctx-format.context-sufficient-to-resume';
    world.judge([
      {
        rule,
        severity: 'fail',
        command: `OBSERVE(${dst})`,
        allowed: `the destination's registers and device configuration equal the source's before it stopped`,
        observed: diff.join('; '),
      },
    ]);
  }
  // The hypervisor notifies every queue with requests after the migration; the guest goes on.
  const queues = new Set([...wl.outstanding.values()].map((x) => x.queue));
  for (const q of queues) await wl.kick(q, act);
  await finishRequests(world, src, 'the destination after the migration');
  for (const s of sc.after) {
    await io([s], act, true, 'after the migration');
    await world.drain(src);
    await io([{ ...s, kind: 'read' }], act, true, 'read back');
    await world.drain(src);
  }
  await finishRequests(world, src, 'the destination after the migration');
}

async function modeSet(world: FuzzWorld, m: number, mode: number): Promise<void> {
  const x = world.oracle.member(m).ctx;
  const from = x.mode;
  const applied = new Set<string>(x.pending);
  const r = await world.call({ op: 'MODE_SET', member: m, mode });
  if (r.status === Status.OK && from !== mode) {
    if (from === DeviceMode.ACTIVE) world.reapBeforePause(m);
    world.afterModeChange(m, mode, from, applied);
  }
}

/** READs with capacities cycling through `chunks` until the stream ends (or `max` READs). */
async function readStream(world: FuzzWorld, m: number, chunks: number[], max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < Math.min(max, 4096); i++) {
    const cap = chunks[i % chunks.length];
    const r = await world.call({ op: 'CTX_READ', member: m, capacity: cap });
    if (r.status !== Status.OK) break;
    const len = r.output[0] | (r.output[1] << 8) | (r.output[2] << 16) | (r.output[3] << 24);
    parts.push(r.result.slice(0, Math.min(len, cap)));
    if (len < cap) break;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** WRITEs of `bytes` in chunks cycling through `chunks` (each a multiple of 8; only the last is short). */
async function writeStream(world: FuzzWorld, m: number, bytes: Uint8Array, chunks: number[], max: number, what: string): Promise<void> {
  let at = 0;
  for (let i = 0; at < bytes.length && i < max; i++) {
    const n = chunks[i % chunks.length];
    const r = await world.call({ op: 'CTX_WRITE', member: m, data: bytes.subarray(at, at + n), label: `${what} bytes ${at}..${Math.min(bytes.length, at + n)}` });
    if (r.status !== Status.OK) return;
    at += n;
  }
}

/** Lets the member the guest drives finish every outstanding request (up to the drain budget); lost ones are violations. */
async function finishRequests(world: FuzzWorld, m: number, what: string): Promise<void> {
  const wl = world.workloads.get(m)!;
  if (!wl.alive) return;
  const unkicked = new Set([...wl.outstanding.values()].filter((r) => !r.kicked).map((r) => r.queue));
  for (const q of unkicked) await wl.kick(q, DeviceMode.ACTIVE);
  await world.drain(m);
  if (wl.alive) world.problems(wl.lost(), `${what}: outstanding requests`);
}

/**
 * Whether the two members share their disk (as block members of one device usually do, and as a
 * migration with shared storage needs): a sector written through the source reads back the same
 * through the destination. When they do not, reads that complete on the destination are not compared
 * with data written on the source.
 */
export async function probeSharedStorage(world: FuzzWorld): Promise<boolean> {
  const [src, dst] = world.env.members;
  await world.begin();
  const a = world.workloads.get(src)!;
  const b = new GuestWorkload(world.ports.get(dst)!);
  b.reset();
  try {
    await a.ensure();
    await b.ensure();
    const sector = 7 * 512 + (world.runs % 64);
    const w = a.post({ queue: 0, kind: 'write', sector, sectors: 1, skipPages: 0 }, DeviceMode.ACTIVE);
    await a.kick(0, DeviceMode.ACTIVE);
    await waitForDevice(a.port, () => (a.reap(DeviceMode.ACTIVE), a.outstanding.size === 0), a.port.timing.completionMs);
    const r = b.post({ queue: 0, kind: 'read', sector, sectors: 1, skipPages: 0 }, DeviceMode.ACTIVE);
    await b.kick(0, DeviceMode.ACTIVE);
    let same = false;
    await waitForDevice(
      b.port,
      () => {
        const got = b.driver!.reap(0).find((c) => c.request.tag === r.tag);
        if (got) same = got.data[0].every((x, k) => x === w.data![k]);
        return got !== undefined;
      },
      b.port.timing.completionMs,
    );
    return same;
  } finally {
    b.reset();
  }
}

/** Runs the round-trip property on `world` (two members: source and destination). */
export async function runRoundTrip(world: FuzzWorld, o: RoundTripOptions): Promise<FuzzOutcome> {
  const early = await prepareWorld(world);
  if (early) return early;
  const shared = o.sharedStorage ?? (await probeSharedStorage(world));
  world.note(`(setup) shared storage: ${shared}`);
  return runProperty(world, roundTripArbitrary, (sc) => roundTrip(world, sc, shared), o);
}
