/**
 * Helper for editing the catalog by hand: prints the seed sentences that start at the given
 * patch:line positions, with the digest a catalog `source` needs.
 *
 *   npx tsx spec/tools/cite.ts 5:866 4:597
 *   npx tsx spec/tools/cite.ts --keywords      (every keyword sentence that survives to patch 8)
 */
import { listSentences } from '../seed-sentences.ts';

const args = process.argv.slice(2);
const sentences = listSentences();
const show = (s: (typeof sentences)[number]) =>
  process.stdout.write(
    `${s.patch}:${s.line}${s.survives ? '' : ` (removed by patch ${s.removedBy})`} [${s.keywords.join(', ')}] ${s.sha256}\n  ${s.text}\n`,
  );
if (args.includes('--keywords')) {
  for (const s of sentences) if (s.survives && s.keywords.length > 0) show(s);
} else {
  for (const a of args) {
    const m = /^(\d):(\d+)$/.exec(a);
    if (!m) {
      process.stderr.write(`expected patch:line, got '${a}'\n`);
      process.exitCode = 2;
      continue;
    }
    const hits = sentences.filter((s) => s.patch === Number(m[1]) && s.line === Number(m[2]));
    if (hits.length === 0) process.stdout.write(`${a}: no sentence starts here\n`);
    hits.forEach(show);
  }
}
