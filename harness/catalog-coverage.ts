/**
 * Which conformance tests cover which catalog requirement, from the tests' own declarations: the
 * suite files are imported (outside a run each `conformanceTest` only registers itself) and every
 * declared `requirements` list is read. What `vmcts list` shows is exactly what a run would run.
 */
import { collectSuiteDefs } from './test-registry.ts';

/** Map from requirement id to the ids of the tests that name it. */
export async function coveringTests(): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  for (const { def } of await collectSuiteDefs()) {
    for (const id of def.requirements) map.set(id, [...(map.get(id) ?? []), def.id]);
  }
  return map;
}
