import { loadCatalog } from '../../spec/catalog.ts';
import { loadProfile } from '../../spec/profiles.ts';
import type { ResultsDocument, TestRecord } from '../../reports/results.ts';
import { rollupRequirements, summarize, type RequirementView } from '../../reports/rollup.ts';
import { exitCodeOf, type TestVerdict } from '../../reports/verdicts.ts';

/** Text that must stay text in every rendering (HTML, XML, Markdown, embedded JSON). */
export const HOSTILE = `</script><script>window.__pwned=1</script><!-- ]]> & "quotes" 'apos' <b>bold</b> | pipe \`\`\` fence`;

const catalog = loadCatalog();

/** The first catalog requirements of `area` whose testability has a device test. */
function reqs(area: string, n: number): string[] {
  return catalog.requirements
    .filter((r) => r.area === area && ['owner', 'member', 'dma', 'pci', 'interrupt'].includes(r.testability.class))
    .slice(0, n)
    .map((r) => r.id);
}

function test(id: string, requirements: string[], verdict: TestVerdict, extra: Partial<TestRecord> = {}): TestRecord {
  const outcomes = Object.fromEntries(requirements.map((r) => [r, verdict]));
  return {
    id,
    title: `title of ${id}`,
    file: `suites/${id.split('.')[0]}/x.suite.ts`,
    requirements,
    verdict,
    outcomes,
    durationMs: 12.5,
    messages: verdict === 'PASS' ? [] : [`${verdict.toLowerCase()} message of ${id}`],
    findings: [],
    trace: verdict === 'PASS' ? [] : ['#1 +0.1ms DEV_MODE_SET(0x8) member=1 mode=Stop -> EINVAL/INVALID_FIELD', '#2 +0.3ms DEV_MODE_GET(0x7) member=1 -> OK mode=Active'],
    replay: `vmcts run --seed 7 --test ${id}`,
    driverRuleViolations: [],
    breaks: [],
    ...extra,
  };
}

/**
 * A results document over the whole catalog with every test verdict, hostile text in messages and
 * traces, and rollups computed the way a run computes them (so `verify` accepts it).
 */
export function sampleDoc(over: { complete?: boolean; incompleteReason?: string; shard?: string; tests?: TestRecord[]; serial?: string; profile?: string } = {}): ResultsDocument {
  const mode = reqs('mode', 6);
  const ctx = reqs('ctx-read', 4);
  const adm = reqs('admin', 4);
  const tests = over.tests ?? [
    test('mode.pass-one', [mode[0]], 'PASS'),
    test('mode.fail-one', [mode[1], mode[2]], 'FAIL', { outcomes: { [mode[1]]: 'FAIL', [mode[2]]: 'PASS' }, messages: [`[${mode[1]}] device said OK ${HOSTILE}`], trace: [`#1 +0.1ms DEV_MODE_SET(0x8) member=1 -> OK ${HOSTILE}`] }),
    test('mode.warn-one', [mode[3]], 'WARN', { findings: ['P5: preferred EINVAL/INVALID_FIELD'] }),
    test('mode.timeout-one', [mode[4]], 'TIMEOUT'),
    test('ctx-read.na-one', [ctx[0]], 'NOT_APPLICABLE'),
    test('ctx-read.nt-one', [ctx[1]], 'NOT_TESTED'),
    test('ctx-read.wedged-one', [ctx[2]], 'WEDGED'),
    test('admin.harness-one', [adm[0]], 'HARNESS_ERROR'),
    test('admin.pass-two', [adm[1], adm[2]], 'PASS', { findings: ['an observation that does not change the verdict'] }),
  ];
  const views = catalog.requirements as unknown as RequirementView[];
  const requirements = rollupRequirements(views, tests, []);
  const complete = over.complete ?? true;
  const profile = loadProfile(over.profile ?? 'seed-v2');
  return {
    schemaVersion: 1,
    tool: { name: 'virtio-migration-cts', version: '0.1.0', commit: '0123456789abcdef0123456789abcdef01234567' },
    run: {
      startedAt: '2024-05-01T10:00:00.000Z',
      endedAt: '2024-05-01T10:00:05.500Z',
      durationMs: 5500,
      complete,
      ...(complete ? {} : { incompleteReason: over.incompleteReason ?? 'interrupted by SIGINT' }),
      exitCode: exitCodeOf(tests.map((t) => t.verdict), complete),
      ...(over.shard ? { shard: over.shard } : {}),
      command: 'vmcts run --seed 7',
    },
    config: { transport: { kind: 'simulator' }, profile: profile.id, seed: 7, outDir: '/tmp/out' },
    profile: {
      id: profile.id,
      title: profile.title,
      settings: { ...profile.settings },
      readings: profile.readings.map((r) => ({ setting: r.setting, errata: [...r.errata], value: r.value, reading: r.reading, overridden: r.overridden })),
    },
    seed: 7,
    device: {
      transport: 'simulator',
      description: `reference device ${HOSTILE}`,
      address: 'simulator',
      pci: { vendorId: 0x1af4, deviceId: 0x1042, subsystemVendorId: 0x1af4, subsystemId: 0x40, revision: 1 },
      serial: over.serial ?? 'SER-0001',
      firmware: 'fw 1.2.3',
      members: [
        { id: 1, virtioType: 2, address: 'simulator/vf1' },
        { id: 2, virtioType: 2, address: 'simulator/vf2' },
      ],
    },
    host: { hostname: 'testhost', platform: 'linux', release: '6.1.0', arch: 'x64', node: 'v20.10.0', cpus: 2 },
    session: {
      supportedOpcodes: [0, 1, 7, 8],
      inUseOpcodes: [0, 1, 7, 8],
      commandSets: { context: true, fieldsQuery: false, writeRecords: true },
      membersUnderTest: [1, 2],
      findings: [`E1 finding ${HOSTILE}`],
      driverRulesEnforced: [],
    },
    tests,
    requirements,
    summary: summarize(tests, requirements),
  };
}

export { test as testRecord };
