import { loadCatalog } from '../../spec/catalog.ts';
import { ConfigError } from '../errors.ts';
import type { RequirementView } from './assemble-results.ts';

export interface Selection {
  levels?: string[];
  areas?: string[];
  requirements?: string[];
}

/** The catalog entries a run checks: every entry matching all given filters (none given: all). */
export function selectRequirements(sel: Selection): RequirementView[] {
  const all = loadCatalog().requirements as readonly RequirementView[];
  const ids = new Set(all.map((r) => r.id));
  const areas = new Set(all.map((r) => r.area));
  for (const id of sel.requirements ?? []) {
    if (!ids.has(id)) {
      const near = [...ids].filter((x) => x.startsWith(id.split('.')[0] + '.')).slice(0, 5);
      throw new ConfigError(`requirement "${id}" is not in the catalog${near.length ? `; in its area: ${near.join(', ')}` : ''} (see \`vmcts list\`)`);
    }
  }
  for (const a of sel.areas ?? []) if (!areas.has(a)) throw new ConfigError(`area "${a}" is not in the catalog; areas: ${[...areas].sort().join(', ')}`);
  return all.filter(
    (r) =>
      (!sel.levels?.length || sel.levels.includes(r.level)) &&
      (!sel.areas?.length || sel.areas.includes(r.area)) &&
      (!sel.requirements?.length || sel.requirements.includes(r.id)),
  );
}
