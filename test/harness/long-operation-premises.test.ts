/**
 * The member tests of commands sent during an FLR, a D3hot -> D0 transition or a virtio reset
 * (suites/member/long-operations) hold their verdict only when they showed, through the transport,
 * that the operation was in progress when the command was sent. Against the reference device they
 * pass, with the model's own timings and with a card's (an FLR that blocks 100 ms); against devices
 * whose operations cannot be seen in progress they are NOT_TESTED, never PASS, even when the device
 * answers the commands too early.
 */
import { describe, expect, it } from 'vitest';
import { executeConformanceTest } from '../../harness/ctest.ts';
import { openFuzzSession } from '../../harness/oracle/session-env.ts';
import { collectSuiteDefs, type RegisteredTest } from '../../harness/test-registry.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import type { MemberTimings, VirtioMember } from '../../device/member/virtio-member.ts';
import { eachMember, patch } from '../../device/mutants/mutant.ts';
import { ReferenceDevice } from '../../device/reference-device.ts';
import { findMutant } from '../../device/mutants/index.ts';
import { SimulatorTransport } from '../../transports/simulator/simulator-transport.ts';

const DURING = /^member\.(mode-set|ctx-read|ctx-write)-during-(flr|pm-transition|reset)$/;

/** Verdicts of the long-operation tests against a reference device with these timings and changes. */
async function verdicts(tests: RegisteredTest[], o: { timings?: Partial<MemberTimings>; change?: (d: ReferenceDevice) => void } = {}): Promise<Record<string, string>> {
  const sim = new SimulatorTransport({
    device: { wire: SEED_V2_WIRE, ...(o.timings ? { timings: { flrMs: 0, resetMs: 0, pmMs: 0, requestMs: 0, ...o.timings } } : {}) },
    createDevice: (opts, wiring) => {
      const d = new ReferenceDevice(opts, wiring);
      o.change?.(d);
      return d;
    },
  });
  const session = await openFuzzSession({ transport: sim });
  const out: Record<string, string> = {};
  try {
    for (const t of tests) out[t.def.id] = (await executeConformanceTest(t.def, t.body, session.plan, async () => session)).verdict;
  } finally {
    await session.close();
  }
  return out;
}

/** The function answers every access while an FLR or a power transition runs (nothing shows the operation). */
function alwaysAnswering(d: ReferenceDevice): void {
  eachMember(d, (m) => Object.defineProperty(m, 'answering', { get: () => true }));
}

/** A virtio reset that is over the moment 0 is written (device_status never shows it in progress). */
function instantReset(d: ReferenceDevice): void {
  eachMember(d, (m: VirtioMember) => patch(m, 'startReset', () => () => ((m as unknown as { resetVirtio(): void }).resetVirtio(), Promise.resolve())));
}

const byOp = (v: Record<string, string>, op: string) => Object.entries(v).filter(([id]) => id.endsWith(`-during-${op}`)).map(([, x]) => x);

describe('long-operation tests establish their premise through the transport', () => {
  let tests: RegisteredTest[];
  const load = async () => (tests ??= (await collectSuiteDefs()).filter((t) => DURING.test(t.def.id)));

  it('pass against the reference device, with its own timings and with an FLR that blocks 100 ms', async () => {
    const t = await load();
    expect(t.length).toBe(9);
    for (const v of [await verdicts(t), await verdicts(t, { timings: { flrMs: 100, pmMs: 10, resetMs: 10 } })]) {
      expect(Object.values(v)).toEqual(t.map(() => 'PASS'));
    }
  }, 60_000);

  it('are NOT_TESTED, never PASS, when the FLR and the D3hot -> D0 transition cannot be seen in progress', async () => {
    const t = await load();
    const v = await verdicts(t, { change: alwaysAnswering });
    expect(byOp(v, 'flr')).toEqual(['NOT_TESTED', 'NOT_TESTED', 'NOT_TESTED']);
    expect(byOp(v, 'pm-transition')).toEqual(['NOT_TESTED', 'NOT_TESTED', 'NOT_TESTED']);
    expect(byOp(v, 'reset')).toEqual(['PASS', 'PASS', 'PASS']);
  }, 60_000);

  it('are NOT_TESTED, never PASS, when such a device also answers the commands before the operation ends', async () => {
    const t = await load();
    const early = (d: ReferenceDevice) => {
      findMutant('member-answers-during-flr')!.apply(d);
      findMutant('member-answers-during-pm-transition')!.apply(d);
      alwaysAnswering(d);
    };
    const v = await verdicts(t, { change: early });
    expect([...byOp(v, 'flr'), ...byOp(v, 'pm-transition')].every((x) => x === 'NOT_TESTED')).toBe(true);
  }, 60_000);

  it('fail a device that answers during the operation when it can be seen', async () => {
    const t = await load();
    const v = await verdicts(t, { change: (d) => findMutant('member-answers-during-flr')!.apply(d) });
    expect(byOp(v, 'flr')).toEqual(['FAIL', 'FAIL', 'FAIL']);
  }, 60_000);

  it('are NOT_TESTED when a virtio reset is over before device_status can be read', async () => {
    const t = await load();
    const v = await verdicts(t, { change: instantReset });
    expect(byOp(v, 'reset')).toEqual(['NOT_TESTED', 'NOT_TESTED', 'NOT_TESTED']);
  }, 60_000);
});
