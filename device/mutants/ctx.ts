import type { Mutant } from './mutant.ts';

/** Seeded-bug variants for the ctx requirements. */
export const CTX_MUTANTS: Mutant[] = [];
