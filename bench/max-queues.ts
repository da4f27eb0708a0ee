import { SimulatorTransport } from '../transports/simulator/simulator-transport.ts';
import { AdminClient } from '../harness/admin-client.ts';
import { SEED_V2_WIRE } from '../protocol/wire-options.ts';
import { DeviceMode } from '../protocol/commands.ts';
import type { AdminCommandRequest, AdminCommandResponse, AdminExecOptions, AdminTransport } from '../protocol/admin-transport.ts';
import { type Benchmark, type BenchFigure, type BenchOptions, condition, info, round, secondsSince } from './figure.ts';

/** The largest number of virtqueues a virtio-pci device can have (num_queues is le16). */
export const MAX_QUEUES = 65_535;
const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;

/** Peak RSS and heap, sampled after every admin command and by a timer. */
class MemorySampler {
  peakRss = 0;
  peakHeap = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  sample(): void {
    const m = process.memoryUsage();
    if (m.rss > this.peakRss) this.peakRss = m.rss;
    if (m.heapUsed > this.peakHeap) this.peakHeap = m.heapUsed;
  }
  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 5);
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }
}

/** The transport with a memory sample after each command (a command's allocations are still live then). */
function sampled(t: AdminTransport, s: MemorySampler): AdminTransport {
  return new Proxy(t, {
    get(target, prop, receiver) {
      if (prop === 'exec') {
        return async (cmd: AdminCommandRequest, opts?: AdminExecOptions): Promise<AdminCommandResponse> => {
          const r = await target.exec(cmd, opts);
          s.sample();
          // Let the timer sampler run too (the simulator never leaves the microtask queue otherwise).
          await new Promise((res) => setImmediate(res));
          return r;
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

/**
 * A member with 65,535 virtqueues (queue size 256): its device context is read in Freeze, written
 * to a second member of the same shape in Freeze, and applied by moving that member to Active; the
 * second member's context must then read back identical. Prints the time of read + write + apply
 * and the peak RSS and heap seen during the run.
 */
export const maxQueues: Benchmark = {
  id: 'max-queues',
  title: `read and write back the context of a member with ${MAX_QUEUES} virtqueues`,
  async run(o: BenchOptions): Promise<BenchFigure[]> {
    const mem = new MemorySampler();
    mem.start();
    const spec = { type: 'block' as const, numQueues: MAX_QUEUES, queueSizeMax: 256 };
    const sim = new SimulatorTransport({ device: { members: [spec, spec] } });
    const admin = new AdminClient(sampled(sim, mem), SEED_V2_WIRE);
    let ok = false;
    let size = 0;
    let seconds = 0;
    let t0 = process.hrtime.bigint();
    try {
      await admin.enableAll();
      await admin.modeSetOk(1, DeviceMode.FREEZE);
      await admin.modeSetOk(2, DeviceMode.FREEZE);
      t0 = process.hrtime.bigint();
      const ctx = await admin.readContext(1, CHUNK);
      size = ctx.length;
      await admin.writeContext(2, ctx, CHUNK);
      await admin.modeSetOk(2, DeviceMode.ACTIVE);
      seconds = secondsSince(t0);
      const back = await admin.readContext(2, CHUNK);
      ok = Buffer.compare(Buffer.from(back), Buffer.from(ctx)) === 0;
      if (!ok) o.log?.('max-queues: the destination context differs from the source context');
    } catch (e) {
      seconds = secondsSince(t0);
      o.log?.(`max-queues: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      mem.stop();
      await sim.close();
    }
    o.log?.(`max-queues: ${MAX_QUEUES} queues, ${size}-byte context, ${CHUNK}-byte READ/WRITE chunks`);
    return [
      condition('max-queues-roundtrip-seconds', round(seconds, 3), 's', 'completes without error', ok),
      info('max-queues-context-size', size, 'bytes'),
      info('max-queues-peak-rss', round(mem.peakRss / MiB, 1), 'MiB'),
      info('max-queues-peak-heap-used', round(mem.peakHeap / MiB, 1), 'MiB'),
    ];
  },
};
