import type { Mutant } from './mutant.ts';

/** Seeded-bug variants for the admin requirements. */
export const ADMIN_MUTANTS: Mutant[] = [];
