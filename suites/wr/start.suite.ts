/**
 * DEV_WRITE_RECORD_CAP_QUERY (SD17, E25, E26) and DEV_WRITE_RECORDS_START validation (E26, E27). These
 * tests need no device write: the ranges are addresses the member never touches.
 */
import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { decodeWriteRecordCapResult, pageSizeBit, pageSizesOf, type VirtioAdminCmdWriteRecordStartEntry } from '../../protocol/commands.ts';
import { Status } from '../../protocol/status.ts';
import { hex } from './recording-helpers.ts';

/** Where the START tests put their ranges: far above any guest memory, aligned to every page size up to 2^43. */
const FAR = 1n << 44n;
/** Most entries a START test sends (64 KiB of command data). */
const MAX_ENTRIES = 4096;

/** `n` one-page entries, two pages apart (unique, not overlapping). */
function entries(n: number, pageSize: bigint, base = FAR): VirtioAdminCmdWriteRecordStartEntry[] {
  return Array.from({ length: n }, (_, i) => ({ pageAddress: base + BigInt(i) * 2n * pageSize, pageCount: 1n }));
}

/** STOP after a START that completed OK (SR7: the driver stops what it started). */
async function stopIfStarted(t: ConformanceContext, status: number): Promise<void> {
  if (status === Status.OK) await t.admin.recordsStopOk(t.src);
}

conformanceTest(
  {
    id: 'wr.cap-query',
    title: 'DEV_WRITE_RECORD_CAP_QUERY completes with OK, with at least one page-size bit and a non-zero supported_ranges',
    requirements: ['wr.cap-page-size-bitmap-nonzero', 'wr.cap-supported-ranges-nonzero'],
    commandSets: ['write-record'],
  },
  async (t) => {
    const r = await t.admin.capQuery(t.src);
    t.requireOk(undefined, r, 'DEV_WRITE_RECORD_CAP_QUERY');
    const caps = decodeWriteRecordCapResult(r.result);
    t.check('wr.cap-page-size-bitmap-nonzero', caps.supportedPageSizeBitmap !== 0, 'supported_page_size_bitmap is 0: no page size is advertised');
    t.check('wr.cap-supported-ranges-nonzero', caps.supportedRanges !== 0, 'supported_ranges is 0');
  },
);

conformanceTest(
  {
    id: 'wr.start-every-advertised-page-size',
    title: 'A START with each advertised page size (bit n = 4096 << n bytes) and one aligned range completes with OK',
    requirements: ['wr.page-size-bit-encoding'],
    commandSets: ['write-record'],
  },
  async (t) => {
    const req = 'wr.page-size-bit-encoding';
    const caps = await t.admin.capQueryOk(t.src);
    const sizes = pageSizesOf(caps.supportedPageSizeBitmap);
    if (sizes.length === 0) return t.notApplicable('no page size is advertised (wr.cap-page-size-bitmap-nonzero)');
    for (const pageSize of sizes) {
      const r = await t.admin.recordsStart(t.src, { pageSize, entries: entries(1, pageSize, pageSize * 16n) });
      t.expectOk(req, r, `DEV_WRITE_RECORDS_START with page_size ${pageSize} (bit ${pageSizeBit(pageSize)}) and one range at ${hex(pageSize * 16n)}`);
      await stopIfStarted(t, r.status);
    }
  },
);

conformanceTest(
  {
    id: 'wr.start-unadvertised-page-size',
    title: 'A START whose page_size is not an advertised size fails',
    requirements: ['wr.start-unadvertised-page-size-fails'],
    commandSets: ['write-record'],
  },
  async (t) => {
    const req = 'wr.start-unadvertised-page-size-fails';
    const caps = await t.admin.capQueryOk(t.src);
    const candidates: bigint[] = [];
    for (let n = 0; n < 32; n++) {
      if (!((caps.supportedPageSizeBitmap >>> n) & 1)) {
        candidates.push(4096n << BigInt(n));
        break;
      }
    }
    // Not of the form 4096 << n at all: below the minimum, not a power of two, zero.
    candidates.push(2048n, 3n * 4096n, 0n);
    for (const pageSize of candidates) {
      const at = pageSize === 0n ? FAR : pageSize * 16n;
      const r = await t.admin.recordsStart(t.src, { pageSize, entries: [{ pageAddress: at, pageCount: 1n }] });
      t.expectRefused(req, r, `DEV_WRITE_RECORDS_START with page_size ${pageSize} (bitmap 0x${caps.supportedPageSizeBitmap.toString(16)}) and one range at ${hex(at)}`);
      await stopIfStarted(t, r.status);
    }
  },
);

conformanceTest(
  {
    id: 'wr.start-unaligned-address',
    title: 'A START with a range whose page_address is not a multiple of page_size fails',
    requirements: ['wr.start-unaligned-address-fails'],
    commandSets: ['write-record'],
  },
  async (t) => {
    const req = 'wr.start-unaligned-address-fails';
    const sizes = pageSizesOf((await t.admin.capQueryOk(t.src)).supportedPageSizeBitmap);
    if (sizes.length === 0) return t.notApplicable('no page size is advertised (wr.cap-page-size-bitmap-nonzero)');
    const probe = new Set<bigint>([sizes[0], sizes[sizes.length - 1]]);
    for (const pageSize of probe) {
      // Off by half a 4 KiB page; for larger pages also 4 KiB-aligned but not page-aligned.
      const offsets = pageSize > 4096n ? [2048n, 4096n] : [2048n];
      for (const off of offsets) {
        const at = FAR + off;
        const r = await t.admin.recordsStart(t.src, { pageSize, entries: [{ pageAddress: at, pageCount: 1n }] });
        t.expectRefused(req, r, `DEV_WRITE_RECORDS_START with page_size ${pageSize} and a range at ${hex(at)}`);
        await stopIfStarted(t, r.status);
      }
    }
  },
);

conformanceTest(
  {
    id: 'wr.start-up-to-supported-ranges',
    title: 'A START with one entry, and with supported_ranges entries (unique, not overlapping), completes with OK',
    requirements: ['wr.start-accepts-up-to-supported-ranges'],
    commandSets: ['write-record'],
  },
  async (t) => {
    const req = 'wr.start-accepts-up-to-supported-ranges';
    const caps = await t.admin.capQueryOk(t.src);
    const sizes = pageSizesOf(caps.supportedPageSizeBitmap);
    if (sizes.length === 0 || caps.supportedRanges === 0) return t.notApplicable('no page size or no range is advertised (SD17)');
    const most = Math.min(caps.supportedRanges, MAX_ENTRIES);
    if (most < caps.supportedRanges) t.finding(`supported_ranges is ${caps.supportedRanges}: START was tried with up to ${MAX_ENTRIES} entries`);
    for (const n of new Set([1, most])) {
      const r = await t.admin.recordsStart(t.src, { pageSize: sizes[0], entries: entries(n, sizes[0]) });
      t.expectOk(req, r, `DEV_WRITE_RECORDS_START with ${n} entr${n === 1 ? 'y' : 'ies'} (supported_ranges ${caps.supportedRanges})`);
      await stopIfStarted(t, r.status);
    }
  },
);

conformanceTest(
  {
    id: 'wr.start-over-supported-ranges',
    title: 'A START with supported_ranges + 1 entries fails',
    requirements: ['wr.start-over-supported-ranges-fails'],
    commandSets: ['write-record'],
  },
  async (t) => {
    const caps = await t.admin.capQueryOk(t.src);
    const sizes = pageSizesOf(caps.supportedPageSizeBitmap);
    if (sizes.length === 0) return t.notApplicable('no page size is advertised (SD17)');
    if (caps.supportedRanges >= MAX_ENTRIES) return t.notTested(`supported_ranges is ${caps.supportedRanges}: a START with more entries than that is not sent (at most ${MAX_ENTRIES})`);
    const n = caps.supportedRanges + 1;
    const r = await t.admin.recordsStart(t.src, { pageSize: sizes[0], entries: entries(n, sizes[0]) });
    t.should('wr.start-over-supported-ranges-fails', r.status !== Status.OK, `DEV_WRITE_RECORDS_START with ${n} entries (supported_ranges ${caps.supportedRanges}) completed with OK`);
    await stopIfStarted(t, r.status);
  },
);

conformanceTest(
  {
    id: 'wr.start-honours-count',
    title: 'START uses only the first count entries: an invalid entry after them is ignored',
    requirements: ['wr.start-uses-count-entries'],
    commandSets: ['write-record'],
  },
  async (t) => {
    const req = 'wr.start-uses-count-entries';
    const caps = await t.admin.capQueryOk(t.src);
    const sizes = pageSizesOf(caps.supportedPageSizeBitmap);
    if (sizes.length === 0) return t.notApplicable('no page size is advertised (SD17)');
    const pageSize = sizes[0];
    // count 1, then an entry-sized tail that would be refused as an entry (page_address not aligned).
    const valid = { pageAddress: FAR, pageCount: 1n };
    const invalid = { pageAddress: FAR + 4n * pageSize + 2048n, pageCount: 1n };
    const r = await t.admin.recordsStart(t.src, { pageSize, count: 1, entries: [valid, invalid] });
    t.expectOk(req, r, `DEV_WRITE_RECORDS_START with count 1 and, after the first entry, an unaligned one at ${hex(invalid.pageAddress)}`);
    await stopIfStarted(t, r.status);
  },
);
