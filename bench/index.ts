/**
 * `vmcts bench`: figures and ratios measured in one run (not timed tests). Each benchmark is its
 * own module; this registry runs them in order. Later work adds its benchmarks to BENCHMARKS.
 */
import { adminThroughput } from './admin-throughput.ts';
import { adminThroughputPci } from './admin-throughput-pci.ts';
import { contextCodec } from './context-codec.ts';
import type { Benchmark, BenchFigure, BenchOptions } from './figure.ts';
import { fuzzThroughput } from './fuzz-throughput.ts';
import { fullRun } from './full-run.ts';
import { maxQueues } from './max-queues.ts';
import { mutationScoreBench } from './mutation-score.ts';

export type { Benchmark, BenchFigure, BenchOptions } from './figure.ts';

export const BENCHMARKS: readonly Benchmark[] = [fullRun, adminThroughput, adminThroughputPci, contextCodec, maxQueues, mutationScoreBench, fuzzThroughput];

export interface RunBenchmarksOptions extends BenchOptions {
  /** Benchmark ids to run (default: all). */
  only?: readonly string[];
  /** The registry to run (default: BENCHMARKS). */
  benchmarks?: readonly Benchmark[];
}

/** Runs the selected benchmarks one after another and returns all their figures in order. */
export async function runBenchmarks(opts: RunBenchmarksOptions = {}): Promise<BenchFigure[]> {
  const all = opts.benchmarks ?? BENCHMARKS;
  const unknown = (opts.only ?? []).filter((id) => !all.some((b) => b.id === id));
  if (unknown.length) throw new RangeError(`unknown benchmark ${unknown.join(', ')}; known: ${all.map((b) => b.id).join(', ')}`);
  const selected = opts.only?.length ? all.filter((b) => opts.only!.includes(b.id)) : all;
  const figures: BenchFigure[] = [];
  for (const b of selected) {
    opts.log?.(`${b.id}: ${b.title}`);
    figures.push(...(await b.run(opts)));
  }
  return figures;
}
