import type { ResultsDocument } from '../../reports/results.ts';

/** One requirement whose verdict differs between two runs of the same device on two transports. */
export interface VerdictDifference {
  id: string;
  a: { verdict: string; reason?: string; tests: string[] };
  b: { verdict: string; reason?: string; tests: string[] };
  /** The declared transport capability that explains the difference, if one does. */
  explainedBy?: string;
}

/**
 * The messages the harness gives a test it skips because the transport lacks a declared capability
 * (harness/ctest.ts capabilityMissing and its owner/member checks). Nothing else explains a difference.
 */
const CAPABILITY_SKIP = /the transport (has no [a-z -]+|lacks [a-z-]+|cannot [a-z' -]+)/;

/** Why `run` skipped a requirement for lack of a transport capability: the first such message among its tests. */
function capabilityGap(run: ResultsDocument, reqId: string): string | undefined {
  for (const t of run.tests) {
    if (!t.requirements.includes(reqId) || t.verdict !== 'NOT_TESTED') continue;
    for (const m of t.messages) {
      const hit = CAPABILITY_SKIP.exec(m);
      if (hit) return hit[0];
    }
  }
  return undefined;
}

/**
 * Compares two runs requirement by requirement (verdict and reason). A difference is explained only
 * when the run with the weaker verdict is NOT_TESTED there because its transport lacks a declared
 * capability the other has.
 */
export function compareRuns(a: ResultsDocument, b: ResultsDocument): VerdictDifference[] {
  const byId = new Map(b.requirements.map((r) => [r.id, r]));
  const out: VerdictDifference[] = [];
  for (const ra of a.requirements) {
    const rb = byId.get(ra.id);
    byId.delete(ra.id);
    if (rb && rb.verdict === ra.verdict && (rb.reason ?? '') === (ra.reason ?? '')) continue;
    const d: VerdictDifference = {
      id: ra.id,
      a: { verdict: ra.verdict, reason: ra.reason, tests: ra.tests },
      b: rb ? { verdict: rb.verdict, reason: rb.reason, tests: rb.tests } : { verdict: '(absent)', tests: [] },
    };
    const gap = (ra.verdict === 'NOT_TESTED' ? capabilityGap(a, ra.id) : undefined) ?? (rb?.verdict === 'NOT_TESTED' ? capabilityGap(b, ra.id) : undefined);
    if (gap) d.explainedBy = gap;
    out.push(d);
  }
  for (const rb of byId.values()) out.push({ id: rb.id, a: { verdict: '(absent)', tests: [] }, b: { verdict: rb.verdict, reason: rb.reason, tests: rb.tests } });
  return out;
}

export function describeDifference(d: VerdictDifference, names: [string, string]): string {
  const side = (n: string, s: VerdictDifference['a']) => `${n}: ${s.verdict}${s.reason ? ` (${s.reason})` : ''}`;
  return `${d.id}\n    ${side(names[0], d.a)}\n    ${side(names[1], d.b)}${d.explainedBy ? `\n    explained: ${d.explainedBy}` : ''}`;
}
