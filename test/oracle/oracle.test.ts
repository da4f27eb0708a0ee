import { describe, expect, it } from 'vitest';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { DeviceMode, encodeCtxReadOutput, encodeModeGetResult, encodeSizeGetResult, encodeWriteRecordCapResult, encodeWriteRecordsReadResult } from '../../protocol/commands.ts';
import { encodeDevFeatures, encodePciCommonCfg, encodePciVqCfg, encodeVqSplitRuntime } from '../../protocol/dev-ctx-fields.ts';
import { DevCtxType, encodeDevCtx } from '../../protocol/device-context.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { check, Oracle, type OracleConfig } from '../../harness/oracle/oracle.ts';
import type { AdminCall, HistoryEntry, Violation } from '../../harness/oracle/types.ts';

const CONFIG: OracleConfig = {
  wire: SEED_V2_WIRE,
  settings: { fieldLengthMismatchAt: 'write-or-mode-change', failureQualifierMismatch: 'warn', unusedOutputZero: 'warn' },
};

const M = 1;
const BASE = 0x1_0000_0000n;

function ok(parts: { result?: Uint8Array; output?: Uint8Array } = {}): AdminCommandResponse {
  const result = parts.result ?? new Uint8Array(0);
  return { status: Status.OK, qualifier: Qualifier.OK, output: parts.output ?? new Uint8Array(4), result, usedLength: 8 + result.length };
}

function refused(qualifier: number = Qualifier.INVALID_COMMAND, status: number = Status.EINVAL): AdminCommandResponse {
  return { status, qualifier, output: new Uint8Array(4), result: new Uint8Array(0), usedLength: 8 };
}

/** A well-formed context of a one-queue block member, 235 bytes (seed-v2 packed layout). */
function context(availIdx = 0): Uint8Array {
  const common = encodePciCommonCfg({
    deviceFeatureSelect: 0,
    deviceFeature: 0,
    driverFeatureSelect: 0,
    driverFeature: 0,
    configMsixVector: 0,
    numQueues: 1,
    deviceStatus: 15,
    configGeneration: 0,
    queueSelect: 0,
    queueSize: 256,
    queueMsixVector: 1,
    queueEnable: 1,
    queueNotifyOff: 0,
    queueDesc: BASE,
    queueDriver: BASE + 0x1000n,
    queueDevice: BASE + 0x2000n,
  });
  return encodeDevCtx(
    {
      fields: [
        { type: DevCtxType.PCI_COMMON_CFG, value: common },
        { type: DevCtxType.DEV_FEATURES, value: encodeDevFeatures(1n << 32n) },
        { type: DevCtxType.PCI_VQ_CFG, value: encodePciVqCfg({ vqIndex: 0, queueSize: 256, queueMsixVector: 1, queueDesc: BASE, queueDriver: BASE + 0x1000n, queueDevice: BASE + 0x2000n }, 'packed') },
        { type: DevCtxType.VQ_SPLIT_RUNTIME_CFG, value: encodeVqSplitRuntime({ vqIndex: 0, devAvailIdx: availIdx, enabled: 1 }) },
        { type: DevCtxType.DEV_CFG, value: new Uint8Array(36).fill(7) },
      ],
    },
    'packed',
  );
}

const CTX = context();

/** A READ answer of `cap` bytes of `ctx` from `at` (context_len = bytes returned). */
function readAnswer(ctx: Uint8Array, at: number, cap: number): AdminCommandResponse {
  const data = ctx.subarray(at, Math.min(ctx.length, at + cap));
  return ok({ output: encodeCtxReadOutput(data.length), result: data.slice() });
}

const call = {
  get: (): AdminCall => ({ op: 'MODE_GET', member: M }),
  set: (mode: number): AdminCall => ({ op: 'MODE_SET', member: M, mode }),
  size: (freezeMode = 0): AdminCall => ({ op: 'SIZE_GET', member: M, freezeMode }),
  read: (capacity: number): AdminCall => ({ op: 'CTX_READ', member: M, capacity }),
  write: (data: Uint8Array): AdminCall => ({ op: 'CTX_WRITE', member: M, data }),
  discard: (): AdminCall => ({ op: 'DISCARD', member: M }),
  cap: (): AdminCall => ({ op: 'CAP_QUERY', member: M }),
  start: (pageSize: bigint, entries: { pageAddress: bigint; pageCount: bigint }[]): AdminCall => ({ op: 'RECORDS_START', member: M, pageSize, entries }),
  stop: (): AdminCall => ({ op: 'RECORDS_STOP', member: M }),
  records: (pageAddress: bigint, length: bigint, capacity = 4096): AdminCall => ({ op: 'RECORDS_READ', member: M, pageAddress, length, capacity }),
};

/** History: the member is put in `mode` (OK). */
const toMode = (mode: number): HistoryEntry => ({ call: call.set(mode), response: ok() });

/** History: the whole context read in one READ. */
const readAll = (ctx = CTX): HistoryEntry => ({ call: call.read(4096), response: readAnswer(ctx, 0, 4096) });

function rules(v: Violation[], severity: Violation['severity'] = 'fail'): string[] {
  return v.filter((x) => x.severity === severity).map((x) => x.rule);
}

const CAPS: HistoryEntry = { call: call.cap(), response: ok({ result: encodeWriteRecordCapResult({ supportedPageSizeBitmap: 1 | (1 << 9), supportedRanges: 4 }) }) };
const START: HistoryEntry = { call: call.start(4096n, [{ pageAddress: BASE, pageCount: 16n }]), response: ok() };
const records = (pages: bigint[]) => ok(encodeWriteRecordsReadResult(pages, SEED_V2_WIRE));

describe('the oracle accepts what the draft allows', () => {
  it('takes a plain stop-and-copy on the source', () => {
    const o = new Oracle(CONFIG);
    const steps: [AdminCall, AdminCommandResponse][] = [
      [call.get(), ok({ result: encodeModeGetResult(DeviceMode.ACTIVE) })],
      [call.size(0), ok({ result: encodeSizeGetResult(4096n) })],
      [call.set(DeviceMode.STOP), ok()],
      [call.set(DeviceMode.FREEZE), ok()],
      [call.size(0), ok({ result: encodeSizeGetResult(235n) })],
      [call.read(64), readAnswer(CTX, 0, 64)],
      [call.size(0), ok({ result: encodeSizeGetResult(171n) })],
      [call.read(256), readAnswer(CTX, 64, 256)],
      [call.read(64), readAnswer(CTX, 235, 64)],
      [call.size(0), ok({ result: encodeSizeGetResult(0n) })],
      [call.write(CTX.subarray(0, 64)), ok()],
      [call.write(CTX.subarray(64)), ok()],
      [call.set(DeviceMode.ACTIVE), ok()],
    ];
    for (const [c, r] of steps) expect(o.observe(c, r), JSON.stringify(c, (_, v) => (typeof v === 'bigint' ? String(v) : v))).toEqual([]);
  });

  it('allows any size estimate in Active and Stop, and either answer where the draft contradicts itself', () => {
    expect(check([], call.size(0), ok({ result: encodeSizeGetResult(0n) }), CONFIG)).toEqual([]);
    expect(check([toMode(DeviceMode.STOP)], call.size(0), ok({ result: encodeSizeGetResult(1n << 40n) }), CONFIG)).toEqual([]);
    // SD2 (same mode succeeds) against SD5 (fails while partially read): both answers.
    const partialInStop = [toMode(DeviceMode.STOP), { call: call.read(8), response: readAnswer(CTX, 0, 8) }];
    expect(check(partialInStop, call.set(DeviceMode.STOP), ok(), CONFIG)).toEqual([]);
    expect(rules(check(partialInStop, call.set(DeviceMode.STOP), refused(), CONFIG))).toEqual([]);
    // MODE_SET Freeze with a partial read: not covered by SD5.
    expect(rules(check(partialInStop, call.set(DeviceMode.FREEZE), refused(), CONFIG))).toEqual([]);
    expect(check(partialInStop, call.set(DeviceMode.FREEZE), ok(), CONFIG)).toEqual([]);
  });

  it('allows a field-length mismatch to be refused at the WRITE or at the MODE_SET (E21)', () => {
    const bad = encodeDevCtx({ fields: [{ type: DevCtxType.VQ_SPLIT_RUNTIME_CFG, value: new Uint8Array(6) }] }, 'packed');
    const inFreeze = [toMode(DeviceMode.FREEZE), readAll()];
    expect(rules(check(inFreeze, call.write(bad), refused(Qualifier.INVALID_FIELD), CONFIG))).toEqual([]);
    expect(rules(check(inFreeze, call.write(bad), ok(), CONFIG))).toEqual([]);
    const accepted = [...inFreeze, { call: call.write(bad), response: ok() }];
    expect(rules(check(accepted, call.set(DeviceMode.ACTIVE), refused(), CONFIG))).toEqual([]);
    expect(rules(check(accepted, call.set(DeviceMode.ACTIVE), ok(), CONFIG))).toEqual(['ctx-write.field-length-mismatch-fails']);
    // Profile: the error must come at the WRITE.
    expect(rules(check(inFreeze, call.write(bad), ok(), { ...CONFIG, settings: { ...CONFIG.settings, fieldLengthMismatchAt: 'write' } }))).toEqual(['ctx-write.field-length-mismatch-fails']);
  });

  it('allows a new context in Active after a stream ended there (E16), and zero after the end only in Freeze', () => {
    const ended = [readAll()];
    expect(check(ended, call.read(64), readAnswer(context(3), 0, 64), CONFIG)).toEqual([]);
    expect(check(ended, call.size(0), ok({ result: encodeSizeGetResult(235n) }), CONFIG)).toEqual([]);
  });

  it('makes a P5 qualifier preference a finding, not a failure', () => {
    const v = check([], call.set(7), refused(Qualifier.NORESOURCE, Status.ENOMEM), CONFIG);
    expect(rules(v)).toEqual([]);
    expect(rules(v, 'finding')).toEqual(['mode.set-reserved-mode-fails']);
  });
});

describe('the oracle rejects what the draft forbids, naming the rule', () => {
  const cases: { name: string; history: HistoryEntry[]; call: AdminCall; outcome: AdminCommandResponse; rule: string }[] = [
    { name: 'a reserved mode accepted', history: [], call: call.set(3), outcome: ok(), rule: 'mode.set-reserved-mode-fails' },
    { name: 'MODE_SET to the current mode refused', history: [toMode(DeviceMode.FREEZE)], call: call.set(DeviceMode.FREEZE), outcome: refused(), rule: 'mode.set-same-mode-succeeds' },
    {
      name: 'a failed MODE_SET that changed the mode',
      history: [{ call: call.set(200), response: refused(Qualifier.INVALID_FIELD) }],
      call: call.get(),
      outcome: ok({ result: encodeModeGetResult(DeviceMode.FREEZE) }),
      rule: 'mode.set-failure-keeps-mode',
    },
    { name: 'MODE_GET not reporting the mode set', history: [toMode(DeviceMode.STOP)], call: call.get(), outcome: ok({ result: encodeModeGetResult(DeviceMode.ACTIVE) }), rule: 'mode.set-applies-mode' },
    { name: 'MODE_GET returning a reserved value', history: [], call: call.get(), outcome: ok({ result: encodeModeGetResult(9) }), rule: 'mode.get-returns-valid-mode' },
    {
      name: 'Active accepted while the read is partial',
      history: [toMode(DeviceMode.STOP), { call: call.read(8), response: readAnswer(CTX, 0, 8) }],
      call: call.set(DeviceMode.ACTIVE),
      outcome: ok(),
      rule: 'mode.set-fails-while-read-partial',
    },
    {
      name: 'Active accepted while the write is partial',
      history: [toMode(DeviceMode.FREEZE), readAll(), { call: call.write(CTX.subarray(0, 64)), response: ok() }],
      call: call.set(DeviceMode.ACTIVE),
      outcome: ok(),
      rule: 'mode.set-fails-while-write-partial',
    },
    { name: 'a transition refused with nothing pending', history: [], call: call.set(DeviceMode.FREEZE), outcome: refused(), rule: 'mode.any-transition-allowed' },
    { name: 'READ refused', history: [toMode(DeviceMode.STOP)], call: call.read(64), outcome: refused(), rule: 'ctx-read.supported-in-every-mode' },
    { name: 'context_len beyond the buffer', history: [], call: call.read(8), outcome: ok({ output: encodeCtxReadOutput(16), result: CTX.slice(0, 16) }), rule: 'ctx-read.context-len-reports-returned-bytes' },
    { name: 'data after the end in Freeze', history: [toMode(DeviceMode.FREEZE), readAll()], call: call.read(64), outcome: readAnswer(CTX, 0, 64), rule: 'ctx-read.zero-len-after-stream-end' },
    { name: 'SIZE_GET not 0 after the end in Freeze', history: [toMode(DeviceMode.FREEZE), readAll()], call: call.size(0), outcome: ok({ result: encodeSizeGetResult(235n) }), rule: 'ctx-size.zero-after-stream-end' },
    { name: 'freeze_mode 2 accepted', history: [], call: call.size(2), outcome: ok({ result: encodeSizeGetResult(1n) }), rule: 'ctx-size.freeze-mode-invalid-fails' },
    {
      name: 'SIZE_GET 0 after a DISCARD of a read stream in Freeze',
      history: [toMode(DeviceMode.FREEZE), readAll(), { call: call.discard(), response: ok() }],
      call: call.size(0),
      outcome: ok({ result: encodeSizeGetResult(0n) }),
      rule: 'ctx-discard.size-restarts-after-discard',
    },
    {
      name: 'READ going on after DISCARD instead of restarting',
      history: [toMode(DeviceMode.FREEZE), readAll(), { call: call.discard(), response: ok() }],
      call: call.read(64),
      outcome: readAnswer(CTX, 64, 64),
      rule: 'ctx-discard.read-restarts-after-discard',
    },
    {
      name: 'a short READ while context is left in Freeze',
      history: [toMode(DeviceMode.FREEZE), readAll(), { call: call.discard(), response: ok() }],
      call: call.read(64),
      outcome: readAnswer(CTX, 0, 32),
      rule: 'ctx-read.short-read-only-at-stream-end',
    },
    {
      name: 'a different context in the same Freeze period',
      history: [toMode(DeviceMode.FREEZE), readAll(), { call: call.discard(), response: ok() }],
      call: call.read(4096),
      outcome: readAnswer(context(5), 0, 4096),
      rule: 'mode.freeze-context-unchanged',
    },
    {
      name: 'the stream returned from its start again',
      history: [toMode(DeviceMode.FREEZE), readAll(), { call: call.discard(), response: ok() }, { call: call.read(64), response: readAnswer(CTX, 0, 64) }],
      call: call.read(64),
      outcome: readAnswer(CTX, 0, 64),
      rule: 'ctx-read.read-data-cleared',
    },
    { name: 'a malformed stream', history: [], call: call.read(4096), outcome: ok({ output: encodeCtxReadOutput(6), result: Uint8Array.of(3, 0, 0, 0, 1, 2) }), rule: 'ctx-format.stream-layout' },
    { name: 'WRITE accepted in Active', history: [], call: call.write(CTX), outcome: ok(), rule: 'ctx-write.fails-unless-freeze' },
    {
      name: 'the own context refused in chunks',
      history: [toMode(DeviceMode.FREEZE), readAll(), { call: call.write(CTX.subarray(0, 64)), response: ok() }],
      call: call.write(CTX.subarray(64, 128)),
      outcome: refused(Qualifier.INVALID_FIELD),
      rule: 'ctx-write.multi-command-stream',
    },
    {
      name: 'a second complete context refused',
      history: [toMode(DeviceMode.FREEZE), readAll(), { call: call.write(CTX), response: ok() }],
      call: call.write(CTX),
      outcome: refused(Qualifier.INVALID_FIELD),
      rule: 'ctx-write.complete-context-multiple-times',
    },
    { name: 'DISCARD refused with a partial read', history: [{ call: call.read(8), response: readAnswer(CTX, 0, 8) }], call: call.discard(), outcome: refused(), rule: 'ctx-discard.discards-partial-read' },
    { name: 'a qualifier with status OK', history: [], call: call.get(), outcome: { ...ok({ result: encodeModeGetResult(0) }), qualifier: 3 }, rule: 'admin.ok-qualifier-zero' },
    { name: 'CAP_QUERY with no page size', history: [], call: call.cap(), outcome: ok({ result: encodeWriteRecordCapResult({ supportedPageSizeBitmap: 0, supportedRanges: 1 }) }), rule: 'wr.cap-page-size-bitmap-nonzero' },
    { name: 'CAP_QUERY with no ranges', history: [], call: call.cap(), outcome: ok({ result: encodeWriteRecordCapResult({ supportedPageSizeBitmap: 1, supportedRanges: 0 }) }), rule: 'wr.cap-supported-ranges-nonzero' },
    { name: 'START with an unadvertised page size accepted', history: [CAPS], call: call.start(8192n, [{ pageAddress: BASE, pageCount: 1n }]), outcome: ok(), rule: 'wr.start-unadvertised-page-size-fails' },
    { name: 'START with an unaligned address accepted', history: [CAPS], call: call.start(4096n, [{ pageAddress: BASE + 512n, pageCount: 1n }]), outcome: ok(), rule: 'wr.start-unaligned-address-fails' },
    { name: 'a valid START refused', history: [CAPS], call: call.start(4096n, [{ pageAddress: BASE, pageCount: 4n }]), outcome: refused(), rule: 'wr.start-accepts-up-to-supported-ranges' },
    { name: 'a valid 2 MiB START refused', history: [CAPS], call: call.start(2n << 20n, [{ pageAddress: BASE, pageCount: 1n }]), outcome: refused(), rule: 'wr.page-size-bit-encoding' },
    { name: 'STOP refused', history: [], call: call.stop(), outcome: refused(), rule: 'wr.stop-succeeds-when-not-recording' },
    { name: 'records READ before any START', history: [CAPS], call: call.records(BASE, 4096n), outcome: records([]), rule: 'wr.read-fails-when-not-started' },
    { name: 'records READ after STOP', history: [CAPS, START, { call: call.stop(), response: ok() }], call: call.records(BASE, 4096n), outcome: records([]), rule: 'wr.read-after-stop-fails' },
    { name: 'a record outside the READ range', history: [CAPS, START], call: call.records(BASE, 4096n), outcome: records([BASE + 0x3000n]), rule: 'wr.read-returns-records-in-range' },
    { name: 'an unaligned record', history: [CAPS, START], call: call.records(BASE, 0x4000n), outcome: records([BASE + 0x10n]), rule: 'wr.record-is-page-address' },
    { name: 'more records than fit', history: [CAPS, START], call: call.records(BASE, 0x4000n, 8), outcome: records([BASE, BASE + 0x1000n]), rule: 'wr.read-count-in-output' },
    {
      name: 'a written page missing from a short answer',
      history: [CAPS, START, { event: 'DMA', member: M, accesses: [{ kind: 'write', addr: BASE + 0x1004n, len: 8 }], exact: false }],
      call: call.records(BASE, 0x10000n),
      outcome: records([]),
      rule: 'wr.start-records-writes-in-range',
    },
    {
      name: 'records gathered before an FLR lost',
      history: [CAPS, START, { event: 'DMA', member: M, accesses: [{ kind: 'write', addr: BASE + 0x2000n, len: 8 }], exact: false }, { event: 'FLR', member: M }],
      call: call.records(BASE, 0x10000n),
      outcome: records([]),
      rule: 'wr.flr-keeps-records',
    },
    {
      name: 'writes after an FLR not recorded',
      history: [CAPS, START, { event: 'FLR', member: M }, { event: 'DMA', member: M, accesses: [{ kind: 'write', addr: BASE + 0x2000n, len: 8 }], exact: false }],
      call: call.records(BASE, 0x10000n),
      outcome: records([]),
      rule: 'wr.flr-keeps-recording',
    },
    {
      name: 'a page written again after its record was read',
      history: [
        CAPS,
        START,
        { event: 'DMA', member: M, accesses: [{ kind: 'write', addr: BASE, len: 8 }], exact: false },
        { call: call.records(BASE, 0x10000n), response: records([BASE]) },
        { event: 'DMA', member: M, accesses: [{ kind: 'write', addr: BASE, len: 8 }], exact: false },
      ],
      call: call.records(BASE, 0x10000n),
      outcome: records([]),
      rule: 'wr.rewrite-reported-again',
    },
    {
      name: 'a record returned twice (DMA log: no write between)',
      history: [CAPS, START, { event: 'DMA', member: M, accesses: [{ kind: 'write', addr: BASE, len: 8 }], exact: true }, { call: call.records(BASE, 0x10000n), response: records([BASE]) }],
      call: call.records(BASE, 0x10000n),
      outcome: records([BASE]),
      rule: 'wr.read-clears-returned-records',
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const cfg = c.name.includes('DMA log') ? { ...CONFIG, exactWrites: true } : CONFIG;
      const v = check(c.history, c.call, c.outcome, cfg);
      expect(rules(v), v.map((x) => `${x.rule}: ${x.observed}`).join('; ')).toContain(c.rule);
      const named = v.find((x) => x.rule === c.rule)!;
      expect(named.allowed.length).toBeGreaterThan(0);
      expect(named.command).toMatch(/^[A-Z_]+\(1/);
    });
  }

  it('points at a refusal that changed state (GD4) when the next command shows it', () => {
    const history = [toMode(DeviceMode.FREEZE), readAll(), { call: call.set(77), response: refused(Qualifier.INVALID_FIELD) }];
    const v = rules(check(history, call.read(64), readAnswer(CTX, 0, 64), CONFIG));
    expect(v).toContain('ctx-read.zero-len-after-stream-end');
    expect(v).toContain('admin.gd4-einval-no-side-effects');
    // The same wrong answer with no refusal before it is not blamed on GD4.
    expect(rules(check(history.slice(0, 2), call.read(64), readAnswer(CTX, 0, 64), CONFIG))).not.toContain('admin.gd4-einval-no-side-effects');
  });

  it('names the SHOULD of a member FLR that changed the mode as a WARN (E22)', () => {
    const v = check([toMode(DeviceMode.STOP), { event: 'FLR', member: M }], call.get(), ok({ result: encodeModeGetResult(DeviceMode.ACTIVE) }), CONFIG);
    expect(rules(v, 'warn')).toEqual(['member.flr-keeps-mode']);
    expect(rules(v)).toEqual([]);
  });

  it('flags device memory accesses outside Active from the DMA log', () => {
    const o = new Oracle({ ...CONFIG, exactWrites: true });
    o.observe(call.set(DeviceMode.STOP), ok());
    expect(o.event({ event: 'DMA', member: M, accesses: [{ kind: 'read', addr: BASE, len: 2 }], exact: true }).map((x) => x.rule)).toEqual(['member.no-pci-transaction-outside-active']);
    // Accesses while a MODE_SET runs belong to the transition (SD11b).
    expect(o.event({ event: 'DMA', member: M, accesses: [{ kind: 'read', addr: BASE, len: 2 }], exact: true, during: 'MODE_SET' })).toEqual([]);
  });

  it('lists the allowed outcomes of a command with the rule behind each', () => {
    const o = new Oracle(CONFIG);
    o.observe(call.set(DeviceMode.FREEZE), ok());
    o.observe(call.read(4096), readAnswer(CTX, 0, 4096));
    const allowed = o.allowed(call.read(64));
    expect(allowed.map((c) => c.rule)).toContain('ctx-read.zero-len-after-stream-end');
    expect(allowed.find((c) => c.rule === 'ctx-read.zero-len-after-stream-end')!.allowed).toMatch(/context_len 0/);
  });
});
