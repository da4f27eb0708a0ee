import { describe, expect, it } from 'vitest';
import { WriteRecorder } from '../../device/migration/write-recorder.ts';

const P = 4096n;
const BASE = 0x10_0000n;

/** A recorder with one started range of `pages` 4 KiB pages at BASE (and optional extra ranges). */
function started(pages = 4n, extra: { pageAddress: bigint; pageCount: bigint }[] = [], pageSize = P): WriteRecorder {
  const r = new WriteRecorder();
  r.start(pageSize, [{ pageAddress: BASE, pageCount: pages }, ...extra]);
  return r;
}

function all(r: WriteRecorder): bigint[] {
  return r.take(0n, 1n << 62n, 1 << 20);
}

describe('WriteRecorder: what a write records (patch 7/8 page granularity)', () => {
  it('a write inside one page records that page once', () => {
    const r = started();
    r.onWrite(BASE + 0x10n, 8);
    r.onWrite(BASE + 0x800n, 100);
    expect(all(r)).toEqual([BASE]);
  });

  it('a write straddling a page boundary records both pages', () => {
    const r = started();
    r.onWrite(BASE + P - 4n, 8);
    expect(all(r)).toEqual([BASE, BASE + P]);
  });

  it('a write spanning several pages records every page it touches', () => {
    const r = started();
    r.onWrite(BASE + 1n, Number(3n * P));
    expect(all(r)).toEqual([BASE, BASE + P, BASE + 2n * P, BASE + 3n * P]);
  });

  it('the first and the last page of a range are recorded', () => {
    const r = started(4n);
    r.onWrite(BASE, 1);
    r.onWrite(BASE + 4n * P - 1n, 1);
    expect(all(r)).toEqual([BASE, BASE + 3n * P]);
  });

  it('a write straddling the start of a range records only the page inside it', () => {
    const r = started();
    r.onWrite(BASE - 8n, 16);
    expect(all(r)).toEqual([BASE]);
  });

  it('a write straddling the end of a range records only the page inside it', () => {
    const r = started(4n);
    r.onWrite(BASE + 4n * P - 8n, 16);
    expect(all(r)).toEqual([BASE + 3n * P]);
  });

  it('writes outside every started range are never recorded', () => {
    const r = started(4n, [{ pageAddress: BASE + 16n * P, pageCount: 1n }]);
    r.onWrite(BASE - P, Number(P)); // the page before
    r.onWrite(BASE + 4n * P, Number(P)); // the page after
    r.onWrite(BASE + 8n * P, 64); // the gap between the ranges
    r.onWrite(0n, 4096);
    expect(r.pendingCount).toBe(0);
    expect(all(r)).toEqual([]);
  });

  it('a write touching two started ranges records a page in each', () => {
    const r = started(1n, [{ pageAddress: BASE + P, pageCount: 1n }]);
    r.onWrite(BASE + P - 2n, 4);
    expect(all(r)).toEqual([BASE, BASE + P]);
  });

  it('pages are of the started page size (2 MiB)', () => {
    const big = 2n << 20n;
    const r = new WriteRecorder();
    r.start(big, [{ pageAddress: 0x4000_0000n, pageCount: 2n }]);
    r.onWrite(0x4000_0000n + big - 1n, 2);
    expect(all(r)).toEqual([0x4000_0000n, 0x4000_0000n + big]);
  });

  it('nothing is recorded before START, after STOP, or for an empty write', () => {
    const r = new WriteRecorder();
    r.onWrite(BASE, 8);
    expect(r.pendingCount).toBe(0);
    r.start(P, [{ pageAddress: BASE, pageCount: 1n }]);
    r.onWrite(BASE, 0);
    expect(r.pendingCount).toBe(0);
    r.onWrite(BASE, 1);
    expect(r.pendingCount).toBe(1);
    r.stop();
    expect(r.active).toBe(false);
    expect(r.pendingCount).toBe(0);
    r.onWrite(BASE, 8);
    expect(r.pendingCount).toBe(0);
  });

  it('START begins with no records', () => {
    const r = started();
    r.onWrite(BASE, 8);
    r.start(P, [{ pageAddress: BASE, pageCount: 4n }]);
    expect(r.pendingCount).toBe(0);
  });
});

describe('WriteRecorder.take: read-and-clear (SD21, E28)', () => {
  it('returns pages ascending and clears only what it returns, at most `max`', () => {
    const r = started(8n);
    for (const p of [5n, 1n, 7n, 3n]) r.onWrite(BASE + p * P, 1);
    expect(r.take(BASE, 8n * P, 2)).toEqual([BASE + P, BASE + 3n * P]);
    expect(r.pendingCount).toBe(2);
    expect(r.take(BASE, 8n * P, 2)).toEqual([BASE + 5n * P, BASE + 7n * P]);
    expect(r.take(BASE, 8n * P, 2)).toEqual([]);
  });

  it('max 0 returns nothing and clears nothing', () => {
    const r = started();
    r.onWrite(BASE, 1);
    expect(r.take(BASE, 4n * P, 0)).toEqual([]);
    expect(r.pendingCount).toBe(1);
  });

  it('a sub-range returns and clears only its own pages', () => {
    const r = started(4n);
    r.onWrite(BASE, Number(4n * P));
    expect(r.take(BASE + P, 2n * P, 100)).toEqual([BASE + P, BASE + 2n * P]);
    expect(r.take(BASE, 4n * P, 100)).toEqual([BASE, BASE + 3n * P]);
  });

  it('a page written again after it was returned is reported again', () => {
    const r = started();
    r.onWrite(BASE + 2n * P, 4);
    expect(r.take(BASE, 4n * P, 10)).toEqual([BASE + 2n * P]);
    expect(r.take(BASE, 4n * P, 10)).toEqual([]);
    r.onWrite(BASE + 2n * P + 100n, 4);
    expect(r.take(BASE, 4n * P, 10)).toEqual([BASE + 2n * P]);
  });

  it('covers() accepts a span inside one started range only', () => {
    const r = started(4n, [{ pageAddress: BASE + 4n * P, pageCount: 4n }]);
    expect(r.covers(BASE, 4n * P)).toBe(true);
    expect(r.covers(BASE + 3n * P, P)).toBe(true);
    expect(r.covers(BASE + 3n * P, 2n * P)).toBe(false); // spans two adjacent ranges
    expect(r.covers(BASE - P, P)).toBe(false);
  });
});
