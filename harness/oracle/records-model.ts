/**
 * The oracle's model of one member's write recording (patches 6-8) and the outcomes the draft allows
 * for CAP_QUERY, WRITE_RECORDS_START, STOP and READ. Readings taken (seed-errata.md):
 *
 * - E25: bit n of supported_page_size_bitmap is 4096 << n bytes. SD17: the bitmap and
 *   supported_ranges are non-zero.
 * - E26/E27: START with up to supported_ranges entries, an advertised page_size and aligned addresses
 *   succeeds; an unadvertised size or an unaligned address fails; more entries than supported_ranges
 *   should fail (SHOULD). count 0, zero-page entries, overlapping entries (a driver rule) and a second
 *   START while recording are unspecified: any answer, and after an accepted second START the oracle
 *   stops judging completeness until STOP.
 * - E28: READ length is in bytes, a multiple of the started page size, inside a started range;
 *   records are page-aligned addresses inside the READ range and inside a started range; a READ that
 *   returns fewer records than fit has returned every record of its range (the driver loops until a
 *   short answer); only returned records are cleared (SD21).
 * - E29/SD18/SD19: READ fails when recording is not started, after STOP as well; STOP always succeeds
 *   and drops unread records.
 * - E36: records are the bus addresses the member wrote, including ring writes; with the transport's
 *   DMA log every write is known (exact), so a record of a page the device never wrote (or one returned
 *   twice with no write between) is a violation; without it the oracle knows only the writes the suite
 *   caused and allows records of pages the device may have written.
 * - SD20: a member FLR neither stops recording nor clears records. A virtio reset of the member is not
 *   mentioned: after one, completeness is not judged until the next STOP.
 * - SD21: a page written again after its record was returned is reported again.
 */
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeWriteRecordCapResult, decodeWriteRecordsReadResult, pageSizesOf, recordsCapacity, type VirtioAdminCmdDevWriteRecordCapResult } from '../../protocol/commands.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import { type OracleSettings, preferredRefusal } from './context-model.ts';
import { type AdminCall, type Constraint, GroupCheck, mustFail, mustSucceed, onSuccess } from './types.ts';

type RecordsCall = Extract<AdminCall, { op: 'CAP_QUERY' | 'RECORDS_START' | 'RECORDS_STOP' | 'RECORDS_READ' }>;

interface PageMark {
  /** FLR epoch when the page was (last) written. */
  epoch: number;
  /** Written again after its record had been returned. */
  rewritten: boolean;
  /** A READ covering the page returned a full buffer (count == fit) since it was written. */
  truncatedSince: boolean;
}

interface Range {
  start: bigint;
  end: bigint;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

const recordsMemo = new WeakMap<AdminCommandResponse, bigint[] | string>();

/** The records a READ returned (E8 count placement per profile), or why they cannot be decoded. */
function recordsOf(o: AdminCommandResponse, wire: OracleSettings['wire']): bigint[] | string {
  const hit = recordsMemo.get(o);
  if (hit !== undefined) return hit;
  let v: bigint[] | string;
  try {
    v = decodeWriteRecordsReadResult(o.output, o.result, wire);
  } catch (e) {
    v = e instanceof DecodeError ? e.message : String(e);
  }
  recordsMemo.set(o, v);
  return v;
}

/** The rule a page missing from a complete READ answer breaks, from its history (SD20, SD21, E28). */
function lostCause(m: PageMark, flrEpoch: number, startEpoch: number): string {
  if (m.epoch < flrEpoch) return 'wr.flr-keeps-records';
  if (m.epoch > startEpoch) return 'wr.flr-keeps-recording';
  if (m.rewritten) return 'wr.rewrite-reported-again';
  if (m.truncatedSince) return 'wr.read-partial-when-buffer-small';
  return 'wr.start-records-writes-in-range';
}

export class RecordsModel {
  active = false;
  /** START was accepted at least once in this run (READ failures then break wr.read-after-stop-fails). */
  private everStarted = false;
  /** Completeness and spurious-record checks are off (an unspecified START was accepted, or a member reset). */
  uncertain = false;
  pageSize = 0n;
  ranges: Range[] = [];
  /** Pages written inside a started range whose record has not been returned. */
  private readonly must = new Map<bigint, PageMark>();
  /** Pages the device may have written (not exactly known). */
  private readonly may = new Set<bigint>();
  /** Pages whose record was returned and that were not written since. */
  private readonly returned = new Set<bigint>();
  private flrEpoch = 0;
  private startEpoch = 0;

  constructor(
    private readonly s: OracleSettings,
    /** Device-kind knowledge kept across runs: the CAP_QUERY answer. */
    readonly knowledge: { caps?: VirtioAdminCmdDevWriteRecordCapResult } = {},
    /** Every device write is reported to the oracle (the transport's DMA log). */
    readonly exact = false,
  ) {}

  fresh(): RecordsModel {
    return new RecordsModel(this.s, this.knowledge, this.exact);
  }

  /** Pages written in started ranges and not yet read (what a drain must return). */
  get unread(): bigint[] {
    return [...this.must.keys()];
  }

  private inRanges(p: bigint): boolean {
    return this.ranges.some((r) => p >= r.start && p < r.end);
  }

  /** Pages of [addr, addr+len) inside started ranges, at the started page size. */
  private pagesOf(addr: bigint, len: number): bigint[] {
    const out: bigint[] = [];
    if (len <= 0 || this.pageSize === 0n) return out;
    const end = addr + BigInt(len);
    for (const r of this.ranges) {
      if (end <= r.start || addr >= r.end) continue;
      const from = addr > r.start ? addr : r.start;
      const to = end < r.end ? end : r.end;
      for (let p = from - (from % this.pageSize); p < to; p += this.pageSize) out.push(p);
    }
    return out;
  }

  // ---- constraints ---------------------------------------------------------------------------------

  constraints(call: RecordsCall): Constraint[] {
    switch (call.op) {
      case 'CAP_QUERY':
        return [
          mustSucceed('wr.cap-page-size-bitmap-nonzero'),
          onSuccess('wr.cap-page-size-bitmap-nonzero', 'a bitmap with at least one bit set', (o) => {
            if (o.result.length < 8) return `${o.result.length}-byte result`;
            return decodeWriteRecordCapResult(o.result).supportedPageSizeBitmap ? undefined : 'bitmap 0';
          }),
          onSuccess('wr.cap-supported-ranges-nonzero', 'supported_ranges > 0', (o) => (o.result.length >= 8 && decodeWriteRecordCapResult(o.result).supportedRanges === 0 ? 'supported_ranges 0' : undefined)),
        ];
      case 'RECORDS_START':
        return this.startConstraints(call);
      case 'RECORDS_STOP':
        return [mustSucceed('wr.stop-succeeds-when-not-recording')];
      case 'RECORDS_READ':
        return this.readConstraints(call);
    }
  }

  /** A START the draft says must succeed (E26/E27), judged before recording is active. */
  private startValid(call: Extract<RecordsCall, { op: 'RECORDS_START' }>): boolean {
    const caps = this.knowledge.caps;
    if (!caps || call.pageSize === 0n) return false;
    const count = call.count ?? call.entries.length;
    if (count === 0 || count !== call.entries.length || count > caps.supportedRanges) return false;
    if (!pageSizesOf(caps.supportedPageSizeBitmap).includes(call.pageSize)) return false;
    const spans = call.entries.map((e) => ({ start: e.pageAddress, end: e.pageAddress + e.pageCount * call.pageSize, bad: e.pageCount === 0n || e.pageAddress % call.pageSize !== 0n }));
    if (spans.some((x) => x.bad)) return false;
    spans.sort((x, y) => (x.start < y.start ? -1 : 1));
    return spans.every((x, i) => i === 0 || x.start >= spans[i - 1].end);
  }

  private startConstraints(call: Extract<RecordsCall, { op: 'RECORDS_START' }>): Constraint[] {
    const caps = this.knowledge.caps;
    if (this.active || !caps) return [];
    const count = call.count ?? call.entries.length;
    const out: Constraint[] = [];
    const sizes = pageSizesOf(caps.supportedPageSizeBitmap);
    const advertised = sizes.includes(call.pageSize);
    if (!advertised) out.push(mustFail('wr.start-unadvertised-page-size-fails'), preferredRefusal('wr.start-unadvertised-page-size-fails', this.s.settings, [Qualifier.INVALID_FIELD]));
    if (call.pageSize > 0n && call.entries.slice(0, count).some((e) => e.pageAddress % call.pageSize !== 0n)) {
      out.push(mustFail('wr.start-unaligned-address-fails'), preferredRefusal('wr.start-unaligned-address-fails', this.s.settings, [Qualifier.INVALID_FIELD]));
    }
    if (count > caps.supportedRanges) out.push(mustFail('wr.start-over-supported-ranges-fails', 'warn'));
    if (out.length) return out;
    const entries = call.entries.slice(0, count);
    const spans = entries.map((e) => ({ start: e.pageAddress, end: e.pageAddress + e.pageCount * call.pageSize })).sort((a, b) => (a.start < b.start ? -1 : 1));
    const unspecified = count === 0 || count !== call.entries.length || entries.some((e) => e.pageCount === 0n) || spans.some((s, i) => i > 0 && s.start < spans[i - 1].end);
    if (unspecified) return [];
    return [mustSucceed(call.pageSize === 4096n ? 'wr.start-accepts-up-to-supported-ranges' : 'wr.page-size-bit-encoding')];
  }

  private readConstraints(call: Extract<RecordsCall, { op: 'RECORDS_READ' }>): Constraint[] {
    if (!this.active) {
      const rule = this.everStarted ? 'wr.read-after-stop-fails' : 'wr.read-fails-when-not-started';
      return [mustFail(rule), preferredRefusal(rule, this.s.settings)];
    }
    const { pageAddress: a, length, capacity } = call;
    const end = a + length;
    const ps = this.pageSize;
    const fit = recordsCapacity(capacity, this.s.wire);
    const valid = length > 0n && length % ps === 0n && a % ps === 0n && this.ranges.some((r) => a >= r.start && end <= r.end);
    const wire = this.s.wire;
    const out: Constraint[] = [];
    if (valid) out.push(mustSucceed('wr.start-records-writes-in-range'));
    out.push(
      onSuccess('wr.read-count-in-output', `count <= ${fit} with that many le64 addresses`, (o) => {
        const r = recordsOf(o, wire);
        if (typeof r === 'string') return r;
        return r.length <= fit ? undefined : `count ${r.length}`;
      }),
      onSuccess('wr.record-is-page-address', `addresses aligned to page_size ${ps}`, (o) => {
        const r = recordsOf(o, wire);
        if (typeof r === 'string') return undefined;
        const bad = r.find((x) => x % ps !== 0n);
        return bad === undefined ? undefined : `record ${hex(bad)}`;
      }),
      onSuccess('wr.read-returns-records-in-range', `records inside ${hex(a)}..${hex(end)} and inside a started range`, (o) => {
        const r = recordsOf(o, wire);
        if (typeof r === 'string') return undefined;
        const bad = r.find((x) => x < a || x >= end || !this.inRanges(x));
        return bad === undefined ? undefined : `record ${hex(bad)}`;
      }),
    );
    if (this.uncertain || !valid) return out;
    // Evaluated before the model takes the outcome (Oracle.observe), so the live sets are safe to close over.
    const must = this.must;
    const may = this.may;
    const returned = this.returned;
    if (this.exact) {
      out.push(
        onSuccess('wr.read-clears-returned-records', 'no record returned before and not written since', (o) => {
          const r = recordsOf(o, wire);
          if (typeof r === 'string') return undefined;
          const seen = new Set<bigint>();
          for (const x of r) {
            if (seen.has(x) || (returned.has(x) && !must.has(x) && !may.has(x))) return `record ${hex(x)} again`;
            seen.add(x);
          }
          return undefined;
        }),
        onSuccess('wr.record-is-page-address', 'records only of pages the device wrote (DMA log)', (o) => {
          const r = recordsOf(o, wire);
          if (typeof r === 'string') return undefined;
          const bad = r.find((x) => x % ps === 0n && x >= a && x < end && this.inRanges(x) && !must.has(x) && !may.has(x) && !returned.has(x));
          return bad === undefined ? undefined : `record ${hex(bad)}, a page the device did not write`;
        }),
      );
    }
    // A short answer returned everything of its range: every page written there must be in it.
    const flrEpoch = this.flrEpoch;
    const startEpoch = this.startEpoch;
    out.push(
      new GroupCheck('wr.start-records-writes-in-range', `every page written in the range since its last record (count < ${fit} means nothing is left)`, (o) => {
        const r = recordsOf(o, wire);
        if (typeof r === 'string' || r.length >= fit) return [];
        const got = new Set(r);
        const byRule = new Map<string, bigint[]>();
        for (const [p, m] of must) {
          if (p < a || p >= end || got.has(p)) continue;
          const rule = lostCause(m, flrEpoch, startEpoch);
          byRule.set(rule, [...(byRule.get(rule) ?? []), p]);
        }
        return [...byRule].map(([rule, miss]) => ({ rule, observed: `no record of ${miss.slice(0, 4).map(hex).join(', ')}${miss.length > 4 ? ` and ${miss.length - 4} more` : ''}` }));
      }),
    );
    return out;
  }

  // ---- applying an outcome -------------------------------------------------------------------------

  apply(call: RecordsCall, o: AdminCommandResponse): void {
    const ok = o.status === Status.OK;
    if (!ok) return;
    switch (call.op) {
      case 'CAP_QUERY':
        if (o.result.length >= 8) this.knowledge.caps ??= decodeWriteRecordCapResult(o.result);
        return;
      case 'RECORDS_START': {
        if (this.active) {
          this.uncertain = true;
          return;
        }
        const count = call.count ?? call.entries.length;
        // An invalid START that was accepted: which ranges the device uses is anyone's guess.
        const valid = this.startValid(call);
        this.active = true;
        this.everStarted = true;
        this.pageSize = call.pageSize;
        this.ranges = call.entries.slice(0, count).map((e) => ({ start: e.pageAddress, end: e.pageAddress + e.pageCount * call.pageSize }));
        this.must.clear();
        this.may.clear();
        this.returned.clear();
        this.startEpoch = this.flrEpoch;
        this.uncertain = !valid;
        return;
      }
      case 'RECORDS_STOP':
        this.active = false;
        this.uncertain = false;
        this.ranges = [];
        this.must.clear();
        this.may.clear();
        this.returned.clear();
        return;
      case 'RECORDS_READ': {
        if (!this.active) return;
        let r: bigint[];
        try {
          r = decodeWriteRecordsReadResult(o.output, o.result, this.s.wire);
        } catch {
          return;
        }
        for (const x of r) {
          this.must.delete(x);
          this.may.delete(x);
          this.returned.add(x);
        }
        if (r.length >= recordsCapacity(call.capacity, this.s.wire)) {
          const end = call.pageAddress + call.length;
          for (const [p, m] of this.must) if (p >= call.pageAddress && p < end) m.truncatedSince = true;
        }
        return;
      }
    }
  }

  // ---- member events -------------------------------------------------------------------------------

  /** The device wrote [addr, addr+len): a record is due for each started page it touched. */
  deviceWrite(addr: bigint, len: number): void {
    if (!this.active) return;
    for (const p of this.pagesOf(addr, len)) {
      const prev = this.must.get(p);
      this.must.set(p, { epoch: this.flrEpoch, rewritten: this.returned.has(p) || (prev?.rewritten ?? false), truncatedSince: false });
      this.returned.delete(p);
    }
  }

  /** The device may have written [addr, addr+len) (not observed): a record is allowed, not required. */
  mayWrite(addr: bigint, len: number): void {
    if (!this.active) return;
    for (const p of this.pagesOf(addr, len)) this.may.add(p);
  }

  flr(): void {
    this.flrEpoch++;
  }

  memberReset(): void {
    if (this.active) this.uncertain = true;
  }
}
