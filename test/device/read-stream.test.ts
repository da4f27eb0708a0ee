import { describe, expect, it } from 'vitest';
import { ContextReadStream } from '../../device/migration/read-stream.ts';

function bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/** A stream and a counter of how often it took a snapshot. */
function stream(n = 40) {
  const s = new ContextReadStream();
  let takes = 0;
  const take = () => {
    takes++;
    return bytes(n, takes);
  };
  return { s, take, takes: () => takes };
}

describe('ContextReadStream (patch 4/8 READ, E15, E16)', () => {
  it('takes the snapshot at the first read and never again until reset', () => {
    const { s, take, takes } = stream();
    expect(s.started).toBe(false);
    expect(s.remaining).toBeUndefined();
    s.read(8, take);
    expect(s.started).toBe(true);
    s.read(8, take);
    s.read(100, take);
    expect(takes()).toBe(1);
  });

  it('returns the snapshot front to back in chunks', () => {
    const { s, take } = stream(40);
    const parts = [s.read(16, take), s.read(16, take), s.read(16, take)];
    expect(parts.map((p) => p.length)).toEqual([16, 16, 8]);
    const joined = new Uint8Array(40);
    joined.set(parts[0], 0);
    joined.set(parts[1], 16);
    joined.set(parts[2], 32);
    expect(joined).toEqual(bytes(40, 1));
  });

  it('remaining counts down and is 0 once the stream ended', () => {
    const { s, take } = stream(40);
    s.read(16, take);
    expect(s.remaining).toBe(24);
    s.read(64, take);
    expect(s.remaining).toBe(0);
  });

  it('a short read ends the stream; later reads return nothing (SD6, E16)', () => {
    const { s, take } = stream(40);
    s.read(32, take);
    expect(s.ended).toBe(false);
    expect(s.read(32, take).length).toBe(8);
    expect(s.ended).toBe(true);
    expect(s.read(32, take).length).toBe(0);
    expect(s.remaining).toBe(0);
  });

  it('an exact-fit read does not end the stream; the next (zero-length) read does', () => {
    const { s, take } = stream(32);
    expect(s.read(32, take).length).toBe(32);
    expect(s.ended).toBe(false);
    expect(s.partial).toBe(true);
    expect(s.read(8, take).length).toBe(0);
    expect(s.ended).toBe(true);
    expect(s.partial).toBe(false);
  });

  it('partial (E15): false before any read, true after data without the end, false once ended', () => {
    const { s, take } = stream(40);
    expect(s.partial).toBe(false);
    s.read(8, take);
    expect(s.partial).toBe(true);
    s.read(64, take);
    expect(s.partial).toBe(false);
  });

  it('a first read that ends the stream never makes it partial', () => {
    const { s, take } = stream(40);
    s.read(4096, take);
    expect(s.ended).toBe(true);
    expect(s.partial).toBe(false);
  });

  it('a zero-capacity read neither starts nor ends the stream', () => {
    const { s, take, takes } = stream(40);
    expect(s.read(0, take).length).toBe(0);
    expect(takes()).toBe(0);
    expect(s.started).toBe(false);
    expect(s.ended).toBe(false);
    expect(s.partial).toBe(false);
  });

  it('reset forgets the snapshot: the next read takes a new one from the start', () => {
    const { s, take, takes } = stream(40);
    s.read(16, take);
    s.reset();
    expect(s.partial).toBe(false);
    expect(s.remaining).toBeUndefined();
    expect(s.read(16, take)).toEqual(bytes(40, 2).subarray(0, 16));
    expect(takes()).toBe(2);
  });

  it('reset after the end makes the stream readable again', () => {
    const { s, take } = stream(40);
    s.read(64, take);
    s.reset();
    expect(s.ended).toBe(false);
    expect(s.read(64, take).length).toBe(40);
  });
});
