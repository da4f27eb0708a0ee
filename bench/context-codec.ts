import { SimulatorTransport } from '../transports/simulator/simulator-transport.ts';
import { GuestDriver } from '../harness/guest/guest-driver.ts';
import { blkRead } from '../harness/guest/block-guest.ts';
import { buildContext } from '../device/migration/context-codec.ts';
import { decodeDevCtx, DevCtxIndex, encodeDevCtx, type VirtioDevCtx } from '../protocol/device-context.ts';
import { SEED_V2_WIRE } from '../protocol/wire-options.ts';
import { atLeast, type Benchmark, type BenchFigure, type BenchOptions, info, median, round } from './figure.ts';

/** The target: encode and decode at least 1/8 of Buffer.copy's throughput over the same bytes. */
export const CODEC_RATIO_TARGET = 0.125;

/** The workload: a block member with 16 request queues of 256 entries, 8 requests in flight on each. */
const QUEUES = 16;
const IN_FLIGHT = 8;

/**
 * Device-context stream codec throughput (protocol/device-context.ts: encodeDevCtx, decodeDevCtx)
 * as a ratio of Buffer.copy over the same bytes, measured in the same run. The context is a real
 * one: built by the reference device from a member a guest driver has set up and loaded with
 * requests (common cfg, features, per-queue cfg and runtime, owned descriptors, device config).
 * Each round times copy, encode and decode back to back for the same wall-clock budget; the
 * figure is the median of the per-round ratios.
 */
export const contextCodec: Benchmark = {
  id: 'context-codec',
  title: 'device-context encode/decode throughput relative to Buffer.copy',
  async run(o: BenchOptions): Promise<BenchFigure[]> {
    const ctx = await workload();
    const a = SEED_V2_WIRE.ctxStreamAlignment;
    const bytes = encodeDevCtx(ctx, a);
    // Sanity: the decoder reads back what the encoder wrote.
    const again = encodeDevCtx({ fields: decodeDevCtx(bytes, a).fields }, a);
    if (Buffer.compare(Buffer.from(again), Buffer.from(bytes)) !== 0) throw new Error('decode(encode(context)) does not re-encode to the same bytes');
    o.log?.(`context-codec: ${bytes.length}-byte context, ${ctx.fields.length} fields (${QUEUES} queues, ${IN_FLIGHT} requests in flight each)`);

    // Decode = validate the whole stream and index every field (DevCtxIndex, reused as a device
    // reuses it); the per-type value decoders run on demand and are not part of the stream codec.
    const index = new DevCtxIndex();
    const src = Buffer.from(bytes);
    const dst = Buffer.alloc(bytes.length);
    let sink = 0;
    const ops = {
      copy: () => {
        sink += src.copy(dst);
      },
      encode: () => {
        sink += encodeDevCtx(ctx, a).length;
      },
      decode: () => {
        sink += index.parse(bytes, a).count;
      },
    };
    const budgetMs = o.quick ? 5 : 40;
    const rounds = o.quick ? 3 : 9;
    const iters = { copy: calibrate(ops.copy, budgetMs), encode: calibrate(ops.encode, budgetMs), decode: calibrate(ops.decode, budgetMs) };
    const rate = { copy: [] as number[], encode: [] as number[], decode: [] as number[] };
    const ratio = { encode: [] as number[], decode: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      const c = bytesPerSecond(ops.copy, iters.copy, bytes.length);
      const e = bytesPerSecond(ops.encode, iters.encode, bytes.length);
      const d = bytesPerSecond(ops.decode, iters.decode, bytes.length);
      rate.copy.push(c);
      rate.encode.push(e);
      rate.decode.push(d);
      ratio.encode.push(e / c);
      ratio.decode.push(d / c);
    }
    if (sink === 0) throw new Error('unreachable: keeps the measured work observable');
    const mb = (v: number[]) => round(median(v) / 1e6, 1);
    return [
      atLeast('context-encode-vs-buffer-copy', round(median(ratio.encode), 4), 'ratio', CODEC_RATIO_TARGET),
      atLeast('context-decode-vs-buffer-copy', round(median(ratio.decode), 4), 'ratio', CODEC_RATIO_TARGET),
      info('context-encode-throughput', mb(rate.encode), 'MB/s'),
      info('context-decode-throughput', mb(rate.decode), 'MB/s'),
      info('buffer-copy-throughput', mb(rate.copy), 'MB/s'),
    ];
  },
};

async function workload(): Promise<VirtioDevCtx> {
  const sim = new SimulatorTransport({ device: { members: [{ type: 'block', numQueues: QUEUES, queueSizeMax: 256 }] } });
  const drv = await new GuestDriver(sim.member(1)).init({ queues: QUEUES });
  // A stalled backend: the device takes the requests and keeps them in flight.
  await sim.member(1).stimuli.holdRequests!(true);
  for (let q = 0; q < QUEUES; q++) {
    for (let i = 0; i < IN_FLIGHT; i++) drv.post(q, blkRead(BigInt(i), 1));
    await drv.kick(q);
  }
  await sim.member(1).settle();
  const m = sim.device.member(1)!;
  if (m.inFlight.length !== QUEUES * IN_FLIGHT) throw new Error(`expected ${QUEUES * IN_FLIGHT} requests in flight, the device has ${m.inFlight.length}`);
  const ctx = buildContext(m, SEED_V2_WIRE);
  await sim.close();
  return ctx;
}

/** Iterations of `f` that take about `ms` (after a warm-up). */
function calibrate(f: () => void, ms: number): number {
  for (let i = 0; i < 200; i++) f();
  let n = 16;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    const dt = performance.now() - t0;
    if (dt >= ms / 4 || n >= 1 << 28) return Math.max(1, Math.round((n * ms) / Math.max(dt, 1e-3)));
    n *= 4;
  }
}

function bytesPerSecond(f: () => void, n: number, len: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return (n * len) / s;
}
