import type { Mutant } from './mutant.ts';

/** Seeded-bug variants for the mode requirements. */
export const MODE_MUTANTS: Mutant[] = [];
