import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderJunit } from '../../reports/junit.ts';
import { HOSTILE, sampleDoc } from './fixtures.ts';
import { hasProgram, IN_CI, ROOT, tmpDir } from './helpers.ts';

const XSD = path.join(ROOT, 'reports/junit.xsd');

/** The <testcase> element of one test, as text. */
function testcase(xml: string, id: string): string {
  const start = xml.indexOf(`<testcase classname="${id.split('.')[0]}" name="${id}:`);
  expect(start, `testcase of ${id}`).toBeGreaterThan(-1);
  const end = xml.indexOf('</testcase>', start);
  const selfClosed = xml.indexOf('/>', start);
  return xml.slice(start, end === -1 || (selfClosed !== -1 && selfClosed < xml.indexOf('>', start) + 1) ? selfClosed + 2 : end + 11);
}

/** xmllint --schema, or a clear failure under CI when xmllint is missing. */
function xmllintAvailable(skip: (note: string) => never): void {
  if (hasProgram('xmllint')) return;
  if (IN_CI) throw new Error('xmllint is not installed: .ci/run must `apt-get install -y --no-install-recommends libxml2-utils`');
  skip('xmllint is not installed (apt-get install libxml2-utils); outside CI the XSD check is skipped');
}

export function validateAgainstXsd(xml: string): { ok: boolean; output: string } {
  const file = path.join(tmpDir('junit'), 'junit.xml');
  writeFileSync(file, xml);
  const r = spawnSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

describe('junit.xml', () => {
  const doc = sampleDoc();
  const xml = renderJunit(doc);

  it('has one testsuite per area and one testcase per test, named "<id>: <title>" with classname = area', () => {
    expect(xml.match(/<testcase /g)?.length).toBe(doc.tests.length);
    for (const area of ['mode', 'ctx-read', 'admin']) expect(xml).toContain(`<testsuite name="${area}"`);
    for (const t of doc.tests) expect(xml).toContain(`name="${t.id}: ${t.title}"`);
    expect(xml).toMatch(/<testsuites name="vmcts 0\.1\.0 — profile seed-v2" tests="9" failures="2" errors="2" skipped="2"/);
  });

  it('carries requirement ids, level and verdict as properties', () => {
    const t = doc.tests[1];
    const tc = testcase(xml, t.id);
    for (const r of t.requirements) expect(tc).toContain(`<property name="requirement" value="${r}"/>`);
    expect(tc).toContain('<property name="level" value="MUST"/>');
    expect(tc).toContain('<property name="verdict" value="FAIL"/>');
  });

  it('FAIL and TIMEOUT are failures, WEDGED and HARNESS_ERROR errors, with message, decoded trace and replay', () => {
    const fail = testcase(xml, 'mode.fail-one');
    expect(fail).toMatch(/<failure message="FAIL: \[mode\.[a-z-]+\] device said OK &lt;\/script>&lt;script>/);
    expect(fail).toContain('Wire trace (admin commands of the test):');
    expect(fail).toContain('DEV_MODE_SET(0x8) member=1 -> OK');
    expect(fail).toContain('Replay:\n  vmcts run --seed 7 --test mode.fail-one');
    expect(testcase(xml, 'mode.timeout-one')).toMatch(/<failure message="TIMEOUT: timeout message of mode\.timeout-one" type="TIMEOUT">/);
    expect(testcase(xml, 'ctx-read.wedged-one')).toMatch(/<error message="WEDGED: wedged message of ctx-read\.wedged-one" type="WEDGED">/);
    expect(testcase(xml, 'admin.harness-one')).toMatch(/<error message="HARNESS_ERROR: [^"]+" type="HARNESS_ERROR">/);
  });

  it('NOT_APPLICABLE and NOT_TESTED are skipped with the reason; WARN passes with a warning; PASS is bare', () => {
    expect(testcase(xml, 'ctx-read.na-one')).toContain('<skipped message="NOT_APPLICABLE: not_applicable message of ctx-read.na-one"/>');
    expect(testcase(xml, 'ctx-read.nt-one')).toContain('<skipped message="NOT_TESTED: not_tested message of ctx-read.nt-one"/>');
    const warn = testcase(xml, 'mode.warn-one');
    expect(warn).not.toMatch(/<failure|<error|<skipped/);
    expect(warn).toMatch(/<system-out><!\[CDATA\[WARNING: a SHOULD is unmet/);
    expect(testcase(xml, 'mode.pass-one')).not.toMatch(/<failure|<error|<skipped|<system-out/);
  });

  it('keeps hostile text as text ("]]>" cannot end a CDATA section)', () => {
    // Outside CDATA sections (text by definition) no markup from a message survives.
    expect(xml.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '')).not.toMatch(/<script|<b>|<!--/);
    expect(HOSTILE).toContain(']]>');
    expect(testcase(xml, 'mode.fail-one')).toContain(HOSTILE.replace(']]>', ']] >'));
  });

  it('marks an incomplete run with an error testcase, so CI does not read it as green', () => {
    const inc = renderJunit(sampleDoc({ complete: false, incompleteReason: 'interrupted by SIGINT' }));
    expect(inc).toMatch(/<testcase classname="vmcts" name="run complete">\s*<error message="run incomplete: interrupted by SIGINT" type="INCOMPLETE">/);
    expect(xml).not.toContain('name="run complete"');
  });

  it('validates against reports/junit.xsd (xmllint --schema)', (ctx) => {
    xmllintAvailable(ctx.skip);
    for (const d of [doc, sampleDoc({ complete: false }), sampleDoc({ tests: [] })]) {
      const r = validateAgainstXsd(renderJunit(d));
      expect(r.output).toMatch(/validates/);
      expect(r.ok, r.output).toBe(true);
    }
  });

  it('the XSD rejects what CI tools would not read (a testcase without classname, two results in one testcase)', (ctx) => {
    xmllintAvailable(ctx.skip);
    const noClass = xml.replace('<testcase classname="mode" ', '<testcase ');
    expect(validateAgainstXsd(noClass).ok).toBe(false);
    const twoResults = xml.replace('<failure message="TIMEOUT', '<skipped/><failure message="TIMEOUT');
    expect(validateAgainstXsd(twoResults).ok).toBe(false);
  });
});
