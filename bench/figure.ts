/**
 * What `vmcts bench` measures and prints. A benchmark is one module of this folder that returns its
 * figures; the registry in index.ts runs them in order in one process, so every ratio compares
 * operations measured in the same run.
 */

/** One measured figure. `target` states the threshold in words ("≥ 0.125"); `met` is the comparison. */
export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  /** The threshold the figure is held to, or null for an informational figure. */
  target: string | null;
  /** Whether the value meets the target; null when there is no target. */
  met: boolean | null;
}

export interface BenchOptions {
  /** Fewer iterations and rounds (self-tests): same figures, less stable values. */
  quick?: boolean;
  /** Progress and workload notes (the CLI sends them to stderr, never into --json output). */
  log?: (line: string) => void;
}

export interface Benchmark {
  /** Stable id, used by `vmcts bench --only`. */
  id: string;
  /** What it measures, in one line. */
  title: string;
  run(opts: BenchOptions): Promise<BenchFigure[]>;
}

/** A figure that must be at least `min`. */
export function atLeast(name: string, value: number, unit: string, min: number): BenchFigure {
  return { name, value, unit, target: `>= ${min}`, met: value >= min };
}

/** A figure held to a condition other than a number (e.g. "completes without error"). */
export function condition(name: string, value: number, unit: string, target: string, met: boolean): BenchFigure {
  return { name, value, unit, target, met };
}

/** A figure printed for information only. */
export function info(name: string, value: number, unit: string): BenchFigure {
  return { name, value, unit, target: null, met: null };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Seconds since `t0` (a process.hrtime.bigint() reading). */
export function secondsSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
