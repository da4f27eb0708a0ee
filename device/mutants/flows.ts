import type { Mutant } from './mutant.ts';

/** Seeded-bug variants for the flows requirements. */
export const FLOWS_MUTANTS: Mutant[] = [];
