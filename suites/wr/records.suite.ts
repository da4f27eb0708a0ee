/**
 * Write records of device writes (patches 6-8; SD20, SD21; E28, E29, E36). A block guest makes the
 * member write buffers the suite placed in chosen pages of its own region (recording-helpers.ts);
 * with DMA observation the pages the device wrote are known exactly, otherwise from the buffers.
 *
 * Region layout, in pages of the START page size P (page i at region + i * P): page 0 is never
 * recorded (status bytes live in its first half); the tests start ranges on pages 1 to 7.
 */
import { DecodeError } from '../../protocol/decode-error.ts';
import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { GuestDriver } from '../../harness/guest/guest-driver.ts';
import { Status } from '../../protocol/status.ts';
import { decodeWriteRecordsReadResult, DeviceMode, recordsCapacity } from '../../protocol/commands.ts';
import {
  describeRange,
  DeviceWriter,
  drain,
  drainAll,
  hex,
  inRange,
  listPages,
  oneRecordCapacity,
  type Placed,
  type Range,
  readOnce,
  recordingCaps,
} from './recording-helpers.ts';

const IN_RANGE = 'wr.start-records-writes-in-range';
const PAGE_ADDR = 'wr.record-is-page-address';
const READ_RANGE = 'wr.read-returns-records-in-range';

/** A 512-byte buffer in the middle of page `i`. */
function mid(w: DeviceWriter, i: number, pageSize: bigint): Placed {
  return { addr: w.page(i, pageSize) + pageSize / 2n, len: 512 };
}

/** The records of one drain, checked against its READ range, the page size and what the device may have written. */
function checkRecords(t: ConformanceContext, records: readonly bigint[], range: Range, pageSize: bigint, may: (p: bigint) => boolean, reqs: { inRange?: boolean; pageAddr?: boolean }): void {
  const outside = records.filter((p) => !inRange(p, range, pageSize));
  if (reqs.inRange) t.check(READ_RANGE, outside.length === 0, `WRITE_RECORDS_READ of ${describeRange(range, pageSize)} returned records outside it: ${listPages(outside)}`);
  if (!reqs.pageAddr) return;
  const unaligned = records.filter((p) => p % pageSize !== 0n);
  t.check(PAGE_ADDR, unaligned.length === 0, `records that are not ${pageSize}-byte page addresses (page_size of START): ${listPages(unaligned)}`);
  const notWritten = records.filter((p) => p % pageSize === 0n && inRange(p, range, pageSize) && !may(p));
  t.check(PAGE_ADDR, notWritten.length === 0, `records of pages the device did not write: ${listPages(notWritten)}`);
}

conformanceTest(
  {
    id: 'wr.records-device-writes',
    title: 'Every page the device writes inside a started range (buffers, ring) is recorded as its page address, and READ returns nothing outside its range; for the smallest and the largest advertised page size up to 2 MiB',
    requirements: ['wr.start-records-writes-in-range', 'wr.record-is-page-address', 'wr.read-returns-records-in-range'],
    commandSets: ['write-record'],
    needs: ['member-port'],
  },
  async (t) => {
    const { sizes } = await recordingCaps(t);
    let drv: DeviceWriter['drv'] | undefined;
    for (const P of sizes) {
      const w = await DeviceWriter.open(t, P, drv);
      drv = w.drv;
      const pg = (i: number) => w.page(i, P);
      const q = w.drv.queues[0];
      const ranges: Range[] = [
        { start: pg(1), pages: 3n },
        { start: pg(5), pages: 1n },
      ];
      // The page holding the used ring: ring writes are recorded too (E36).
      const usedPage = q.device - (q.device % P);
      if (usedPage + P <= w.regionStart || usedPage >= w.regionEnd) ranges.push({ start: usedPage, pages: 1n });
      else t.finding(`the used ring shares a ${P}-byte page with the suite's region: ring writes not checked`);
      await t.admin.recordsStartOk(t.src, { pageSize: P, entries: ranges.map((r) => ({ pageAddress: r.start, pageCount: r.pages })) });
      w.mark();
      await w.write([
        { addr: pg(1) - 512n, len: 1024 }, // straddles pages 0 (outside) and 1 (first page of A)
        { addr: pg(4) - 512n, len: 512 }, // the last bytes of page 3, the last page of A
        { addr: pg(4) + 1024n, len: 512 }, // page 4, between A and B
        { addr: pg(5) + P / 2n, len: 512 }, // page 5, B
        { addr: pg(6), len: 512 }, // page 6, after B
      ]);
      const { must, may } = w.bounds(ranges, P);
      const got = await drainAll(t, ranges, P);
      await t.admin.recordsStopOk(t.src);
      ranges.forEach((r, i) => checkRecords(t, got[i], r, P, may, { inRange: true, pageAddr: true }));
      const all = new Set(got.flat());
      const missing = [...must].filter((p) => !all.has(p));
      t.check(IN_RANGE, missing.length === 0, `page size ${P}: pages the device wrote inside started ranges have no record: ${listPages(missing)} (ranges ${ranges.map((r) => describeRange(r, P)).join(', ')}${w.exact ? '; writes from the DMA log' : '; writes from the completed requests'})`);
    }
  },
);

conformanceTest(
  {
    id: 'wr.read-sub-range',
    title: 'A WRITE_RECORDS_READ of part of a started range returns only records of that part',
    requirements: ['wr.read-returns-records-in-range'],
    commandSets: ['write-record'],
    needs: ['member-port'],
  },
  async (t) => {
    const { sizes } = await recordingCaps(t);
    const P = sizes[0];
    const w = await DeviceWriter.open(t, P);
    const A: Range = { start: w.page(1, P), pages: 3n };
    await t.admin.recordsStartOk(t.src, { pageSize: P, entries: [{ pageAddress: A.start, pageCount: A.pages }] });
    w.mark();
    await w.write([mid(w, 1, P), mid(w, 3, P)]);
    const parts: Range[] = [
      { start: w.page(1, P), pages: 1n },
      { start: w.page(2, P), pages: 2n },
    ];
    const got: bigint[] = [];
    for (const part of parts) {
      const recs = await drain(t, part.start, part.pages * P);
      checkRecords(t, recs, part, P, () => true, { inRange: true });
      got.push(...recs);
    }
    got.push(...(await drain(t, A.start, A.pages * P)));
    await t.admin.recordsStopOk(t.src);
    if (!got.includes(w.page(1, P)) || !got.includes(w.page(3, P))) t.finding(`the records of pages ${hex(w.page(1, P))} and ${hex(w.page(3, P))}, both written, were not both returned: the sub-range check may be vacuous`);
  },
);

conformanceTest(
  {
    id: 'wr.read-count-in-output',
    title: 'WRITE_RECORDS_READ puts the number of records in command_specific_output and that many addresses at the start of command_specific_result',
    requirements: ['wr.read-count-in-output'],
    commandSets: ['write-record'],
    needs: ['member-port'],
  },
  async (t) => {
    const req = 'wr.read-count-in-output';
    const { sizes } = await recordingCaps(t);
    const P = sizes[0];
    const w = await DeviceWriter.open(t, P);
    const A: Range = { start: w.page(1, P), pages: 3n };
    await t.admin.recordsStartOk(t.src, { pageSize: P, entries: [{ pageAddress: A.start, pageCount: A.pages }] });
    w.mark();
    await w.write([mid(w, 1, P), mid(w, 3, P)]);
    const { must } = w.bounds([A], P);
    const capacity = 4096;
    const r = await t.admin.recordsRead(t.src, A.start, A.pages * P, capacity);
    t.requireOk(undefined, r, `DEV_WRITE_RECORDS_READ of ${describeRange(A, P)}`);
    let records: bigint[] = [];
    try {
      records = decodeWriteRecordsReadResult(r.output, r.result, t.wire);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      t.check(req, false, `the count does not match the addresses written (${t.wire.writeRecordsCount} count, ${r.result.length} result bytes written): ${e.message}`);
    }
    t.check(req, records.length <= recordsCapacity(capacity, t.wire), `count ${records.length} exceeds the ${recordsCapacity(capacity, t.wire)} records a ${capacity}-byte result holds`);
    // Addresses of written pages in the result that the count does not cover: the count is misplaced or short.
    const slots: bigint[] = [];
    const dv = new DataView(r.result.buffer, r.result.byteOffset, r.result.byteLength);
    for (let at = 0; at + 8 <= r.result.length; at += 8) slots.push(dv.getBigUint64(at, true));
    const stray = [...must].filter((p) => !records.includes(p) && slots.includes(p));
    t.check(req, stray.length === 0, `command_specific_result holds addresses of written pages (${listPages(stray)}) that the count (${records.length}, read from ${t.wire.writeRecordsCount}) does not cover`);
    await drain(t, A.start, A.pages * P);
    await t.admin.recordsStopOk(t.src);
  },
);

conformanceTest(
  {
    id: 'wr.read-clears-and-rewrite',
    title: 'Records a READ returned are not returned again without a new write; a page written again after its record was read is reported again',
    requirements: ['wr.read-clears-returned-records', 'wr.rewrite-reported-again'],
    commandSets: ['write-record'],
    needs: ['member-port'],
  },
  async (t) => {
    const { sizes } = await recordingCaps(t);
    const P = sizes[0];
    const w = await DeviceWriter.open(t, P);
    const A: Range = { start: w.page(1, P), pages: 3n };
    const len = A.pages * P;
    await t.admin.recordsStartOk(t.src, { pageSize: P, entries: [{ pageAddress: A.start, pageCount: A.pages }] });
    w.mark();
    await w.write([mid(w, 1, P), mid(w, 3, P)]);
    const first = await drain(t, A.start, len);
    w.mark();
    const second = await drain(t, A.start, len);
    const since = w.bounds([A], P).must; // device writes in A between the two reads (none expected)
    const again = second.filter((p) => first.includes(p) && !since.has(p));
    t.check('wr.read-clears-returned-records', again.length === 0, `records returned by one READ were returned again by the next, with no write in between: ${listPages(again)}`);
    const p1 = w.page(1, P);
    w.mark();
    await w.write([{ addr: p1 + 1024n, len: 512 }]);
    const third = await drain(t, A.start, len);
    await t.admin.recordsStopOk(t.src);
    if (!first.includes(p1)) {
      t.finding(`the first write to ${hex(p1)} was not recorded (see wr.start-records-writes-in-range): the re-report of a written page was not judged`);
      return;
    }
    t.check('wr.rewrite-reported-again', third.includes(p1), `page ${hex(p1)}, whose record was read, was written again and is not reported again (records: ${listPages(third)})`);
  },
);

conformanceTest(
  {
    id: 'wr.read-partial',
    title: 'A READ whose result holds one record returns one and keeps the rest for later READs',
    requirements: ['wr.read-partial-when-buffer-small'],
    commandSets: ['write-record'],
    needs: ['member-port'],
  },
  async (t) => {
    const req = 'wr.read-partial-when-buffer-small';
    const { sizes } = await recordingCaps(t);
    const P = sizes[0];
    const w = await DeviceWriter.open(t, P);
    // The same pattern twice: in A1 read with an ample buffer (what the device records for it), then in
    // A2 read one record at a time.
    const A1: Range = { start: w.page(1, P), pages: 3n };
    const A2: Range = { start: w.page(5, P), pages: 3n };
    const shift = 4n * P;
    await t.admin.recordsStartOk(t.src, { pageSize: P, entries: [A1, A2].map((r) => ({ pageAddress: r.start, pageCount: r.pages })) });
    w.mark();
    await w.write([mid(w, 1, P), mid(w, 2, P), mid(w, 3, P)]);
    const control = (await drain(t, A1.start, A1.pages * P)).filter((p) => inRange(p, A1, P));
    await w.write([mid(w, 5, P), mid(w, 6, P), mid(w, 7, P)]);
    const expected = [...new Set(control)].map((p) => p + shift);
    const cap = oneRecordCapacity(t);
    const a = await readOnce(t, A2.start, A2.pages * P, cap);
    const b = await readOnce(t, A2.start, A2.pages * P, cap);
    const rest = await drain(t, A2.start, A2.pages * P);
    await drainAll(t, [A1], P);
    await t.admin.recordsStopOk(t.src);
    if (expected.length < 2) return t.notTested(`the device recorded ${expected.length} of the 3 pages written in ${describeRange(A1, P)} (see wr.start-records-writes-in-range): a partial READ needs 2 or more pending records`);
    t.check(req, a.length === 1, `a READ with room for one record (${cap}-byte result), with ${expected.length} records pending, returned ${a.length}`);
    t.check(req, b.length === 1, `a second READ with room for one record, with ${expected.length - 1} records pending, returned ${b.length}`);
    const all = new Set([...a, ...b, ...rest]);
    const lost = expected.filter((p) => !all.has(p));
    t.check(req, lost.length === 0, `records that did not fit the one-record READs were lost: ${listPages(lost)} were never returned (the same writes in ${describeRange(A1, P)} were all reported by one READ)`);
    if (a.length === 1 && b.length === 1 && a[0] === b[0]) t.finding(`the record ${hex(a[0])} was returned by two READs in a row (see wr.read-clears-returned-records)`);
  },
);

conformanceTest(
  {
    id: 'wr.stop-ends-recording',
    title: 'Writes made after WRITE_RECORDS_STOP do not show up in the records of a later START of the same range',
    requirements: ['wr.stop-ends-recording'],
    commandSets: ['write-record'],
    needs: ['member-port'],
  },
  async (t) => {
    const { sizes } = await recordingCaps(t);
    const P = sizes[0];
    const w = await DeviceWriter.open(t, P);
    const A: Range = { start: w.page(1, P), pages: 3n };
    const start = () => t.admin.recordsStartOk(t.src, { pageSize: P, entries: [{ pageAddress: A.start, pageCount: A.pages }] });
    await start();
    await drain(t, A.start, A.pages * P);
    await t.admin.recordsStopOk(t.src);
    await w.write([mid(w, 1, P), mid(w, 3, P)]);
    await start();
    const got = await drain(t, A.start, A.pages * P);
    const written = [w.page(1, P), w.page(3, P)];
    const leaked = got.filter((p) => written.includes(p));
    t.check('wr.stop-ends-recording', leaked.length === 0, `writes made while recording was stopped show up after the next START: ${listPages(leaked)}`);
    // Control: the restarted recording does record.
    await w.write([mid(w, 2, P)]);
    const after = await drain(t, A.start, A.pages * P);
    await t.admin.recordsStopOk(t.src);
    if (!after.includes(w.page(2, P))) t.finding(`a write after the restart was not recorded either (${hex(w.page(2, P))}): the check may be vacuous`);
  },
);

conformanceTest(
  {
    id: 'wr.flr-keeps-recording-and-records',
    title: 'A member FLR neither clears the records gathered before it nor stops recording: writes after it are recorded',
    requirements: ['wr.flr-keeps-records', 'wr.flr-keeps-recording'],
    commandSets: ['write-record'],
    needs: ['member-port', 'flr'],
  },
  async (t) => {
    const { sizes } = await recordingCaps(t);
    const P = sizes[0];
    let w = await DeviceWriter.open(t, P);
    const port = t.port(t.src);
    // One page per phase: a control read before the FLR, records across the FLR, recording after it.
    const ranges: Range[] = [1, 3, 5].map((i) => ({ start: w.page(i, P), pages: 1n }));
    const [ctl, before, after] = ranges;
    await t.admin.recordsStartOk(t.src, { pageSize: P, entries: ranges.map((r) => ({ pageAddress: r.start, pageCount: r.pages })) });
    await w.write([mid(w, 1, P)]);
    const control = await drain(t, ctl.start, P);
    await w.write([mid(w, 3, P)]);
    await port.flr();
    const kept = await t.admin.recordsRead(t.src, before.start, P);
    if (kept.status === Status.OK) {
      const recs = decodeWriteRecordsReadResult(kept.output, kept.result, t.wire);
      if (recs.length >= recordsCapacity(4096, t.wire)) recs.push(...(await drain(t, before.start, P)));
      if (control.includes(ctl.start)) t.check('wr.flr-keeps-records', recs.includes(before.start), `the record of page ${hex(before.start)}, written before the FLR and not read, is gone after it`);
      else t.finding(`the control write to ${hex(ctl.start)} was not recorded (see wr.start-records-writes-in-range): records across the FLR not judged`);
    } else {
      t.check('wr.flr-keeps-records', false, `WRITE_RECORDS_READ after the FLR failed (status ${kept.status}): the records gathered before it cannot be read`);
      t.fail('wr.flr-keeps-recording', `WRITE_RECORDS_READ after the FLR failed (status ${kept.status}): the FLR stopped write recording`);
    }
    // The FLR reset the member: the guest initializes it again.
    w = w.withDriver(await new GuestDriver(port).init({ queues: 1, queueSize: 64 }));
    await w.write([mid(w, 5, P)]);
    const later = await drainAll(t, ranges, P);
    await t.admin.recordsStopOk(t.src);
    if (control.includes(ctl.start)) t.check('wr.flr-keeps-recording', later.flat().includes(after.start), `page ${hex(after.start)}, written after the FLR inside a started range, has no record`);
    else t.finding(`the control write to ${hex(ctl.start)} was not recorded: recording after the FLR not judged`);
  },
);

conformanceTest(
  {
    id: 'wr.records-writes-into-stop',
    title: 'Writes the member makes while MODE_SET Stop arrives (buffers and used ring) are recorded and read after Stop',
    requirements: ['wr.start-records-writes-in-range'],
    commandSets: ['write-record', 'context'],
    needs: ['member-port'],
  },
  async (t) => {
    const { sizes } = await recordingCaps(t);
    const P = sizes[0];
    const w = await DeviceWriter.open(t, P);
    const port = t.port(t.src);
    const q = w.drv.queues[0];
    const ranges: Range[] = [{ start: w.page(1, P), pages: 6n }];
    const usedPage = q.device - (q.device % P);
    if (usedPage + P <= w.regionStart || usedPage >= w.regionEnd) ranges.push({ start: usedPage, pages: 1n });
    await t.admin.recordsStartOk(t.src, { pageSize: P, entries: ranges.map((r) => ({ pageAddress: r.start, pageCount: r.pages })) });
    w.mark();
    // Request k writes 512 bytes at offset 1024 * floor(k / 6) of page 1 + k % 6.
    const spread = (from: number, n: number): Placed[] => Array.from({ length: n }, (_, i) => ({ addr: w.page(1 + ((from + i) % 6), P) + BigInt(Math.floor((from + i) / 6) * 1024), len: 512 }));
    w.post(spread(0, 6));
    await w.drv.kick(0);
    // The member works through the first requests (for the quiet period the transport declares) and
    // is notified of more right before MODE_SET Stop arrives.
    await port.settle(port.timing.quietMs);
    w.post(spread(6, 6));
    await w.drv.kick(0);
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    w.reap();
    const { must } = w.bounds(ranges, P);
    const got = new Set((await drainAll(t, ranges, P)).flat());
    await t.admin.recordsStopOk(t.src);
    const missing = [...must].filter((p) => !got.has(p));
    t.check(IN_RANGE, missing.length === 0, `pages written while the member went to Stop have no record read in Stop: ${listPages(missing)}${w.exact ? ' (from the DMA log)' : ' (completed requests)'}`);
    if (must.size === 0) t.finding('no request completed before MODE_SET Stop: the check is vacuous on this device');
  },
);

