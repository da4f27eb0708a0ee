import { SimulatorTransport } from '../transports/simulator/simulator-transport.ts';
import { AdminClient } from '../harness/admin-client.ts';
import { SEED_V2_WIRE } from '../protocol/wire-options.ts';
import { DeviceMode, decodeModeGetResult } from '../protocol/commands.ts';
import { GroupType, Status } from '../protocol/status.ts';
import type { AdminCommandRequest, AdminTransport } from '../protocol/admin-transport.ts';
import { atLeast, type Benchmark, type BenchFigure, type BenchOptions, median, round, secondsSince } from './figure.ts';

/** The issue's target on a 2-core machine. */
export const ADMIN_COMMANDS_PER_SECOND_TARGET = 200_000;

/** The measured command: DEV_MODE_GET of member 1, which must answer OK/Active every time. */
export const MODE_GET: AdminCommandRequest = { opcode: SEED_V2_WIRE.opcodes.DEV_MODE_GET, groupType: GroupType.SRIOV, memberId: 1n, data: new Uint8Array(0), resultCapacity: 8 };

/** Puts DEV_MODE_GET in use (LIST_USE) and checks one answer before anything is timed. */
export async function prepareModeGet(t: AdminTransport): Promise<void> {
  await new AdminClient(t, SEED_V2_WIRE).enableAll();
  const first = await t.exec(MODE_GET);
  if (first.status !== Status.OK || decodeModeGetResult(first.result) !== DeviceMode.ACTIVE) throw new Error(`DEV_MODE_GET answered status ${first.status}, not OK/Active`);
}

/** One timed round: `n` DEV_MODE_GET one after another; the rate in commands per second. */
export async function modeGetRate(t: AdminTransport, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await issue(t, n);
  return n / secondsSince(t0);
}

/**
 * Admin commands per second through the simulator transport: DEV_MODE_GET (after LIST_USE), one
 * command at a time as a driver that waits for each completion sends them, each crossing the full
 * path: frame encode, the reference device (decode, dispatch, member lock, handler, result encode)
 * and the driver-side result decode. Every completion is checked. The figure is the median of
 * several timed rounds after a warm-up.
 */
export const adminThroughput: Benchmark = {
  id: 'admin-throughput',
  title: 'admin commands per second through the simulator transport (DEV_MODE_GET)',
  async run(o: BenchOptions): Promise<BenchFigure[]> {
    const sim = new SimulatorTransport();
    await prepareModeGet(sim);
    const warmup = o.quick ? 10_000 : 100_000;
    const batch = o.quick ? 20_000 : 200_000;
    const rounds = o.quick ? 3 : 7;
    await issue(sim, warmup);
    const rates: number[] = [];
    for (let r = 0; r < rounds; r++) rates.push(await modeGetRate(sim, batch));
    await sim.close();
    o.log?.(`admin-throughput: ${rounds} rounds of ${batch} DEV_MODE_GET, rates ${rates.map((r) => Math.round(r)).join(', ')} /s`);
    return [atLeast('admin-commands-per-second', round(median(rates), 0), 'commands/s', ADMIN_COMMANDS_PER_SECOND_TARGET)];
  },
};

async function issue(t: AdminTransport, n: number): Promise<void> {
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const r = await t.exec(MODE_GET);
    if (r.status !== Status.OK || r.result[0] !== DeviceMode.ACTIVE) bad++;
  }
  if (bad) throw new Error(`${bad} of ${n} DEV_MODE_GET commands did not complete OK/Active`);
}
