import { describe, expect, it } from 'vitest';
import { addField, applyPlan, buildContext, checkPlan, contextSize, emptyPlan, supportedFields } from '../../device/migration/context-codec.ts';
import type { VirtioMember } from '../../device/member/virtio-member.ts';
import { SimulatorTransport } from '../../transports/simulator/simulator-transport.ts';
import { GuestDriver } from '../../harness/guest/guest-driver.ts';
import { blkRead } from '../../harness/guest/block-guest.ts';
import { DevCtxType, type VirtioDevCtxFieldTlv } from '../../protocol/device-context.ts';
import { BlkFeature } from '../../protocol/virtio-blk.ts';
import { decodeCtx, encodeCtx, kickHeld, WIRE } from './helpers.ts';

/** Member 1 driven into a non-trivial state (2 queues, requests in flight on both, writeback 0); member 2 untouched. */
async function busySource() {
  const sim = new SimulatorTransport({ device: { members: [{ type: 'block', numQueues: 2 }, { type: 'block', numQueues: 2 }] } });
  const drv = await new GuestDriver(sim.member(1)).init({ queues: 2, queueSize: 64, features: 1n << BigInt(BlkFeature.CONFIG_WCE) });
  await sim.member(1).deviceCfgWrite(32, 1, 0);
  for (let i = 0; i < 3; i++) drv.post(0, blkRead(BigInt(i), 1), i);
  drv.post(1, blkRead(9n, 1), 9);
  await kickHeld(sim.member(1), async () => {
    await drv.kick(0);
    await drv.kick(1);
  });
  const m1 = sim.device.member(1)!;
  const m2 = sim.device.member(2)!;
  return { sim, drv, m1, m2 };
}

function queueState(m: VirtioMember) {
  return m.queues.map((q) => ({ size: q.size, msix: q.msixVector, enabled: q.enabled, desc: q.desc, driver: q.driver, device: q.device, availIdx: q.lastAvailIdx }));
}

function planFor(m: VirtioMember, fields: VirtioDevCtxFieldTlv[]) {
  const plan = emptyPlan();
  for (const f of fields) {
    const bad = addField(m, plan, f, WIRE);
    if (bad) throw new Error(bad);
  }
  return plan;
}

describe('context-codec: build, encode, decode, check, apply', () => {
  it('build -> encode -> decode -> addField/checkPlan -> applyPlan reproduces the queue state on another member', async () => {
    const { m1, m2 } = await busySource();
    expect(m1.inFlight.length).toBe(4);
    const bytes = encodeCtx(buildContext(m1, WIRE));
    const plan = planFor(m2, decodeCtx(bytes).fields);
    expect(checkPlan(m2, plan)).toBeUndefined();
    applyPlan(m2, plan);
    expect(queueState(m2)).toEqual(queueState(m1));
    expect(m2.driverFeatures).toBe(m1.driverFeatures);
    expect(m2.deviceStatus).toBe(m1.deviceStatus);
    expect(m2.configMsixVector).toBe(m1.configMsixVector);
    expect(m2.queueSelect).toBe(m1.queueSelect);
    expect(m2.inFlight.map((f) => [f.queue, f.head])).toEqual(m1.inFlight.map((f) => [f.queue, f.head]));
    expect([...m2.resumeQueues].sort()).toEqual([0, 1]);
    expect(m2.deviceConfigBytes()).toEqual(m1.deviceConfigBytes());
    // The restored member produces the same context again.
    expect(encodeCtx(buildContext(m2, WIRE))).toEqual(bytes);
  });

  it('the field order is common cfg, features, per-queue cfg and runtime, owned descriptors, device config', async () => {
    const { m1 } = await busySource();
    const types = buildContext(m1, WIRE).fields.map((f) => f.type);
    expect(types).toEqual([
      DevCtxType.PCI_COMMON_CFG,
      DevCtxType.DEV_FEATURES,
      DevCtxType.PCI_VQ_CFG,
      DevCtxType.VQ_SPLIT_RUNTIME_CFG,
      DevCtxType.PCI_VQ_CFG,
      DevCtxType.VQ_SPLIT_RUNTIME_CFG,
      DevCtxType.VQ_SPLIT_DEV_OWN_DESC,
      DevCtxType.VQ_SPLIT_DEV_OWN_DESC,
      DevCtxType.DEV_CFG,
    ]);
  });

  it('contextSize equals the encoded length (SIZE_GET before the stream starts)', async () => {
    const { m1, m2 } = await busySource();
    for (const m of [m1, m2]) expect(contextSize(m, WIRE)).toBe(encodeCtx(buildContext(m, WIRE)).length);
  });

  it('supportedFields lists every type buildContext emits, with the TLV length for fixed-length types (E37)', async () => {
    const { m1 } = await busySource();
    const sup = new Map(supportedFields(m1, WIRE).map((f) => [f.type, f.length]));
    for (const f of buildContext(m1, WIRE).fields) {
      expect(sup.has(f.type)).toBe(true);
      if (f.type !== DevCtxType.VQ_SPLIT_DEV_OWN_DESC) expect(sup.get(f.type)).toBe(BigInt(f.value.length));
    }
  });

  describe('addField refuses (SD15 and the reference readings)', () => {
    const fixed: [string, number][] = [
      ['PCI_COMMON_CFG', DevCtxType.PCI_COMMON_CFG],
      ['DEV_FEATURES', DevCtxType.DEV_FEATURES],
      ['PCI_VQ_CFG', DevCtxType.PCI_VQ_CFG],
      ['VQ_SPLIT_RUNTIME_CFG', DevCtxType.VQ_SPLIT_RUNTIME_CFG],
      ['DEV_CFG', DevCtxType.DEV_CFG],
    ];
    for (const [name, type] of fixed) {
      it(`a ${name} value one byte longer or shorter than the device's (SD15)`, async () => {
        const { m1, m2 } = await busySource();
        const f = buildContext(m1, WIRE).fields.find((x) => x.type === type)!;
        const longer = new Uint8Array(f.value.length + 1);
        longer.set(f.value);
        expect(addField(m2, emptyPlan(), { type, value: longer }, WIRE)).toMatch(/length|bytes/);
        expect(addField(m2, emptyPlan(), { type, value: f.value.subarray(0, f.value.length - 1) }, WIRE)).toMatch(/length|bytes/);
        expect(addField(m2, emptyPlan(), { type, value: f.value }, WIRE)).toBeUndefined();
      });
    }

    it('a field that appears twice', async () => {
      const { m1, m2 } = await busySource();
      const plan = emptyPlan();
      for (const f of buildContext(m1, WIRE).fields.slice(0, 3)) expect(addField(m2, plan, f, WIRE)).toBeUndefined();
      for (const f of buildContext(m1, WIRE).fields.slice(0, 3)) expect(addField(m2, plan, f, WIRE)).toMatch(/twice/);
    });

    it('a queue index beyond the device, features it does not offer, a reserved type', async () => {
      const { m1, m2 } = await busySource();
      const ctx = buildContext(m1, WIRE).fields;
      const vq = ctx.find((f) => f.type === DevCtxType.PCI_VQ_CFG)!.value.slice();
      vq[0] = 7;
      expect(addField(m2, emptyPlan(), { type: DevCtxType.PCI_VQ_CFG, value: vq }, WIRE)).toMatch(/vq_index 7/);
      const feat = new Uint8Array(16).fill(0xff);
      expect(addField(m2, emptyPlan(), { type: DevCtxType.DEV_FEATURES, value: feat }, WIRE)).toMatch(/does not offer/);
      expect(addField(m2, emptyPlan(), { type: 0x5, value: new Uint8Array(4) }, WIRE)).toMatch(/not a field type/);
    });

    it('a queue_size that is not a power of two', async () => {
      const { m1, m2 } = await busySource();
      const vq = buildContext(m1, WIRE).fields.find((f) => f.type === DevCtxType.PCI_VQ_CFG)!.value.slice();
      vq[2] = 3;
      vq[3] = 0;
      expect(addField(m2, emptyPlan(), { type: DevCtxType.PCI_VQ_CFG, value: vq }, WIRE)).toMatch(/power of two/);
    });
  });

  it('checkPlan refuses a device config whose read-only bytes differ', async () => {
    const { m1, m2 } = await busySource();
    const fields = buildContext(m1, WIRE).fields.map((f) => {
      if (f.type !== DevCtxType.DEV_CFG) return f;
      const v = f.value.slice();
      v[0] ^= 1; // capacity
      return { type: f.type, value: v };
    });
    expect(checkPlan(m2, planFor(m2, fields))).toMatch(/read-only/);
  });
});
