import {
  decodeWriteRecordsReadData,
  decodeWriteRecordsStartData,
  encodeWriteRecordCapResult,
  encodeWriteRecordsReadResult,
  pageSizeBit,
  recordsCapacity,
} from '../../protocol/commands.ts';
import type { MemberCommand } from './handler.ts';
import { type AdminReply, badField, ok, refused } from './reply.ts';

const U64_END = 1n << 64n;

/** DEV_WRITE_RECORD_CAP_QUERY (SD17: at least one page size, non-zero ranges). */
export function capQuery({ writeRecordCaps }: MemberCommand): AdminReply {
  return ok({ result: encodeWriteRecordCapResult({ supportedPageSizeBitmap: writeRecordCaps.pageSizeBitmap, supportedRanges: writeRecordCaps.supportedRanges }) });
}

/**
 * DEV_WRITE_RECORDS_START with the E26/E27 readings: 1..supported_ranges entries, an advertised page
 * size, page-aligned addresses, non-empty and non-overlapping ranges (SR6 is the driver's duty; the
 * reference refuses a breach). A second START while recording is refused (unspecified, E27).
 */
export function start({ member, cmd, writeRecordCaps }: MemberCommand): AdminReply {
  if (member.recorder.active) return refused('write recording is already started');
  const d = decodeWriteRecordsStartData(cmd.data, writeRecordCaps.supportedRanges);
  if (d.count === 0) return badField('count is 0');
  if (d.count > writeRecordCaps.supportedRanges) return badField(`count ${d.count} exceeds supported_ranges ${writeRecordCaps.supportedRanges}`);
  const bit = pageSizeBit(d.pageSize);
  if (bit === undefined || !((writeRecordCaps.pageSizeBitmap >>> bit) & 1)) return badField(`page_size ${d.pageSize} is not an advertised page size`);
  const spans = d.entries.map((e, i) => ({ i, start: e.pageAddress, end: e.pageAddress + e.pageCount * d.pageSize, e }));
  for (const s of spans) {
    if (s.e.pageCount === 0n) return badField(`entry ${s.i}: page_count is 0`);
    if (s.start % d.pageSize !== 0n) return badField(`entry ${s.i}: page_address 0x${s.start.toString(16)} is not aligned to page_size`);
    if (s.end > U64_END) return badField(`entry ${s.i}: range runs past the 64-bit address space`);
  }
  spans.sort((a, b) => (a.start < b.start ? -1 : 1));
  for (let k = 1; k < spans.length; k++) {
    if (spans[k].start < spans[k - 1].end) return badField(`entries ${spans[k - 1].i} and ${spans[k].i} overlap`);
  }
  member.recorder.start(d.pageSize, d.entries);
  return ok();
}

/** DEV_WRITE_RECORDS_STOP: always succeeds (SD19); unread records are dropped (E29). */
export function stop({ member }: MemberCommand): AdminReply {
  member.recorder.stop();
  return ok();
}

/**
 * DEV_WRITE_RECORDS_READ: fails unless recording (SD18); length in bytes, a multiple of the started
 * page size, inside one started range (E28); returns as many records as fit and clears exactly those (SD21).
 */
export function readRecords({ member, cmd, resultCapacity, wire }: MemberCommand): AdminReply {
  const rec = member.recorder;
  if (!rec.active) return refused('write recording is not started');
  const { pageAddress, length } = decodeWriteRecordsReadData(cmd.data);
  if (length === 0n || length % rec.pageSize !== 0n) return badField(`length ${length} is not a non-zero multiple of page_size ${rec.pageSize}`);
  if (pageAddress % rec.pageSize !== 0n) return badField(`page_address 0x${pageAddress.toString(16)} is not aligned to page_size`);
  if (!rec.covers(pageAddress, length)) return badField('the range is not inside a started range');
  const records = rec.take(pageAddress, length, recordsCapacity(resultCapacity, wire));
  return ok(encodeWriteRecordsReadResult(records, wire));
}
