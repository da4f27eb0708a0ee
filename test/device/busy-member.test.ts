import { describe, expect, it } from 'vitest';
import { GuestDriver } from '../../harness/guest/guest-driver.ts';
import { blkRead } from '../../harness/guest/block-guest.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PM_CTRL, PowerState } from '../../protocol/pci.ts';
import { CapOffset } from '../../device/member/layout.ts';
import { patch } from '../../device/mutants/mutant.ts';
import { TransportTimeoutError } from '../../protocol/transport-errors.ts';
import { decodePciCommonCfg } from '../../protocol/dev-ctx-fields.ts';
import { DevCtxType } from '../../protocol/device-context.ts';
import { decodeCtx, delay, DeviceMode, expectOk, rig, tracked, type Rig } from './helpers.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';

const SLOW = { flrMs: 40, resetMs: 40, pmMs: 40, requestMs: 0 };

type Op = 'FLR' | 'device reset' | 'D3hot transition';
type Cmd = 'DEV_MODE_SET' | 'DEV_CTX_READ' | 'DEV_CTX_WRITE';

/** Starts the long operation on member 2 without waiting for it (the register write reaches the model at once). */
function start(r: Rig, op: Op): void {
  const p = r.port(2);
  if (op === 'FLR') void p.pciConfigWrite(CapOffset.EXP + PCI_EXP_DEVCTL, 2, PCI_EXP_DEVCTL_BCR_FLR);
  else if (op === 'device reset') void p.commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, 0);
  else void p.pciConfigWrite(CapOffset.PM + PM_CTRL, 2, PowerState.D3hot);
}

function deviceStatusIn(ctx: Uint8Array): number {
  return decodePciCommonCfg(decodeCtx(ctx).fields.find((f) => f.type === DevCtxType.PCI_COMMON_CFG)!.value).deviceStatus;
}

describe('MODE_SET, CTX_READ and CTX_WRITE during a member FLR, device reset or PM transition are answered after it (SD14c-e, E22)', () => {
  for (const op of ['FLR', 'device reset', 'D3hot transition'] as Op[]) {
    for (const cmd of ['DEV_MODE_SET', 'DEV_CTX_READ', 'DEV_CTX_WRITE'] as Cmd[]) {
      it(`${cmd} issued during a ${op} completes after it, successfully`, async () => {
        const r = await rig({ timings: SLOW });
        const { admin } = r;
        await new GuestDriver(r.port(1)).init({ queues: 1, queueSize: 32 });
        await new GuestDriver(r.port(2)).init({ queues: 1, queueSize: 32 });
        await admin.modeSetOk(1, DeviceMode.FREEZE);
        const ctx = await admin.readContext(1);
        // A device reset needs config writes, which Freeze ignores: for WRITE, reset in Stop and queue the move to Freeze.
        const writeViaStop = cmd === 'DEV_CTX_WRITE' && op === 'device reset';
        if (cmd === 'DEV_CTX_WRITE') await admin.modeSetOk(2, writeViaStop ? DeviceMode.STOP : DeviceMode.FREEZE);
        if (cmd === 'DEV_CTX_READ') await admin.modeSetOk(2, DeviceMode.STOP);

        start(r, op);
        expect(r.member(2).isBusy).toBe(true);
        let busyAtAnswer: boolean | undefined;
        const send = (): Promise<AdminCommandResponse> => {
          if (cmd === 'DEV_MODE_SET') return admin.modeSet(2, DeviceMode.STOP);
          if (cmd === 'DEV_CTX_READ') return admin.ctxRead(2, 4096);
          if (writeViaStop) void admin.modeSet(2, DeviceMode.FREEZE);
          return admin.ctxWrite(2, ctx);
        };
        const answer = tracked(
          send().then((res) => {
            busyAtAnswer = r.member(2).isBusy;
            return res;
          }),
        );
        await delay(10);
        expect(answer.settled).toBe(false);
        const res = await answer.promise;
        expectOk(res);
        expect(busyAtAnswer).toBe(false);

        if (cmd === 'DEV_MODE_SET') expect(await admin.modeGetOk(2)).toBe(DeviceMode.STOP);
        if (cmd === 'DEV_CTX_READ' && op !== 'D3hot transition') expect(deviceStatusIn(res.result)).toBe(0); // the state after the reset
        if (cmd === 'DEV_CTX_WRITE') {
          await admin.modeSetOk(2, DeviceMode.STOP);
          expect(r.member(2).deviceStatus).toBe(r.member(1).deviceStatus);
        }
      });
    }
  }
});

describe('FLR and migration state (E22, SD20)', () => {
  for (const mode of [DeviceMode.STOP, DeviceMode.FREEZE]) {
    it(`a member FLR keeps the mode (${mode === DeviceMode.STOP ? 'Stop' : 'Freeze'})`, async () => {
      const r = await rig();
      await new GuestDriver(r.port(1)).init({ queues: 1 });
      await r.admin.modeSetOk(1, mode);
      await r.port(1).flr();
      expect(await r.admin.modeGetOk(1)).toBe(mode);
      expect(r.member(1).deviceStatus).toBe(0);
    });
  }

  it('a device reset keeps the mode', async () => {
    const r = await rig();
    await new GuestDriver(r.port(1)).init({ queues: 1 });
    await r.admin.modeSetOk(1, DeviceMode.STOP);
    await r.port(1).commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, 0);
    await r.port(1).settle();
    expect(await r.admin.modeGetOk(1)).toBe(DeviceMode.STOP);
  });

  it('a member FLR neither stops write recording nor clears gathered records (SD20)', async () => {
    const r = await rig();
    const range = { pageAddress: r.port(1).memory.base, pageCount: 16384n }; // 64 MiB: every arena of this test
    const len = range.pageCount * 4096n;
    const drv = await new GuestDriver(r.port(1)).init({ queues: 1 });
    await r.admin.recordsStartOk(1, { pageSize: 4096n, entries: [range] });
    drv.post(0, blkRead(0n, 1));
    await drv.kick(0);
    expect((await drv.poll(0, 1)).length).toBe(1);
    const gathered = r.member(1).recorder.pendingCount;
    expect(gathered).toBeGreaterThan(0);
    await r.port(1).flr();
    expect((await r.admin.drainRecords(1, range.pageAddress, len)).length).toBe(gathered);
    // Still recording after the FLR: a device write made after it is reported.
    const drv2 = await new GuestDriver(r.port(1)).init({ queues: 1 });
    drv2.post(0, blkRead(0n, 1));
    await drv2.kick(0);
    expect((await drv2.poll(0, 1)).length).toBe(1);
    expect((await r.admin.drainRecords(1, range.pageAddress, len)).length).toBeGreaterThan(0);
  });
});

describe('flr() and setPowerState() wait for the function to answer configuration reads, within the declared reset time', () => {
  it('flr() resolves once the FLR is over: the function is reset when configuration reads answer again', async () => {
    const r = await rig({ timings: { flrMs: 30, resetMs: 0, pmMs: 0, requestMs: 0 } });
    await new GuestDriver(r.port(1)).init({ queues: 1 });
    const t0 = performance.now();
    await r.port(1).flr();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(r.member(1).isBusy).toBe(false);
    expect(await r.port(1).commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1)).toBe(0);
  });

  it('flr() of a function that never answers again rejects with a timeout after timing.resetMs', async () => {
    const r = await rig();
    const m = r.member(1);
    patch(m, 'startFlr', () => () => {
      Object.defineProperty(m, 'answering', { get: () => false });
      return new Promise<void>(() => undefined);
    });
    const t0 = performance.now();
    await expect(r.port(1).flr()).rejects.toThrow(TransportTimeoutError);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(r.sim.timing.resetMs - 5);
  });

  it('setPowerState(D0) from D3hot waits out the transition, during which the function answers nothing', async () => {
    const r = await rig({ timings: { flrMs: 0, resetMs: 0, pmMs: 20, requestMs: 0 } });
    await r.port(1).setPowerState('D3hot');
    await r.port(1).settle();
    // Command and Status (a VF's Vendor and Device IDs read all ones whatever its state, SR-IOV).
    void r.port(1).pciConfigWrite(CapOffset.PM + PM_CTRL, 2, PowerState.D0);
    expect(await r.port(1).pciConfigRead(4, 4)).toBe(0xffffffff);
    await r.port(1).setPowerState('D0');
    expect(await r.port(1).pciConfigRead(4, 4)).not.toBe(0xffffffff);
    expect(r.member(1).isBusy).toBe(false);
  });
});
