/**
 * WRITE_RECORDS_READ fails unless recording is started (SD18, E29) and WRITE_RECORDS_STOP always
 * succeeds (SD19). No device write is needed: the ranges are addresses the member never touches.
 */
import { conformanceTest } from '../../harness/ctest.ts';
import { pageSizesOf } from '../../protocol/commands.ts';
import { hex } from './recording-helpers.ts';

const FAR = 1n << 44n;

conformanceTest(
  {
    id: 'wr.read-before-start',
    title: 'WRITE_RECORDS_READ fails when write recording is not started for the member',
    requirements: ['wr.read-fails-when-not-started'],
    commandSets: ['write-record'],
  },
  async (t) => {
    // The baseline stopped recording on the member: nothing is started.
    const r = await t.admin.recordsRead(t.src, FAR, 4096n);
    t.expectRefused('wr.read-fails-when-not-started', r, `DEV_WRITE_RECORDS_READ of [${hex(FAR)}, +4096) with no recording started`);
  },
);

conformanceTest(
  {
    id: 'wr.read-after-stop',
    title: 'WRITE_RECORDS_READ of a range that was recorded fails once recording is stopped',
    requirements: ['wr.read-after-stop-fails'],
    commandSets: ['write-record'],
  },
  async (t) => {
    const sizes = pageSizesOf((await t.admin.capQueryOk(t.src)).supportedPageSizeBitmap);
    if (sizes.length === 0) return t.notApplicable('no page size is advertised (SD17)');
    const pageSize = sizes[0];
    await t.admin.recordsStartOk(t.src, { pageSize, entries: [{ pageAddress: FAR, pageCount: 4n }] });
    await t.admin.recordsStopOk(t.src);
    const r = await t.admin.recordsRead(t.src, FAR, 4n * pageSize);
    t.expectRefused('wr.read-after-stop-fails', r, `DEV_WRITE_RECORDS_READ of the range [${hex(FAR)}, +${4n * pageSize}) after WRITE_RECORDS_STOP`);
  },
);

conformanceTest(
  {
    id: 'wr.stop-when-not-recording',
    title: 'WRITE_RECORDS_STOP completes with OK when recording was never started, after a STOP, and twice in a row',
    requirements: ['wr.stop-succeeds-when-not-recording'],
    commandSets: ['write-record'],
  },
  async (t) => {
    const req = 'wr.stop-succeeds-when-not-recording';
    // The baseline's STOP already left the member not recording.
    t.expectOk(req, await t.admin.recordsStop(t.src), 'DEV_WRITE_RECORDS_STOP with recording not started');
    t.expectOk(req, await t.admin.recordsStop(t.src), 'DEV_WRITE_RECORDS_STOP right after another STOP');
    const sizes = pageSizesOf((await t.admin.capQueryOk(t.src)).supportedPageSizeBitmap);
    if (sizes.length === 0) return;
    await t.admin.recordsStartOk(t.src, { pageSize: sizes[0], entries: [{ pageAddress: FAR, pageCount: 1n }] });
    await t.admin.recordsStopOk(t.src);
    t.expectOk(req, await t.admin.recordsStop(t.src), 'DEV_WRITE_RECORDS_STOP after recording was stopped');
  },
);
