import { ADMIN_MUTANTS } from './admin.ts';
import { AVQ_MUTANTS } from './avq.ts';
import { CMDSET_MUTANTS } from './cmdset.ts';
import { CTX_MUTANTS } from './ctx.ts';
import { FLOWS_MUTANTS } from './flows.ts';
import { FUZZ_MUTANTS } from './fuzz.ts';
import { HANG_MUTANTS } from './hang.ts';
import { MEMBER_MUTANTS } from './member.ts';
import { MODE_MUTANTS } from './mode.ts';
import type { Mutant } from './mutant.ts';
import { WR_MUTANTS } from './wr.ts';

/** Every seeded-bug variant, by area file. Names are unique (checked by the self-tests). */
export const MUTANTS: readonly Mutant[] = [
  ...MODE_MUTANTS,
  ...CMDSET_MUTANTS,
  ...ADMIN_MUTANTS,
  ...AVQ_MUTANTS,
  ...CTX_MUTANTS,
  ...MEMBER_MUTANTS,
  ...WR_MUTANTS,
  ...FLOWS_MUTANTS,
  ...FUZZ_MUTANTS,
  ...HANG_MUTANTS,
];

export function findMutant(name: string): Mutant | undefined {
  return MUTANTS.find((m) => m.name === name);
}

export type { Mutant };
