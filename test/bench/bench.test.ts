import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runBenchmarks, type Benchmark, type BenchFigure } from '../../bench/index.ts';

const run = promisify(execFile);
const VMCTS = fileURLToPath(new URL('../../bin/vmcts.mjs', import.meta.url));

async function vmcts(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [VMCTS, ...args], { maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: '1' } });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number };
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: err.code ?? -1 };
  }
}

/** The JSON shape of the issue: { figures: [{ name, value, unit, target, met }] }, nothing else. */
function expectFigureShape(f: unknown): void {
  expect(f).toBeTypeOf('object');
  const o = f as Record<string, unknown>;
  expect(Object.keys(o).sort()).toEqual(['met', 'name', 'target', 'unit', 'value']);
  expect(o.name).toBeTypeOf('string');
  expect(o.name).toMatch(/^[a-z0-9-]+$/);
  expect(o.value).toBeTypeOf('number');
  expect(Number.isFinite(o.value)).toBe(true);
  expect(o.unit).toBeTypeOf('string');
  expect((o.unit as string).length).toBeGreaterThan(0);
  if (o.target === null) expect(o.met).toBeNull();
  else {
    expect(o.target).toBeTypeOf('string');
    expect(o.met).toBeTypeOf('boolean');
  }
}

describe('vmcts bench', () => {
  it('--json --quick prints only the figures JSON, with every figure of the three benchmarks', async () => {
    const { stdout, code } = await vmcts('bench', '--json', '--quick');
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as { figures: unknown[] };
    expect(Object.keys(out)).toEqual(['figures']);
    expect(Array.isArray(out.figures)).toBe(true);
    out.figures.forEach(expectFigureShape);
    const names = (out.figures as BenchFigure[]).map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of ['admin-commands-per-second', 'context-encode-vs-buffer-copy', 'context-decode-vs-buffer-copy', 'max-queues-roundtrip-seconds', 'max-queues-peak-rss', 'max-queues-peak-heap-used']) {
      expect(names).toContain(n);
    }
  });

  it('human output: one line per figure with value, unit, target and met / NOT MET', async () => {
    const { stdout, code } = await vmcts('bench', '--quick', '--only', 'admin-throughput');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatch(/^admin-commands-per-second\s+[\d,]+ commands\/s\s+target >= 200000\s+(met|NOT MET)$/);
  });

  it('an unknown benchmark id is a usage error (exit 2)', async () => {
    const { code, stderr } = await vmcts('bench', '--only', 'no-such-bench');
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown benchmark 'no-such-bench'/);
  });
});

describe('runBenchmarks registry', () => {
  const fake = (id: string, value: number): Benchmark => ({
    id,
    title: id,
    run: async () => [{ name: `${id}-figure`, value, unit: 'x', target: '>= 1', met: value >= 1 }],
  });

  it('runs the benchmarks in order and concatenates their figures; `only` selects', async () => {
    const benchmarks = [fake('a', 1), fake('b', 0), fake('c', 2)];
    expect((await runBenchmarks({ benchmarks })).map((f) => f.name)).toEqual(['a-figure', 'b-figure', 'c-figure']);
    expect((await runBenchmarks({ benchmarks, only: ['c', 'a'] })).map((f) => f.name)).toEqual(['a-figure', 'c-figure']);
  });

  it('refuses an unknown id', async () => {
    await expect(runBenchmarks({ benchmarks: [fake('a', 1)], only: ['z'] })).rejects.toThrow(/unknown benchmark z/);
  });
});
