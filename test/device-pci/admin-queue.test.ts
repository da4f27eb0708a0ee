import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_CHAIN_BYTES } from '../../device/pci/admin-queue-engine.ts';
import { decodeAdminCmdResult, encodeAdminCmd } from '../../protocol/admin-frame.ts';
import { decodeOpcodeBitmap, DeviceMode, encodeOpcodeBitmap } from '../../protocol/commands.ts';
import { DeviceStatus } from '../../protocol/pci-common-cfg.ts';
import { VIRTQ_AVAIL_F_NO_INTERRUPT, AvailOff, VirtqDescFlags } from '../../protocol/split-ring.ts';
import { GroupType, Qualifier, Status } from '../../protocol/status.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { adminRig, closeOpened, type Placed, type TinyQueue, LIST_QUERY } from './kit.ts';

afterEach(closeOpened);

const OP = SEED_V2_WIRE.opcodes;
/** LIST_USE data: the base pair and the two mode commands. */
const IN_USE = encodeOpcodeBitmap(new Set([OP.LIST_QUERY, OP.LIST_USE, OP.DEV_MODE_GET, OP.DEV_MODE_SET]));

function cmd(opcode: number, memberId = 0n, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  return encodeAdminCmd({ opcode, groupType: GroupType.SRIOV, memberId, data }, pad);
}

/** The writable bytes the device put in a placed chain, joined, cut at the used length. */
function result(q: TinyQueue, p: Placed, usedLen: number) {
  const parts = p.writable.map((w) => q.dma.read(w.addr, w.len));
  const all = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of parts) {
    all.set(x, at);
    at += x.length;
  }
  return decodeAdminCmdResult(all, usedLen);
}

function split(b: Uint8Array, ...cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...cuts, b.length]) {
    out.push(b.subarray(from, c));
    from = c;
  }
  return out;
}

describe('admin-queue engine (hand-written driver sequence)', () => {
  it('completes a LIST_QUERY chain split over several descriptors, with the right used length', async () => {
    const rig = await adminRig();
    const { pf, aq } = rig;
    const hdr = cmd(OP.LIST_QUERY);
    const parts = [...split(hdr, 3, 16).map((data) => ({ data })), { writable: 2 }, { writable: 6 }, { writable: 5 }, { writable: 11 }];
    const p = aq.place(parts);
    await pf.notify(aq);
    expect(await aq.waitUsed(1)).toBe(true);
    const used = aq.usedElem(0);
    expect(used.id).toBe(p.head);
    expect(used.len).toBe(16); // 8-byte status header + one 64-bit word of opcodes
    const r = result(aq, p, used.len);
    expect(r.status).toBe(Status.OK);
    expect([...decodeOpcodeBitmap(r.result)]).toEqual(expect.arrayContaining([OP.LIST_QUERY, OP.LIST_USE, OP.DEV_MODE_GET]));
  });

  it('takes padded and unpadded command data alike (DEV_MODE_SET with 1 and 8 data bytes)', async () => {
    const rig = await adminRig();
    const { pf, aq } = rig;
    const all = IN_USE;
    aq.place([{ data: cmd(OP.LIST_USE, 0n, all) }, { writable: 8 }]);
    await pf.notify(aq);
    expect(await aq.waitUsed(1)).toBe(true);
    const unpadded = aq.place([{ data: cmd(OP.DEV_MODE_SET, 1n, Uint8Array.of(DeviceMode.STOP), false) }, { writable: 8 }]);
    const padded = aq.place([{ data: cmd(OP.DEV_MODE_SET, 1n, Uint8Array.of(DeviceMode.ACTIVE), true) }, { writable: 8 }]);
    expect(unpadded.writable.length + padded.writable.length).toBe(2);
    await pf.notify(aq);
    expect(await aq.waitUsed(3)).toBe(true);
    for (const [i, p] of [unpadded, padded].entries()) {
      const u = aq.usedElem(1 + i);
      expect(u).toEqual({ id: p.head, len: 8 });
      expect(result(aq, p, u.len).status).toBe(Status.OK);
    }
    expect(rig.b.device.member(1)!.mode).toBe(DeviceMode.ACTIVE);
  });

  it('truncates the result to a writable part that is too small, and says so in the used length', async () => {
    const rig = await adminRig();
    const { pf, aq } = rig;
    const p = aq.place([{ data: cmd(OP.LIST_QUERY) }, { writable: 4 }]);
    await pf.notify(aq);
    expect(await aq.waitUsed(1)).toBe(true);
    const u = aq.usedElem(0);
    expect(u).toEqual({ id: p.head, len: 4 });
    const r = result(aq, p, u.len);
    expect([r.status, r.qualifier]).toEqual([Status.OK, Qualifier.OK]);
  });

  it('processes queued commands in queue order and completes each once, in order (VD7)', async () => {
    const rig = await adminRig();
    const { pf, aq } = rig;
    const all = IN_USE;
    const placed = [
      aq.place([{ data: cmd(OP.LIST_USE, 0n, all) }, { writable: 8 }]),
      aq.place([{ data: cmd(OP.DEV_MODE_SET, 1n, Uint8Array.of(DeviceMode.STOP)) }, { writable: 8 }]),
      aq.place([{ data: cmd(OP.DEV_MODE_GET, 1n) }, { writable: 16 }]),
      aq.place([{ data: cmd(OP.DEV_MODE_SET, 1n, Uint8Array.of(DeviceMode.ACTIVE)) }, { writable: 8 }]),
      aq.place([{ data: cmd(OP.DEV_MODE_GET, 1n) }, { writable: 16 }]),
    ];
    await pf.notify(aq);
    expect(await aq.waitUsed(5)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(aq.usedIdx()).toBe(5);
    const used = placed.map((_, i) => aq.usedElem(i));
    expect(used.map((u) => u.id)).toEqual(placed.map((p) => p.head));
    expect(result(aq, placed[2], used[2].len).result[0]).toBe(DeviceMode.STOP);
    expect(result(aq, placed[4], used[4].len).result[0]).toBe(DeviceMode.ACTIVE);
  });

  it('sends the queue vector as an MSI-X event on completion, and none with VIRTQ_AVAIL_F_NO_INTERRUPT', async () => {
    const rig = await adminRig({ msix: true });
    const { b, pf, aq } = rig;
    b.pfIrq.take();
    aq.place([{ data: cmd(OP.LIST_QUERY) }, { writable: 16 }]);
    await pf.notify(aq);
    expect(await b.pfIrq.wait(2000)).toBe(true);
    expect(b.pfIrq.take().map((e) => e.vector)).toEqual([1]);
    aq.setAvail(AvailOff.FLAGS, VIRTQ_AVAIL_F_NO_INTERRUPT);
    aq.place([{ data: cmd(OP.LIST_QUERY) }, { writable: 16 }]);
    await pf.notify(aq);
    expect(await aq.waitUsed(2)).toBe(true);
    expect(await b.pfIrq.wait(30)).toBe(false);
  });

  it('without MSI-X sets ISR bit 0 and asserts INTx; reading the ISR clears it', async () => {
    const rig = await adminRig();
    const { b, pf, aq } = rig;
    b.pfIrq.take();
    aq.place([{ data: cmd(OP.LIST_QUERY) }, { writable: 16 }]);
    await pf.notify(aq);
    expect(await b.pfIrq.wait(2000)).toBe(true);
    expect(b.pfIrq.take().map((e) => e.vector)).toEqual(['intx']);
    const isr = () => b.pf.barRead(pf.layout.isr.bar, pf.layout.isr.offset, 1);
    expect(await isr()).toBe(1);
    expect(await isr()).toBe(0);
  });

  it('logs every device access to the rings and buffers, in one order with the interrupt', async () => {
    const rig = await adminRig({ msix: true });
    const { b, pf, aq } = rig;
    b.pfDma.takeAccessLog();
    b.pfIrq.take();
    const p = aq.place([{ data: cmd(OP.LIST_QUERY) }, { writable: 16 }]);
    await pf.notify(aq);
    expect(await b.pfIrq.wait(2000)).toBe(true);
    const log = b.pfDma.takeAccessLog();
    const irq = b.pfIrq.take();
    expect(log.some((a) => a.kind === 'write' && a.addr === p.writable[0].addr && a.len === 16)).toBe(true);
    const usedIdxWrite = log.findLast((a) => a.kind === 'write' && a.addr === aq.used + 2n)!;
    expect(usedIdxWrite).toBeDefined();
    expect(irq[0].seq).toBeGreaterThan(usedIdxWrite.seq);
    expect(log.every((a, i) => i === 0 || a.seq > log[i - 1].seq)).toBe(true);
  });

  it.each([
    ['a chain that loops', (q: TinyQueue) => {
      // Two writable descriptors pointing at each other: the order rule holds, only the loop is wrong.
      const p = q.place([{ data: cmd(OP.LIST_QUERY) }, { writable: 8 }, { writable: 8 }], { publish: false });
      const d = q.dma.read(q.desc + BigInt(16 * (p.head + 2)), 16);
      const addr = new DataView(d.buffer).getBigUint64(0, true);
      q.writeDesc(p.head + 2, { addr, len: 8, flags: VirtqDescFlags.WRITE | VirtqDescFlags.NEXT, next: p.head + 1 });
      q.publish(p.head);
    }, /loops/],
    ['a readable descriptor after a writable one', (q: TinyQueue) => {
      q.place([{ writable: 16 }, { data: cmd(OP.LIST_QUERY) }]);
    }, /device-readable descriptor after a device-writable one/],
    ['a next index past the queue', (q: TinyQueue) => {
      const p = q.place([{ data: cmd(OP.LIST_QUERY) }, { writable: 16 }], { publish: false });
      const d = q.dma.read(q.desc + BigInt(16 * p.head), 16);
      const addr = new DataView(d.buffer).getBigUint64(0, true);
      q.writeDesc(p.head, { addr, len: 24, flags: VirtqDescFlags.NEXT, next: q.size + 3 });
      q.publish(p.head);
    }, /descriptor index 19 outside a queue of 16/],
  ])('%s: DEVICE_NEEDS_RESET with a configuration change notification, nothing completed; a reset recovers', async (_what, build, why) => {
    const rig = await adminRig({ msix: true });
    const { b, pf, aq } = rig;
    b.pfIrq.take();
    build(aq);
    await pf.notify(aq);
    expect(await b.pfIrq.wait(2000)).toBe(true);
    expect(b.pfIrq.take().map((e) => e.vector)).toEqual([0]); // the config vector
    expect((await pf.cfgRead('DEVICE_STATUS')) & DeviceStatus.DEVICE_NEEDS_RESET).toBe(DeviceStatus.DEVICE_NEEDS_RESET);
    expect(b.pfModel.lastError).toMatch(why);
    expect(aq.usedIdx()).toBe(0);
    // Further commands are not processed until the driver resets the device.
    aq.place([{ data: cmd(OP.LIST_QUERY) }, { writable: 16 }]);
    await pf.notify(aq);
    expect(await aq.waitUsed(1, 50)).toBe(false);
    await pf.cfgWrite('DEVICE_STATUS', 0);
    expect(await pf.waitStatus((s) => s === 0)).toBe(0);
  });

  it('a device reset drops a command still executing: no used element, no DMA after the reset reads 0', async () => {
    const rig = await adminRig({ mutant: 'hang-on-mode-set' });
    const { b, pf, aq } = rig;
    const all = IN_USE;
    aq.place([{ data: cmd(OP.LIST_USE, 0n, all) }, { writable: 8 }]);
    await pf.notify(aq);
    expect(await aq.waitUsed(1)).toBe(true);
    aq.place([{ data: cmd(OP.DEV_MODE_SET, 1n, Uint8Array.of(DeviceMode.STOP)) }, { writable: 8 }]);
    await pf.notify(aq);
    expect(await aq.waitUsed(2, 50)).toBe(false);
    await pf.cfgWrite('DEVICE_STATUS', 0);
    expect(await pf.waitStatus((s) => s === 0)).toBe(0);
    b.pfDma.takeAccessLog();
    await new Promise((r) => setTimeout(r, 30));
    expect(b.pfDma.takeAccessLog()).toEqual([]);
    expect(aq.usedIdx()).toBe(1);
  });
});

describe('admin-queue engine against garbage rings', () => {
  it('any descriptor table and available ring: the device completes every chain or sets DEVICE_NEEDS_RESET, and never faults', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            buf: fc.nat(3),
            len: fc.oneof(fc.nat(64), fc.constantFrom(0xffffffff, MAX_CHAIN_BYTES + 1)),
            flags: fc.nat(7),
            next: fc.nat(20),
          }),
          { minLength: 16, maxLength: 16 },
        ),
        fc.array(fc.nat(20), { minLength: 1, maxLength: 4 }),
        async (descs, heads) => {
          const rig = await adminRig({ queueSize: 16 });
          const { b, pf, aq } = rig;
          const bufs = [0, 1, 2, 3].map(() => aq.dma.alloc(64, 8));
          aq.dma.write(bufs[0], cmd(OP.LIST_QUERY));
          descs.forEach((d, i) => aq.writeDesc(i, { addr: bufs[d.buf], len: d.len, flags: d.flags, next: d.next }));
          for (const h of heads) aq.publish(h);
          await pf.notify(aq);
          const end = Date.now() + 500;
          let status = 0;
          while (Date.now() < end) {
            status = await pf.cfgRead('DEVICE_STATUS');
            if (status & DeviceStatus.DEVICE_NEEDS_RESET || aq.usedIdx() === heads.length) break;
            await new Promise((r) => setTimeout(r, 2));
          }
          expect(b.faults).toEqual([]);
          expect(status & DeviceStatus.DEVICE_NEEDS_RESET || aq.usedIdx() === heads.length).toBeTruthy();
          for (let i = 0; i < aq.usedIdx(); i++) expect(aq.usedElem(i).len).toBeLessThanOrEqual(MAX_CHAIN_BYTES);
          await closeOpened();
        },
      ),
      { numRuns: 60, seed: 5 },
    );
  });
});
