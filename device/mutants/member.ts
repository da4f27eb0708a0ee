import type { Mutant } from './mutant.ts';

/** Seeded-bug variants for the member requirements. */
export const MEMBER_MUTANTS: Mutant[] = [];
