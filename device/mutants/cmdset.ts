import type { Mutant } from './mutant.ts';

/** Seeded-bug variants for the cmdset requirements. */
export const CMDSET_MUTANTS: Mutant[] = [];
