import { DecodeError } from '../../protocol/decode-error.ts';
import { DevCtxStreamParser, DevCtxType } from '../../protocol/device-context.ts';
import { CommonCfg, DeviceStatus } from '../../protocol/pci-common-cfg.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';

type Alignment = WireOptions['ctxStreamAlignment'];

/**
 * The context write stream of one member as the device received it: the bytes of the WRITEs it
 * accepted (padding included) since the last mode change, DISCARD or complete context. "Partial"
 * is E15's reading: bytes arrived but fewer complete fields than field_count. Bytes that cannot be a
 * context (a probe the device wrongly accepted) make the stream unknown until it is reset.
 */
export class WriteStreamTracker {
  private parser: DevCtxStreamParser;
  private accepted: Uint8Array[] = [];
  private malformed = false;

  constructor(private readonly alignment: Alignment) {
    this.parser = this.fresh();
  }

  private fresh(): DevCtxStreamParser {
    return new DevCtxStreamParser(this.alignment, { allowReservedTypes: true });
  }

  /** Bytes of a context have been accepted but not the whole context. */
  get partial(): boolean {
    return !this.malformed && !this.parser.empty && !this.parser.complete;
  }

  get bytesReceived(): number {
    return this.parser.bytesReceived;
  }

  /**
   * Whether the first `meant` bytes of the next chunk end the context in progress (undefined when the
   * stream cannot be judged). A chunk whose size is not a multiple of 8 is padded on the wire, which
   * is allowed only after the last byte of a context.
   */
  completedBy(chunk: Uint8Array, meant: number): boolean | undefined {
    if (this.malformed) return undefined;
    try {
      const p = this.fresh();
      for (const c of this.accepted) p.feed(c);
      p.feed(chunk.subarray(0, meant));
      return p.complete;
    } catch (e) {
      if (e instanceof DecodeError) return undefined;
      throw e;
    }
  }

  /**
   * A WRITE the device accepted: its data as the device received it. When it completes a context,
   * returns whether that context's PCI_COMMON_CFG has DRIVER_OK in device_status (undefined when it
   * has no such field): applied, it lets the member work again or keeps it reset.
   */
  accept(data: Uint8Array): { driverOk: boolean | undefined } | undefined {
    if (this.malformed) return undefined;
    try {
      this.parser.feed(data);
      this.accepted.push(data.slice());
      if (!this.parser.complete) return undefined;
      const common = this.parser.fields.find((f) => f.type === DevCtxType.PCI_COMMON_CFG);
      const at = CommonCfg.DEVICE_STATUS.offset;
      const driverOk = common && common.value.length > at ? (common.value[at] & DeviceStatus.DRIVER_OK) !== 0 : undefined;
      this.reset();
      return { driverOk };
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.malformed = true;
      return undefined;
    }
  }

  /** Mode change or DISCARD: nothing partial any more (a context completed before stays the device's business). */
  reset(): void {
    this.parser = this.fresh();
    this.accepted = [];
    this.malformed = false;
  }
}

/** [start, end) in bytes. */
export interface Span {
  start: bigint;
  end: bigint;
}

/** Whether the union of `parts` covers `whole`. */
export function covers(parts: readonly Span[], whole: Span): boolean {
  const sorted = [...parts].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let reached = whole.start;
  for (const p of sorted) {
    if (p.start > reached) break;
    if (p.end > reached) reached = p.end;
    if (reached >= whole.end) return true;
  }
  return reached >= whole.end;
}

/**
 * Write recording the harness started on one member: the page size and ranges of the START, and for
 * each range the parts a WRITE_RECORDS_READ has drained (returned fewer records than fit) since the
 * member last had a chance to write memory.
 */
export class RecordingTracker {
  readonly drained: Span[][];
  /** Left running when the test that started it ended: its STOP is the next baseline's cleanup. */
  orphaned = false;

  constructor(
    readonly pageSize: bigint,
    readonly ranges: readonly Span[],
    /** The test (beginTest count) that started it. */
    readonly startedIn: number,
  ) {
    this.drained = ranges.map(() => []);
  }

  /** The member may have written memory since: every range has to be drained again. */
  dirty(): void {
    for (const d of this.drained) d.length = 0;
  }

  /** A READ of [start, start+length) that left no record behind in that span. */
  drainedSpan(span: Span): void {
    this.ranges.forEach((r, i) => {
      const start = span.start > r.start ? span.start : r.start;
      const end = span.end < r.end ? span.end : r.end;
      if (start < end) this.drained[i].push({ start, end });
    });
  }

  inside(span: Span): boolean {
    return this.ranges.some((r) => span.start >= r.start && span.end <= r.end);
  }

  undrained(): Span[] {
    return this.ranges.filter((r, i) => !covers(this.drained[i], r));
  }
}
