import type { VirtioAdminCmdWriteRecordStartEntry } from '../../protocol/commands.ts';

/** One started range, in bytes: [start, end). */
export interface RecordedRange {
  start: bigint;
  end: bigint;
}

/**
 * Write recording of one member (patches 6-8): the ranges the owner driver started, the page size,
 * and the set of written pages not yet read. Every device write is offered to onWrite(); a page is
 * recorded when any byte of the write falls in a started range. Survives FLR (SD20): the member never
 * resets it, only STOP does.
 */
export class WriteRecorder {
  active = false;
  pageSize = 0n;
  ranges: RecordedRange[] = [];
  private readonly dirty = new Set<bigint>();

  get pendingCount(): number {
    return this.dirty.size;
  }

  start(pageSize: bigint, entries: readonly VirtioAdminCmdWriteRecordStartEntry[]): void {
    this.active = true;
    this.pageSize = pageSize;
    this.ranges = entries
      .map((e) => ({ start: e.pageAddress, end: e.pageAddress + e.pageCount * pageSize }))
      .sort((a, b) => (a.start < b.start ? -1 : 1));
    this.dirty.clear();
  }

  stop(): void {
    this.active = false;
    this.ranges = [];
    this.dirty.clear();
  }

  onWrite(addr: bigint, len: number): void {
    if (!this.active || len <= 0) return;
    const end = addr + BigInt(len);
    for (const r of this.ranges) {
      if (end <= r.start || addr >= r.end) continue;
      const from = addr > r.start ? addr : r.start;
      const to = end < r.end ? end : r.end;
      for (let p = from - (from % this.pageSize); p < to; p += this.pageSize) this.dirty.add(p);
    }
  }

  /** Whether [start, start+length) lies inside one started range (E28). */
  covers(start: bigint, length: bigint): boolean {
    return this.ranges.some((r) => start >= r.start && start + length <= r.end);
  }

  /**
   * Read-and-clear: the recorded pages inside [start, start+length), ascending, at most `max` of them;
   * only the ones returned are cleared (SD21, E28).
   */
  take(start: bigint, length: bigint, max: number): bigint[] {
    const end = start + length;
    const hits: bigint[] = [];
    for (const p of this.dirty) if (p >= start && p < end) hits.push(p);
    hits.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out = hits.slice(0, Math.max(0, max));
    for (const p of out) this.dirty.delete(p);
    return out;
  }
}
