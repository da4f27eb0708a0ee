import { describe, expect, it } from 'vitest';
import { DeviceMode, expectEinval, expectOk, Qualifier, rawExec, rig, OP } from './helpers.ts';
import { Status } from '../../protocol/status.ts';

const MODES = [DeviceMode.ACTIVE, DeviceMode.STOP, DeviceMode.FREEZE];

describe('DEV_MODE_GET / DEV_MODE_SET (patch 1/8 mode table, SD2..SD5, E15)', () => {
  it('a member starts in Active', async () => {
    const { admin } = await rig();
    expect(await admin.modeGetOk(1)).toBe(DeviceMode.ACTIVE);
    expect(await admin.modeGetOk(2)).toBe(DeviceMode.ACTIVE);
  });

  it('every transition between Active, Stop and Freeze is allowed and MODE_GET reports it (E15)', async () => {
    const { admin } = await rig();
    for (const from of MODES) {
      for (const to of MODES) {
        await admin.modeSetOk(1, from);
        await admin.modeSetOk(1, to);
        expect(await admin.modeGetOk(1)).toBe(to);
      }
    }
  });

  it('MODE_SET to the current mode succeeds in every mode (SD2)', async () => {
    const { admin } = await rig();
    for (const m of MODES) {
      await admin.modeSetOk(1, m);
      expectOk(await admin.modeSet(1, m));
      expect(await admin.modeGetOk(1)).toBe(m);
    }
  });

  it('the mode is per member', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    expect(await admin.modeGetOk(2)).toBe(DeviceMode.ACTIVE);
  });

  it('reserved modes 3..255 fail with INVALID_FIELD and leave the mode unchanged (SD3, SD4)', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.STOP);
    for (let m = 3; m <= 255; m++) expectEinval(await admin.modeSet(1, m), Qualifier.INVALID_FIELD);
    expect(await admin.modeGetOk(1)).toBe(DeviceMode.STOP);
  });

  it('MODE_GET result is one byte, padded to 8 (VD5); command_specific_output reads 0 (E32)', async () => {
    const { sim, admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const r = await rawExec(sim, { opcode: OP.DEV_MODE_GET, memberId: 1 }, 16);
    expect(r.status).toBe(Status.OK);
    expect(r.usedLength).toBe(16);
    expect(r.result).toEqual(Uint8Array.of(DeviceMode.FREEZE, 0, 0, 0, 0, 0, 0, 0));
    expect(r.output).toEqual(new Uint8Array(4));
  });
});

describe('a partially read context blocks Active and Stop (SD5, E15)', () => {
  for (const mode of [DeviceMode.ACTIVE, DeviceMode.STOP, DeviceMode.FREEZE]) {
    const name = ['Active', 'Stop', 'Freeze'][mode];
    it(`partial READ in ${name}: MODE_SET Active and Stop fail, the mode stays; DISCARD unblocks`, async () => {
      const { admin } = await rig();
      await admin.modeSetOk(1, mode);
      const { contextLen } = await admin.ctxReadOk(1, 16);
      expect(contextLen).toBe(16);
      for (const to of [DeviceMode.ACTIVE, DeviceMode.STOP].filter((m) => m !== mode)) {
        expectEinval(await admin.modeSet(1, to), Qualifier.INVALID_COMMAND);
        expect(await admin.modeGetOk(1)).toBe(mode);
      }
      await admin.discardOk(1);
      const to = mode === DeviceMode.ACTIVE ? DeviceMode.STOP : DeviceMode.ACTIVE;
      await admin.modeSetOk(1, to);
      expect(await admin.modeGetOk(1)).toBe(to);
    });
  }

  it('a partial READ does not block Freeze (only Active and Stop are named)', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.STOP);
    await admin.ctxReadOk(1, 16);
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    expect(await admin.modeGetOk(1)).toBe(DeviceMode.FREEZE);
  });

  it('MODE_SET to the current mode succeeds even with a partial READ pending (SD2)', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.STOP);
    await admin.ctxReadOk(1, 16);
    expectOk(await admin.modeSet(1, DeviceMode.STOP));
  });

  it('a completely read context (short READ) does not block', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    await admin.readContext(1, 64);
    await admin.modeSetOk(1, DeviceMode.ACTIVE);
  });

  it('an exact-fit READ leaves the context partially read until a zero-length READ ends it', async () => {
    const { sim, admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const size = Number(await admin.sizeGetOk(1));
    const first = await rawExec(sim, { opcode: OP.DEV_CTX_READ, memberId: 1 }, 8 + size);
    expect(new DataView(first.output.buffer).getUint32(0, true)).toBe(size);
    expectEinval(await admin.modeSet(1, DeviceMode.ACTIVE), Qualifier.INVALID_COMMAND);
    expect((await admin.ctxReadOk(1, 8)).contextLen).toBe(0);
    await admin.modeSetOk(1, DeviceMode.ACTIVE);
  });
});

describe('a partially written context blocks Active and Stop (SD5, E15)', () => {
  it('MODE_SET Active and Stop fail after a partial WRITE; DISCARD unblocks', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const ctx = await admin.readContext(1);
    await admin.modeSetOk(2, DeviceMode.FREEZE);
    expectOk(await admin.ctxWrite(2, ctx.subarray(0, 24)));
    expectEinval(await admin.modeSet(2, DeviceMode.ACTIVE), Qualifier.INVALID_COMMAND);
    expectEinval(await admin.modeSet(2, DeviceMode.STOP), Qualifier.INVALID_COMMAND);
    expect(await admin.modeGetOk(2)).toBe(DeviceMode.FREEZE);
    expectOk(await admin.modeSet(2, DeviceMode.FREEZE));
    await admin.discardOk(2);
    await admin.modeSetOk(2, DeviceMode.STOP);
  });

  it('a completed WRITE does not block', async () => {
    const { admin } = await rig();
    await admin.modeSetOk(1, DeviceMode.FREEZE);
    const ctx = await admin.readContext(1);
    await admin.modeSetOk(2, DeviceMode.FREEZE);
    await admin.writeContext(2, ctx, 64);
    await admin.modeSetOk(2, DeviceMode.ACTIVE);
  });
});
