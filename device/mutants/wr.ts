import type { Mutant } from './mutant.ts';

/** Seeded-bug variants for the wr requirements. */
export const WR_MUTANTS: Mutant[] = [];
