import { describe, expect, it } from 'vitest';
import { decodeCtxReadOutput } from '../../protocol/commands.ts';
import { DevCtxType } from '../../protocol/device-context.ts';
import { GuestDriver } from '../../harness/guest/guest-driver.ts';
import { blkRead } from '../../harness/guest/block-guest.ts';
import { BlkFeature } from '../../protocol/virtio-blk.ts';
import { decodeCtx, DeviceMode, expectEinval, expectOk, kickHeld, OP, Qualifier, rawExec, rig, withValue, type Rig } from './helpers.ts';

/** Member 1 with a driver, one request in flight; then Stop and Freeze (a context worth migrating). */
async function frozenSource(r: Rig): Promise<Uint8Array> {
  const drv = await new GuestDriver(r.port(1)).init({ queues: 1, queueSize: 64, features: 1n << BigInt(BlkFeature.CONFIG_WCE) });
  drv.post(0, blkRead(3n, 1));
  await kickHeld(r.port(1), () => drv.kick(0));
  await r.admin.modeSetOk(1, DeviceMode.STOP);
  await r.admin.modeSetOk(1, DeviceMode.FREEZE);
  return r.admin.readContext(1);
}

describe('DEV_CTX_READ (patch 4/8, SD6, SD7, E16, E19)', () => {
  for (const mode of [DeviceMode.ACTIVE, DeviceMode.STOP, DeviceMode.FREEZE]) {
    it(`READ works in ${['Active', 'Stop', 'Freeze'][mode]} and returns a well-formed context (SD7)`, async () => {
      const { admin } = await rig();
      await admin.modeSetOk(1, mode);
      const ctx = decodeCtx(await admin.readContext(1));
      expect(ctx.fields[0].type).toBe(DevCtxType.PCI_COMMON_CFG);
      expect(ctx.fields.length).toBeGreaterThanOrEqual(5);
    });
  }

  it('after the end, READ succeeds with context_len 0 (SD6) and SIZE_GET returns 0 (E16)', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    await admin.readContext(1);
    for (let i = 0; i < 3; i++) {
      const r = await admin.ctxReadOk(1, 64);
      expect(r.contextLen).toBe(0);
      expect(r.response.usedLength).toBe(8);
    }
    expect(await admin.sizeGetOk(1, 0)).toBe(0n);
    expect(await admin.sizeGetOk(1, 1)).toBe(0n);
  });

  it('a mode change starts a new stream (E16)', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.STOP);
    const a = await admin.readContext(1);
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    expect(await admin.sizeGetOk(1)).toBe(BigInt(a.length));
    expect(await admin.readContext(1)).toEqual(a);
  });

  it('chunk capacities 8, 16 and 4096 return the same stream; each context_len <= capacity and used length = 8 + context_len padded to 8 (VD5)', async () => {
    const r = await rig();
    const whole = await frozenSource(r);
    for (const cap of [8, 16, 4096]) {
      await r.admin.discardOk(1);
      const parts: number[] = [];
      const out: number[] = [];
      for (;;) {
        const { contextLen, data, response } = await r.admin.ctxReadOk(1, cap);
        expect(contextLen).toBeLessThanOrEqual(cap);
        expect(response.usedLength).toBe(8 + Math.ceil(contextLen / 8) * 8); // padded to whole 8-byte units (VD5)
        parts.push(contextLen);
        out.push(...data);
        if (contextLen < cap) break;
      }
      expect(Uint8Array.from(out)).toEqual(whole);
      expect(parts.slice(0, -1).every((n) => n === cap)).toBe(true);
    }
  });

  it('exact-fit capacity: the READ filling the buffer does not end the stream; only the next, zero READ does', async () => {
    const { sim, admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const size = Number(await admin.sizeGetOk(1));
    const first = await rawExec(sim, { opcode: OP.DEV_CTX_READ, memberId: 1 }, 8 + size);
    expect(decodeCtxReadOutput(first.output)).toBe(size);
    expect(decodeCtx(first.result).fields.length).toBeGreaterThan(0);
    expect(await admin.sizeGetOk(1)).toBe(0n); // nothing remains, but the stream has not ended
    const again = await rawExec(sim, { opcode: OP.DEV_CTX_READ, memberId: 1 }, 8 + size);
    expect(decodeCtxReadOutput(again.output)).toBe(0);
    expectOk(await admin.modeSet(1, DeviceMode.ACTIVE));
  });

  it('a context that is a multiple of the chunk size ends with a zero READ', async () => {
    const { sim, admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const size = Number(await admin.sizeGetOk(1));
    // Any divisor of the size works as an exact-fit chunk; 1 always does.
    const chunk = [5, 7, 47, 1].find((d) => size % d === 0)!;
    let reads = 0;
    let total = 0;
    for (;;) {
      const r = await rawExec(sim, { opcode: OP.DEV_CTX_READ, memberId: 1 }, 8 + chunk);
      const n = decodeCtxReadOutput(r.output);
      reads++;
      total += n;
      if (n < chunk) {
        expect(n).toBe(0);
        break;
      }
    }
    expect(total).toBe(size);
    expect(reads).toBe(size / chunk + 1);
  });

  it('the Freeze context does not change while it is read (SD11g)', async () => {
    const r = await rig();
    const a = await frozenSource(r);
    await r.admin.discardOk(1);
    expect(await r.admin.readContext(1, 8)).toEqual(a);
  });
});

describe('DEV_CTX_SIZE_GET (patch 4/8, E17, E18)', () => {
  it('freeze_mode 0 and 1 both give the size of the context READ will return', async () => {
    const { admin } = await rig();
    for (const mode of [DeviceMode.ACTIVE, DeviceMode.FREEZE]) {
      await admin.modeSetOk(1, mode);
      const s0 = await admin.sizeGetOk(1, 0);
      const s1 = await admin.sizeGetOk(1, 1);
      expect(s1).toBe(s0);
      expect(BigInt((await admin.readContext(1)).length)).toBe(s0);
      await admin.discardOk(1);
    }
  });

  it('freeze_mode 2 and 255 fail with INVALID_FIELD', async () => {
    const { admin } = await rig();
    expectEinval(await admin.sizeGet(1, 2), Qualifier.INVALID_FIELD);
    expectEinval(await admin.sizeGet(1, 255), Qualifier.INVALID_FIELD);
  });

  it('the remaining size shrinks as the context is read', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const total = await admin.sizeGetOk(1);
    await admin.ctxReadOk(1, 16);
    expect(await admin.sizeGetOk(1)).toBe(total - 16n);
  });
});

describe('DEV_CTX_WRITE (patch 4/8, SD9, SD10, SD15)', () => {
  for (const mode of [DeviceMode.ACTIVE, DeviceMode.STOP]) {
    it(`WRITE in ${['Active', 'Stop'][mode]} is refused and nothing is kept (SD10)`, async () => {
      const r = await rig();
      const ctx = await frozenSource(r);
      await r.admin.modeSetOk(2, mode);
      expectEinval(await r.admin.ctxWrite(2, ctx), Qualifier.INVALID_COMMAND);
      expect(await r.admin.modeGetOk(2)).toBe(mode);
      // Nothing was taken: going through Freeze back to Active applies nothing.
      await r.admin.modeSetOk(2, DeviceMode.FREEZE);
      await r.admin.modeSetOk(2, DeviceMode.ACTIVE);
      expect(r.member(2).inFlight.length).toBe(0);
      expect(r.member(2).deviceStatus).toBe(0);
    });
  }

  it('a complete context can be written twice; the second one takes effect (SD9)', async () => {
    const r = await rig();
    const ctx = await frozenSource(r);
    await r.admin.modeSetOk(2, DeviceMode.FREEZE);
    await r.admin.writeContext(2, ctx, 32);
    await r.admin.writeContext(2, ctx, 4096);
    // A different context (member 2's own, still fresh) written last wins.
    const own = await r.admin.readContext(2);
    await r.admin.writeContext(2, ctx, 64);
    await r.admin.writeContext(2, own, 64);
    await r.admin.modeSetOk(2, DeviceMode.ACTIVE);
    expect(r.member(2).inFlight.length).toBe(0);
    expect(r.member(2).deviceStatus).toBe(0);
  });

  it('a written context takes effect on leaving Freeze', async () => {
    const r = await rig();
    const ctx = await frozenSource(r);
    await r.admin.modeSetOk(2, DeviceMode.FREEZE);
    await r.admin.writeContext(2, ctx, 64);
    await r.admin.modeSetOk(2, DeviceMode.STOP);
    const [m1, m2] = [r.member(1), r.member(2)];
    expect(m2.deviceStatus).toBe(m1.deviceStatus);
    expect(m2.inFlight.map((f) => f.head)).toEqual(m1.inFlight.map((f) => f.head));
    expect(m2.queues[0].desc).toBe(m1.queues[0].desc);
  });

  const fixed: [string, number][] = [
    ['PCI_COMMON_CFG', DevCtxType.PCI_COMMON_CFG],
    ['DEV_FEATURES', DevCtxType.DEV_FEATURES],
    ['PCI_VQ_CFG', DevCtxType.PCI_VQ_CFG],
    ['VQ_SPLIT_RUNTIME_CFG', DevCtxType.VQ_SPLIT_RUNTIME_CFG],
    ['DEV_CFG', DevCtxType.DEV_CFG],
  ];
  for (const [name, type] of fixed) {
    it(`a ${name} field of the wrong length is refused with INVALID_FIELD (SD15) and nothing is kept`, async () => {
      const r = await rig();
      const ctx = await frozenSource(r);
      const bad = withValue(ctx, type, (v) => {
        const longer = new Uint8Array(v.length + 8);
        longer.set(v);
        return longer;
      });
      await r.admin.modeSetOk(2, DeviceMode.FREEZE);
      expectEinval(await r.admin.ctxWrite(2, bad), Qualifier.INVALID_FIELD);
      // The refused WRITE left nothing behind: not partially written, nothing applied.
      await r.admin.modeSetOk(2, DeviceMode.ACTIVE);
      expect(r.member(2).deviceStatus).toBe(0);
      expect(r.member(2).inFlight.length).toBe(0);
    });
  }

  it('a VQ_SPLIT_DEV_OWN_DESC whose length disagrees with desc_count is refused (SD15)', async () => {
    const r = await rig();
    const ctx = await frozenSource(r);
    const bad = withValue(ctx, DevCtxType.VQ_SPLIT_DEV_OWN_DESC, (v) => {
      const c = v.slice();
      c[2] += 1; // desc_count one more than the value holds
      return c;
    });
    await r.admin.modeSetOk(2, DeviceMode.FREEZE);
    expectEinval(await r.admin.ctxWrite(2, bad), Qualifier.INVALID_FIELD);
  });
});

describe('DEV_CTX_DISCARD (SD8, SD13, E17)', () => {
  it('after a partial READ: SIZE_GET as if never read, and the next READ returns a new context from the start', async () => {
    const r = await rig();
    const whole = await frozenSource(r);
    await r.admin.discardOk(1);
    const size = await r.admin.sizeGetOk(1);
    await r.admin.ctxReadOk(1, 24);
    expect(await r.admin.sizeGetOk(1)).toBe(size - 24n);
    await r.admin.discardOk(1);
    expect(await r.admin.sizeGetOk(1)).toBe(size);
    expect(await r.admin.readContext(1, 16)).toEqual(whole);
  });

  it('after a partial READ in Active, the new context reflects the state at the new first READ', async () => {
    const r = await rig();
    await r.admin.ctxReadOk(1, 16);
    await new GuestDriver(r.port(1)).init({ queues: 1, queueSize: 32 });
    await r.admin.discardOk(1);
    const ctx = decodeCtx(await r.admin.readContext(1));
    const vq = ctx.fields.find((f) => f.type === DevCtxType.PCI_VQ_CFG)!.value;
    expect(vq[2] | (vq[3] << 8)).toBe(32); // queue_size programmed after the first READ
  });

  it('after a partial WRITE: as if never written (a full context is then accepted from its start)', async () => {
    const r = await rig();
    const ctx = await frozenSource(r);
    await r.admin.modeSetOk(2, DeviceMode.FREEZE);
    expectOk(await r.admin.ctxWrite(2, ctx.subarray(0, 40)));
    await r.admin.discardOk(2);
    await r.admin.modeSetOk(2, DeviceMode.ACTIVE); // not partially written any more
    expect(r.member(2).deviceStatus).toBe(0);
    await r.admin.modeSetOk(2, DeviceMode.FREEZE);
    expectOk(await r.admin.ctxWrite(2, ctx.subarray(0, 40)));
    await r.admin.discardOk(2);
    await r.admin.writeContext(2, ctx, 64);
    await r.admin.modeSetOk(2, DeviceMode.ACTIVE);
    expect(r.member(2).deviceStatus).toBe(r.member(1).deviceStatus);
  });

  it('DISCARD with nothing read or written succeeds', async () => {
    const { admin } = await rig();
    expectOk(await admin.discard(1));
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    expectOk(await admin.discard(1));
  });
});

describe('DEV_CTX_FIELDS_QUERY (patch 4/8, E37)', () => {
  it('lists every type that appears in a READ stream; fixed lengths match the TLVs', async () => {
    const r = await rig();
    const ctx = decodeCtx(await frozenSource(r));
    const listed = new Map((await r.admin.fieldsQueryOk(1)).map((f) => [f.type, f.length]));
    const seen = new Set(ctx.fields.map((f) => f.type));
    expect(seen.has(DevCtxType.VQ_SPLIT_DEV_OWN_DESC)).toBe(true);
    for (const t of seen) expect(listed.has(t)).toBe(true);
    for (const f of ctx.fields) {
      if (f.type === DevCtxType.PCI_VQ_CFG || f.type === DevCtxType.VQ_SPLIT_RUNTIME_CFG) expect(listed.get(f.type)).toBe(BigInt(f.value.length));
    }
  });

  it('an entropy member lists every type of its READ stream too', async () => {
    const { admin } = await rig({ members: [{ type: 'entropy' }] });
    const listed = new Set((await admin.fieldsQueryOk(1)).map((f) => f.type));
    for (const f of decodeCtx(await admin.readContext(1)).fields) expect(listed.has(f.type)).toBe(true);
  });
});
