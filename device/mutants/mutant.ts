import type { ReferenceDevice } from '../reference-device.ts';

/**
 * A seeded-bug variant of the reference device: one rule broken the way a real firmware bug would
 * break it. `apply` patches a freshly built device (its handlers, members or streams); the
 * conformance run against it must report FAIL (WARN for a SHOULD) on every requirement in `targets`.
 */
export interface Mutant {
  /** Kebab-case name, used by `vmcts run --mutant NAME` and the config's transport.mutant. */
  name: string;
  /** The firmware bug, in one sentence. */
  description: string;
  /** Requirement ids the bug breaks. */
  targets: string[];
  /** Verdict expected on the targets: FAIL (default) or WARN for a SHOULD. */
  expect?: 'FAIL' | 'WARN';
  apply(device: ReferenceDevice): void;
}

/** Patches a method of an object (protected members included): the one unsafe step mutants take. */
export function patch<T extends object>(obj: T, method: string, make: (original: (...args: any[]) => any) => (...args: any[]) => any): void {
  const o = obj as unknown as Record<string, (...args: any[]) => any>;
  const original = o[method].bind(obj);
  o[method] = make(original);
}

/** Applies `fn` to every member of the device. */
export function eachMember(device: ReferenceDevice, fn: (m: NonNullable<ReturnType<ReferenceDevice['member']>>) => void): void {
  for (const m of device.members.values()) fn(m);
}
