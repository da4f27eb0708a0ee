import { describe, expect, it } from 'vitest';
import { GuestDriver } from '../../harness/guest/guest-driver.ts';
import { blkRead } from '../../harness/guest/block-guest.ts';
import type { VirtioAdminCmdWriteRecordStartData } from '../../protocol/commands.ts';
import { DeviceMode, expectEinval, expectOk, Qualifier, rig, type Rig } from './helpers.ts';

const PAGE = 4096n;
const BASE = 0x2_0000_0000n;

function start(entries: [bigint, bigint][], pageSize = PAGE, count?: number): VirtioAdminCmdWriteRecordStartData {
  return { pageSize, count, entries: entries.map(([pageAddress, pageCount]) => ({ pageAddress, pageCount })) };
}

/** Member 1 with a driver and recording started over its whole arena. */
async function recording(): Promise<Rig & { drv: GuestDriver; base: bigint; len: bigint }> {
  const r = await rig();
  const drv = await new GuestDriver(r.port(1)).init({ queues: 1, queueSize: 16 });
  const base = drv.arena.base;
  const len = BigInt(drv.arena.size);
  await r.admin.recordsStartOk(1, start([[base, len / PAGE]]));
  return { ...r, drv, base, len };
}

/** A block READ request: the device writes the data buffer, the status byte and the used ring. Returns the data buffer's page. */
async function deviceWrites(drv: GuestDriver, sectors = 1): Promise<bigint> {
  const req = drv.post(0, blkRead(0n, sectors));
  await drv.kick(0);
  expect((await drv.poll(0, 1)).length).toBe(1);
  return req.buffers[1].addr & ~(PAGE - 1n);
}

describe('DEV_WRITE_RECORD_CAP_QUERY (patch 7/8, SD17, E25, E26)', () => {
  it('reports the configured page sizes and ranges: at least one page size, non-zero ranges', async () => {
    const { admin } = await rig();
    const caps = await admin.capQueryOk(1);
    expect(caps).toEqual({ supportedPageSizeBitmap: 0b1 | (1 << 9), supportedRanges: 16 });
    expect(caps.supportedPageSizeBitmap).not.toBe(0);
    expect(caps.supportedRanges).toBeGreaterThan(0);
  });

  it('reflects device options', async () => {
    const { admin } = await rig({ writeRecordCaps: { pageSizeBitmap: 0b110, supportedRanges: 3 } });
    expect(await admin.capQueryOk(2)).toEqual({ supportedPageSizeBitmap: 0b110, supportedRanges: 3 });
  });
});

describe('DEV_WRITE_RECORDS_START validation (E26, E27): INVALID_FIELD and no side effects', () => {
  const bad: [string, VirtioAdminCmdWriteRecordStartData][] = [
    ['count 0', start([])],
    ['count above supported_ranges', start(Array.from({ length: 17 }, (_, i) => [BASE + BigInt(i) * PAGE, 1n] as [bigint, bigint]))],
    ['a page size not advertised (8 KiB)', start([[BASE, 1n]], 8192n)],
    ['a page size that is not a power-of-two multiple of 4 KiB', start([[BASE, 1n]], 12288n)],
    ['an address not aligned to the page size', start([[BASE + 512n, 1n]])],
    ['an address not aligned to a 2 MiB page size', start([[BASE + PAGE, 1n]], 2n << 20n)],
    ['page_count 0', start([[BASE, 0n]])],
    ['overlapping ranges', start([[BASE, 4n], [BASE + 3n * PAGE, 2n]])],
    ['the same range twice', start([[BASE, 1n], [BASE, 1n]])],
    ['a range past the end of the 64-bit address space', start([[0xffff_ffff_ffff_f000n, 2n]])],
  ];
  for (const [what, data] of bad) {
    it(what, async () => {
      const { admin } = await rig();
      expectEinval(await admin.recordsStart(1, data), Qualifier.INVALID_FIELD);
      // Not started: READ is refused (SD18), STOP succeeds.
      expectEinval(await admin.recordsRead(1, BASE, PAGE), Qualifier.INVALID_COMMAND);
    });
  }

  it('adjacent ranges, and as many as supported_ranges, are accepted', async () => {
    const { admin } = await rig();
    await admin.recordsStartOk(1, start(Array.from({ length: 16 }, (_, i) => [BASE + BigInt(i) * PAGE, 1n] as [bigint, bigint])));
  });

  it('a second START while recording is refused and the first recording goes on', async () => {
    const r = await recording();
    expectEinval(await r.admin.recordsStart(1, start([[BASE, 1n]])), Qualifier.INVALID_COMMAND);
    const page = await deviceWrites(r.drv);
    expect(await r.admin.drainRecords(1, r.base, r.len)).toContain(page);
  });

  it('recording is per member', async () => {
    const { admin } = await rig();
    await admin.recordsStartOk(1, start([[BASE, 1n]]));
    expectEinval(await admin.recordsRead(2, BASE, PAGE), Qualifier.INVALID_COMMAND);
  });
});

describe('DEV_WRITE_RECORDS_STOP / READ (SD18, SD19, SD21, E28, E29)', () => {
  it('READ before START is refused (SD18)', async () => {
    const { admin } = await rig();
    expectEinval(await admin.recordsRead(1, BASE, PAGE), Qualifier.INVALID_COMMAND);
  });

  it('READ after STOP is refused (SD18, E29)', async () => {
    const r = await recording();
    await deviceWrites(r.drv);
    await r.admin.recordsStopOk(1);
    expectEinval(await r.admin.recordsRead(1, r.base, r.len), Qualifier.INVALID_COMMAND);
  });

  it('STOP without START, and STOP twice, succeed (SD19)', async () => {
    const { admin } = await rig();
    expectOk(await admin.recordsStop(1));
    await admin.recordsStartOk(1, start([[BASE, 1n]]));
    expectOk(await admin.recordsStop(1));
    expectOk(await admin.recordsStop(1));
  });

  it('START after STOP starts afresh', async () => {
    const r = await recording();
    await deviceWrites(r.drv);
    await r.admin.recordsStopOk(1);
    await r.admin.recordsStartOk(1, start([[r.base, r.len / PAGE]]));
    expect(await r.admin.drainRecords(1, r.base, r.len)).toEqual([]);
  });

  it('records are the pages the device wrote, ascending and page aligned', async () => {
    const r = await recording();
    const page = await deviceWrites(r.drv, 24);
    const got = await r.admin.drainRecords(1, r.base, r.len);
    expect(got).toContain(page);
    expect(got.length).toBeGreaterThanOrEqual(3);
    expect(got.every((a) => a % PAGE === 0n)).toBe(true);
    expect([...got].sort((a, b) => (a < b ? -1 : 1))).toEqual(got);
  });

  it('every page written by the device in the range is reported (checked against the DMA log)', async () => {
    const r = await recording();
    r.port(1).takeDmaLog();
    await deviceWrites(r.drv, 24);
    const written = new Set<bigint>();
    for (const a of r.port(1).takeDmaLog()) {
      if (a.kind !== 'write') continue;
      for (let p = a.addr & ~(PAGE - 1n); p < a.addr + BigInt(a.len); p += PAGE) written.add(p);
    }
    expect(new Set(await r.admin.drainRecords(1, r.base, r.len))).toEqual(written);
  });

  it('READ clears what it returns; a page written again is reported again (SD21)', async () => {
    const r = await recording();
    const page = await deviceWrites(r.drv);
    expect(await r.admin.drainRecords(1, r.base, r.len)).toContain(page);
    expect(await r.admin.recordsReadOk(1, r.base, r.len)).toEqual([]);
    const again = await deviceWrites(r.drv);
    expect(await r.admin.drainRecords(1, r.base, r.len)).toContain(again);
  });

  it('READ with a small result buffer returns what fits and keeps the rest (E28)', async () => {
    const r = await recording();
    await deviceWrites(r.drv, 24); // 12 KiB of data: several pages
    const total = r.member(1).recorder.pendingCount;
    expect(total).toBeGreaterThanOrEqual(3);
    const first = await r.admin.recordsReadOk(1, r.base, r.len, 8);
    expect(first.length).toBe(1);
    expect(r.member(1).recorder.pendingCount).toBe(total - 1);
    const rest = await r.admin.drainRecords(1, r.base, r.len, 8);
    expect(rest.length).toBe(total - 1);
    expect(rest).not.toContain(first[0]);
  });

  it('a result buffer of 0 bytes returns no record and clears none', async () => {
    const r = await recording();
    await deviceWrites(r.drv);
    const total = r.member(1).recorder.pendingCount;
    const res = await r.admin.recordsRead(1, r.base, r.len, 0);
    expectOk(res);
    expect(new DataView(res.output.buffer).getUint32(0, true)).toBe(0);
    expect(r.member(1).recorder.pendingCount).toBe(total);
  });

  it('READ of a sub-range returns only its pages', async () => {
    const r = await recording();
    const page = await deviceWrites(r.drv);
    const got = await r.admin.drainRecords(1, page, PAGE);
    expect(got).toEqual([page]);
    expect(await r.admin.drainRecords(1, r.base, r.len)).not.toContain(page);
  });

  it('READ arguments: length not a multiple of the page size, unaligned address, or outside the started ranges fail with INVALID_FIELD', async () => {
    const r = await recording();
    expectEinval(await r.admin.recordsRead(1, r.base, 100n), Qualifier.INVALID_FIELD);
    expectEinval(await r.admin.recordsRead(1, r.base, 0n), Qualifier.INVALID_FIELD);
    expectEinval(await r.admin.recordsRead(1, r.base + 8n, PAGE), Qualifier.INVALID_FIELD);
    expectEinval(await r.admin.recordsRead(1, r.base + r.len, PAGE), Qualifier.INVALID_FIELD);
  });

  it('device writes outside the started ranges are never reported', async () => {
    const r = await rig();
    const drv = await new GuestDriver(r.port(1)).init({ queues: 1, queueSize: 16 });
    // One page far away from the arena.
    await r.admin.recordsStartOk(1, start([[BASE, 1n]]));
    await deviceWrites(drv);
    expect(r.member(1).recorder.pendingCount).toBe(0);
    expect(await r.admin.drainRecords(1, BASE, PAGE)).toEqual([]);
  });

  it('in Stop the device writes nothing, so nothing is recorded; READ still works; the writes come in Active', async () => {
    const r = await recording();
    await r.admin.modeSetOk(1, DeviceMode.STOP);
    r.drv.post(0, blkRead(0n, 1));
    await r.drv.kick(0);
    expect(r.member(1).recorder.pendingCount).toBe(0);
    expectOk(await r.admin.recordsRead(1, r.base, r.len));
    await r.admin.modeSetOk(1, DeviceMode.ACTIVE);
    await r.drv.poll(0, 1);
    expect(r.member(1).recorder.pendingCount).toBeGreaterThan(0);
  });
});
