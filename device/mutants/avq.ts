import type { Mutant } from './mutant.ts';

/** Seeded-bug variants for the avq requirements. */
export const AVQ_MUTANTS: Mutant[] = [];
