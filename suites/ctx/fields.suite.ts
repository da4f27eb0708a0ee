import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { DevCtxType, devCtxTypeClass, devCtxTypeName } from '../../protocol/device-context.ts';
import { VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import { ACTIVE, blockWorkload, FREEZE, inspectContext, mode, MODES, type ParsedCtx, R, readToEnd } from './ctx-support.ts';

// DEV_CTX_FIELDS_QUERY (patch 4/8 "Device Context Supported Fields Query Command"; E6, E37). Optional
// (E6): NOT_APPLICABLE when the device does not offer opcode 0xc.

const ENTRY = 16;
const CAPACITY = 4096;

interface Entry {
  type: number;
  reserved: Uint8Array;
  length: bigint;
}

/** FIELDS_QUERY: the raw entries, with the entry-format checks made on the bytes. */
async function query(t: ConformanceContext, where: string): Promise<Entry[] | undefined> {
  const r = await t.admin.fieldsQuery(t.src, CAPACITY);
  if (!t.def.requirements.includes(R.fieldsOnePerType)) t.requireOk(undefined, r, `DEV_CTX_FIELDS_QUERY in ${where}`);
  else if (!t.expectOk(R.fieldsOnePerType, r, `DEV_CTX_FIELDS_QUERY in ${where}`)) return undefined;
  const res = r.result;
  const whole = res.length - (res.length % ENTRY);
  if (t.def.requirements.includes(R.fieldsFormat)) {
    t.check(R.fieldsFormat, res.length % ENTRY === 0, `DEV_CTX_FIELDS_QUERY in ${where} returned ${res.length} result bytes, not a whole number of 16-byte entries`);
  }
  if (res.length >= CAPACITY) t.finding(`DEV_CTX_FIELDS_QUERY filled the whole ${CAPACITY}-byte result buffer: entries past it may be cut off`);
  const out: Entry[] = [];
  const dv = new DataView(res.buffer, res.byteOffset, res.byteLength);
  for (let at = 0; at < whole; at += ENTRY) out.push({ type: dv.getUint16(at, true), reserved: res.subarray(at + 2, at + 8), length: dv.getBigUint64(at + 8, true) });
  return out;
}

conformanceTest(
  {
    id: 'ctx-fields.entries',
    title: 'FIELDS_QUERY completes with OK in every mode: 16-byte entries with zero reserved bytes, one per defined type',
    requirements: [R.fieldsFormat, R.fieldsOnePerType],
    commandSets: ['context', 'fields-query'],
  },
  async (t: ConformanceContext) => {
    for (const m of MODES) {
      await t.admin.modeSetOk(t.src, m);
      const entries = await query(t, mode(m));
      if (!entries) continue;
      for (const e of entries) {
        t.check(R.fieldsFormat, e.reserved.every((b) => b === 0), `in ${mode(m)}, the entry for type 0x${e.type.toString(16)} has reserved bytes ${[...e.reserved].map((b) => b.toString(16).padStart(2, '0')).join(' ')}; they read zero`);
        t.check(R.fieldsOnePerType, devCtxTypeClass(e.type) === 'defined', `in ${mode(m)}, FIELDS_QUERY lists type 0x${e.type.toString(16)}, ${devCtxTypeName(e.type)}: a device supports only the types of the Device Context Fields table (E10)`);
      }
      const types = entries.map((e) => e.type);
      const dup = types.filter((x, i) => types.indexOf(x) !== i);
      t.check(R.fieldsOnePerType, dup.length === 0, `in ${mode(m)}, FIELDS_QUERY lists type(s) ${[...new Set(dup)].map((x) => `0x${x.toString(16)}`).join(', ')} more than once`);
      t.check(R.fieldsOnePerType, entries.length > 0, `in ${mode(m)}, FIELDS_QUERY lists no field type at all`);
    }
  },
);

function compare(t: ConformanceContext, p: ParsedCtx, entries: Entry[], where: string): void {
  const listed = new Map(entries.map((e) => [e.type, e.length]));
  for (const type of p.lengths.keys()) {
    t.check(R.fieldsListsRead, listed.has(type), `${where}: READ returned a ${devCtxTypeName(type)} field, FIELDS_QUERY does not list type 0x${type.toString(16)} (E37)`);
  }
  for (const type of [DevCtxType.PCI_VQ_CFG, DevCtxType.VQ_SPLIT_RUNTIME_CFG]) {
    const lens = p.lengths.get(type);
    const q = listed.get(type);
    if (!lens || q === undefined) continue;
    for (const len of new Set(lens)) t.check(R.fieldsLength, BigInt(len) === q, `${where}: READ returned ${devCtxTypeName(type)} with length ${len}, FIELDS_QUERY reports ${q} (E37, E13, E14)`);
  }
}

conformanceTest(
  {
    id: 'ctx-fields.matches-read',
    title: 'Every type a READ returns is listed by FIELDS_QUERY, with the same length for PCI_VQ_CFG and SPLIT_RUNTIME_CFG',
    requirements: [R.fieldsLength, R.fieldsListsRead],
    commandSets: ['context', 'fields-query'],
  },
  async (t: ConformanceContext) => {
    const seen = new Set<number>();
    await t.admin.modeSetOk(t.src, FREEZE);
    const base = inspectContext(t, (await readToEnd(t, t.src)).bytes, 'use', 'the Freeze context');
    const entries = await query(t, 'Freeze');
    t.require(undefined, entries !== undefined, 'DEV_CTX_FIELDS_QUERY failed');
    compare(t, base, entries, 'baseline state');
    for (const k of base.lengths.keys()) seen.add(k);
    // With requests in flight the context also carries device-owned descriptors (type 0x4).
    if (t.session.transport.capabilities.memberPort && t.port(t.src).virtioType === VirtioDeviceType.BLOCK) {
      await t.admin.modeSetOk(t.src, ACTIVE);
      await blockWorkload(t, t.src);
      await t.admin.modeSetOk(t.src, FREEZE);
      const busy = inspectContext(t, (await readToEnd(t, t.src)).bytes, 'use', 'the Freeze context with requests in flight');
      const again = await query(t, 'Freeze');
      t.require(undefined, again !== undefined, 'DEV_CTX_FIELDS_QUERY failed');
      compare(t, busy, again, 'requests in flight');
      for (const k of busy.lengths.keys()) seen.add(k);
    } else {
      t.finding('no member port or not a block member: the context was only read in the baseline state');
    }
    if (!seen.has(DevCtxType.PCI_VQ_CFG) && !seen.has(DevCtxType.VQ_SPLIT_RUNTIME_CFG)) t.finding('no READ returned a PCI_VQ_CFG or SPLIT_RUNTIME_CFG field: their lengths could not be compared');
  },
);
