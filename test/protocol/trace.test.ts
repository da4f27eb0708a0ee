import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeCtxReadOutput,
  encodeCtxWriteData,
  encodeFieldsQueryResult,
  encodeModeGetResult,
  encodeModeSetData,
  encodeOpcodeBitmap,
  encodeSizeGetData,
  encodeSizeGetResult,
  encodeWriteRecordCapResult,
  encodeWriteRecordsReadData,
  encodeWriteRecordsReadResult,
  encodeWriteRecordsStartData,
} from '../../protocol/commands.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import { encodeDevFeatures, encodePciVqCfg, encodeVqSplitRuntime } from '../../protocol/dev-ctx-fields.ts';
import { encodeDevCtx, type VirtioDevCtxFieldTlv } from '../../protocol/device-context.ts';
import { TABLE_NUMBERING } from '../../protocol/opcodes.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import {
  describeCommand,
  describeCompletion,
  formatSize,
  makeTraceEntry,
  opcodeLabel,
  renderTraceEntry,
  summarizeDevCtxChunk,
  TRACE_LIST_LIMIT,
  type TraceCompletion,
  type TraceEntry,
} from '../../protocol/trace.ts';
import { TransportTimeoutError } from '../../protocol/transport-errors.ts';
import { SEED_V2_WIRE, wireOptions } from '../../protocol/wire-options.ts';
import { arbU16, arbU64, arbWire, hx } from './helpers.ts';

const W = SEED_V2_WIRE;
const RESULT_COUNT = wireOptions({
  opcodeNumbering: 'table',
  ctxWriteData: 'raw',
  writeRecordsCount: 'command_specific_result',
  ctxStreamAlignment: 'packed',
  pciVqCfgLayout: 'packed',
  pciCommonCfgLength: 64,
});
const TEXT = wireOptions({
  opcodeNumbering: 'text',
  ctxWriteData: 'legacy-offset-header',
  writeRecordsCount: 'command_specific_output',
  ctxStreamAlignment: 'natural',
  pciVqCfgLayout: 'natural',
  pciCommonCfgLength: 64,
});

const cmd = (opcode: number, data: Uint8Array = new Uint8Array(0), memberId = 2n, groupType = 1) => ({ opcode, groupType, memberId, data });
const ok = (result: Uint8Array = new Uint8Array(0), output: Uint8Array = new Uint8Array(4)): TraceCompletion => ({
  status: 0,
  qualifier: 0,
  output,
  result,
  usedLength: 8 + result.length,
});

/** A context like a device's: common cfg, features, two queues of vq cfg + split runtime, device config. */
function sampleContext(queues = 2): VirtioDevCtxFieldTlv[] {
  const fields: VirtioDevCtxFieldTlv[] = [
    { type: 0x0, value: new Uint8Array(64) },
    { type: 0x1, value: encodeDevFeatures(1n << 32n) },
  ];
  for (let q = 0; q < queues; q++) fields.push({ type: 0x2, value: encodePciVqCfg({ vqIndex: q, queueSize: 256, queueMsixVector: q, queueDesc: 0n, queueDriver: 0n, queueDevice: 0n }, 'packed') });
  for (let q = 0; q < queues; q++) fields.push({ type: 0x3, value: encodeVqSplitRuntime({ vqIndex: q, devAvailIdx: 0, enabled: 1 }) });
  fields.push({ type: 0x1000, value: new Uint8Array(12) });
  return fields;
}

describe('describeCommand', () => {
  it('renders the mode commands', () => {
    expect(describeCommand(cmd(0x8, encodeModeSetData(1)), W)).toBe('DEV_MODE_SET(0x8) member=2 mode=Stop');
    expect(describeCommand(cmd(0x8, hx('02 00 00 00 00 00 00 00')), W)).toBe('DEV_MODE_SET(0x8) member=2 mode=Freeze');
    expect(describeCommand(cmd(0x8, encodeModeSetData(7)), W)).toBe('DEV_MODE_SET(0x8) member=2 mode=reserved(0x7)');
    expect(describeCommand(cmd(0x8), W)).toBe('DEV_MODE_SET(0x8) member=2 mode=<missing>');
    expect(describeCommand(cmd(0x7), W)).toBe('DEV_MODE_GET(0x7) member=2');
    expect(describeCommand(cmd(0x9, encodeSizeGetData(1)), W)).toBe('DEV_CTX_SIZE_GET(0x9) member=2 freeze_mode=1');
  });

  it('renders write-record commands', () => {
    const start = encodeWriteRecordsStartData({ pageSize: 4096n, entries: [{ pageAddress: 0x1_0000_0000n, pageCount: 16n }] });
    expect(describeCommand(cmd(0x10, start, 1n), W)).toBe('DEV_WRITE_RECORDS_START(0x10) member=1 page_size=4096 ranges=[0x100000000+16 pages]');
    const two = encodeWriteRecordsStartData({
      pageSize: 8192n,
      entries: [
        { pageAddress: 0x2000n, pageCount: 1n },
        { pageAddress: 0x10000n, pageCount: 4n },
      ],
    });
    expect(describeCommand(cmd(0x10, two, 1n), W)).toBe('DEV_WRITE_RECORDS_START(0x10) member=1 page_size=8192 ranges=[0x2000+1 page, 0x10000+4 pages]');
    const read = encodeWriteRecordsReadData({ pageAddress: 0x1_0000_0000n, length: 65536n });
    expect(describeCommand({ ...cmd(0x12, read, 1n), resultCapacity: 512 }, W)).toBe(
      'DEV_WRITE_RECORDS_READ(0x12) member=1 page_address=0x100000000 length=65536 result_capacity=512',
    );
    expect(describeCommand(cmd(0xf, new Uint8Array(8), 1n), W)).toBe('DEV_WRITE_RECORD_CAP_QUERY(0xf) member=1');
    expect(describeCommand(cmd(0x11, new Uint8Array(0), 1n), W)).toBe('DEV_WRITE_RECORDS_STOP(0x11) member=1');
  });

  it('elides long range lists', () => {
    const entries = Array.from({ length: 20 }, (_, i) => ({ pageAddress: BigInt(i) << 20n, pageCount: 1n }));
    const s = describeCommand(cmd(0x10, encodeWriteRecordsStartData({ pageSize: 4096n, entries })), W);
    expect(s).toContain(`... +${20 - TRACE_LIST_LIMIT} more]`);
    expect(s.split('+1 page').length - 1).toBe(TRACE_LIST_LIMIT);
  });

  it('renders malformed data as <undecodable: reason>', () => {
    const bad = encodeWriteRecordsStartData({ pageSize: 4096n, count: 5, entries: [] });
    expect(describeCommand(cmd(0x10, bad, 1n), W)).toMatch(/^DEV_WRITE_RECORDS_START\(0x10\) member=1 <undecodable: .*count 5 needs 80 bytes/);
    expect(describeCommand(cmd(0x12, hx('00 10'), 1n), W)).toMatch(/^DEV_WRITE_RECORDS_READ\(0x12\) member=1 <undecodable: /);
  });

  it('renders list commands, group type and unknown opcodes', () => {
    expect(describeCommand(cmd(0x0, new Uint8Array(0), 0n), W)).toBe('LIST_QUERY(0x0)');
    expect(describeCommand({ ...cmd(0x0, new Uint8Array(0), 0n), resultCapacity: 8 }, W)).toBe('LIST_QUERY(0x0) result_capacity=8');
    const use = encodeOpcodeBitmap([0, 1, 7, 8, 9, 10, 11, 12, 13, 0xf, 0x10, 0x11, 0x12]);
    expect(describeCommand(cmd(0x1, use, 0n), W)).toBe('LIST_USE(0x1) opcodes=0x0-0x1,0x7-0xd,0xf-0x12');
    expect(describeCommand(cmd(0x1, new Uint8Array(8), 3n), W)).toBe('LIST_USE(0x1) member=3 opcodes=none');
    expect(describeCommand(cmd(0x7, new Uint8Array(0), 1n, 0), W)).toBe('DEV_MODE_GET(0x7) group=0x0 member=1');
    expect(describeCommand(cmd(0xe, hx('01 02'), 1n), W)).toBe('UNKNOWN(0xe) member=1 data=2 bytes [01 02]');
    expect(describeCommand(cmd(0x8000, new Uint8Array(0), 1n), W)).toBe('RESERVED(0x8000) member=1');
    expect(describeCommand(cmd(0x7, hx('00 00 00 00 00 00 00 01')), W)).toBe('DEV_MODE_GET(0x7) member=2 data=8 bytes [00 00 00 00 00 00 00 01]');
  });

  it('follows the opcode numbering of the profile (E1)', () => {
    expect(describeCommand(cmd(0xd), TEXT)).toBe('DEV_CTX_DISCARD(0xd) member=2');
    expect(describeCommand(cmd(0xf), TEXT)).toBe('DEV_WRITE_RECORDS_STOP(0xf) member=2');
    expect(describeCommand(cmd(0xf), W)).toBe('DEV_WRITE_RECORD_CAP_QUERY(0xf) member=2');
    expect(opcodeLabel(0x12, TEXT)).toBe('UNKNOWN(0x12)');
  });

  it('DEV_CTX_WRITE: byte count, and a TLV summary when the chunk starts the stream', () => {
    const stream = encodeDevCtx({ fields: sampleContext() }, 'packed');
    expect(describeCommand(cmd(0xb, stream), W)).toBe(`DEV_CTX_WRITE(0xb) member=2 data=${stream.length} bytes`);
    expect(describeCommand(cmd(0xb, stream.subarray(0, 100)), W, { streamOffset: 4096 })).toBe('DEV_CTX_WRITE(0xb) member=2 data=100 bytes');
    expect(describeCommand(cmd(0xb, stream), W, { streamOffset: 0 })).toBe(
      `DEV_CTX_WRITE(0xb) member=2 data=${stream.length} bytes field_count=7 types=PCI_COMMON_CFG,DEV_FEATURES,PCI_VQ_CFGx2,VQ_SPLIT_RUNTIME_CFGx2,DEV_CFG`,
    );
    // Legacy offset header (E7 alternative): the 8-byte header is not context bytes.
    const natural = encodeDevCtx({ fields: sampleContext() }, 'natural');
    expect(describeCommand(cmd(0xb, encodeCtxWriteData(natural, TEXT)), TEXT, { streamOffset: 0 })).toBe(
      `DEV_CTX_WRITE(0xb) member=2 data=${natural.length} bytes field_count=7 types=PCI_COMMON_CFG,DEV_FEATURES,PCI_VQ_CFGx2,VQ_SPLIT_RUNTIME_CFGx2,DEV_CFG`,
    );
  });
});

describe('describeCompletion', () => {
  it('renders status, qualifier and used length', () => {
    expect(describeCompletion(0x8, ok(), W)).toBe('-> OK used=8');
    expect(describeCompletion(0x8, { ...ok(), status: Status.EINVAL, qualifier: Qualifier.INVALID_FIELD }, W)).toBe('-> EINVAL/INVALID_FIELD used=8');
    expect(describeCompletion(0x8, { ...ok(), status: 5, qualifier: 9 }, W)).toBe('-> reserved(5)/reserved(0x9) used=8');
    expect(describeCompletion(0x8, { ...ok(), qualifier: 3 }, W)).toBe('-> OK/INVALID_FIELD used=8');
    expect(describeCompletion(0x8, { ...ok(), status: Status.EINVAL, qualifier: 2, result: hx('01'), usedLength: 9 }, W)).toBe(
      '-> EINVAL/INVALID_OPCODE used=9 result=1 bytes',
    );
  });

  it('shows non-zero command_specific_output of commands that do not use it (E32)', () => {
    expect(describeCompletion(0x8, ok(new Uint8Array(0), hx('01 00 00 00')), W)).toBe('-> OK used=8 output=[01 00 00 00]');
  });

  it('renders MODE_GET, SIZE_GET, FIELDS_QUERY, CAP_QUERY and LIST_QUERY results', () => {
    expect(describeCompletion(0x7, ok(encodeModeGetResult(2)), W)).toBe('-> OK mode=Freeze');
    expect(describeCompletion(0x9, ok(encodeSizeGetResult(1n << 60n)), W)).toBe('-> OK size=1152921504606846976');
    expect(
      describeCompletion(0xc, ok(encodeFieldsQueryResult([{ type: 0, length: 64n }, { type: 2, length: 30n }, { type: 0x1000, length: 12n }])), W),
    ).toBe('-> OK fields=[PCI_COMMON_CFG:64, PCI_VQ_CFG:30, DEV_CFG:12]');
    expect(describeCompletion(0xf, ok(encodeWriteRecordCapResult({ supportedPageSizeBitmap: 0x8000_0201, supportedRanges: 8 })), W)).toBe(
      '-> OK page_sizes=4KiB,2MiB,8TiB (bitmap=0x80000201) supported_ranges=8',
    );
    expect(describeCompletion(0x0, ok(encodeOpcodeBitmap([0, 1, 7, 8, 64])), W)).toBe('-> OK opcodes=0x0-0x1,0x7-0x8,0x40');
  });

  it('renders DEV_CTX_READ with context_len and a summary at stream offset 0', () => {
    const stream = encodeDevCtx({ fields: sampleContext() }, 'packed');
    const chunk = stream.subarray(0, 100);
    const resp = ok(chunk, encodeCtxReadOutput(100));
    expect(describeCompletion(0xa, resp, W)).toBe('-> OK context_len=100 data=100 bytes');
    expect(describeCompletion(0xa, resp, W, { streamOffset: 100 })).toBe('-> OK context_len=100 data=100 bytes');
    expect(describeCompletion(0xa, resp, W, { streamOffset: 0 })).toBe('-> OK context_len=100 data=100 bytes field_count=7 types=PCI_COMMON_CFG,DEV_FEATURES,...');
    expect(describeCompletion(0xa, ok(new Uint8Array(0), encodeCtxReadOutput(0)), W, { streamOffset: 0 })).toBe('-> OK context_len=0 data=0 bytes');
    expect(describeCompletion(0xa, ok(new Uint8Array(0), hx('00 00 00')), W)).toMatch(/^-> OK <undecodable: .*context_len.*> used=8$/);
  });

  it('DEV_CTX_READ summary of a large context compresses runs and elides', () => {
    const fields: VirtioDevCtxFieldTlv[] = [];
    for (let q = 0; q < 10; q++) {
      fields.push({ type: 2, value: new Uint8Array(30) });
      fields.push({ type: 3, value: new Uint8Array(5) });
    }
    const stream = encodeDevCtx({ fields }, 'packed');
    const s = describeCompletion(0xa, ok(stream, encodeCtxReadOutput(stream.length)), W, { streamOffset: 0 });
    expect(s).toBe(`-> OK context_len=${stream.length} data=${stream.length} bytes field_count=20 types=${'PCI_VQ_CFG,VQ_SPLIT_RUNTIME_CFG,'.repeat(4)}...`);
  });

  it('renders WRITE_RECORDS_READ addresses with either count placement (E8), truncating long lists', () => {
    const addrs = [0x1_0000_0000n, 0x1_0000_3000n, 0x1_0000_5000n];
    const o = encodeWriteRecordsReadResult(addrs, W);
    expect(describeCompletion(0x12, ok(o.result, o.output), W)).toBe('-> OK count=3 [0x100000000, 0x100003000, 0x100005000]');
    const r = encodeWriteRecordsReadResult(addrs, RESULT_COUNT);
    expect(describeCompletion(0x12, ok(r.result, r.output), RESULT_COUNT)).toBe('-> OK count=3 [0x100000000, 0x100003000, 0x100005000]');
    const many = Array.from({ length: 50 }, (_, i) => 0x1000n * BigInt(i));
    const m = encodeWriteRecordsReadResult(many, W);
    const s = describeCompletion(0x12, ok(m.result, m.output), W);
    expect(s.startsWith('-> OK count=50 [0x0, 0x1000, ')).toBe(true);
    expect(s.endsWith(`, ... +${50 - TRACE_LIST_LIMIT} more]`)).toBe(true);
    expect(describeCompletion(0x12, ok(new Uint8Array(8), hx('05 00 00 00')), W)).toMatch(/^-> OK <undecodable: .*count 5 needs 40 bytes.*> used=16$/);
  });

  it('shows the used length when the device wrote less than the header', () => {
    expect(describeCompletion(0x7, { status: 0, qualifier: 0, output: new Uint8Array(4), result: new Uint8Array(0), usedLength: 2 }, W)).toMatch(
      /^-> OK <undecodable: .*> used=2$/,
    );
  });
});

describe('summarizeDevCtxChunk', () => {
  it('counts fields, compresses runs, marks a cut chunk', () => {
    const stream = encodeDevCtx({ fields: sampleContext(3) }, 'packed');
    expect(summarizeDevCtxChunk(stream, 'packed')).toBe('field_count=9 types=PCI_COMMON_CFG,DEV_FEATURES,PCI_VQ_CFGx3,VQ_SPLIT_RUNTIME_CFGx3,DEV_CFG');
    expect(summarizeDevCtxChunk(stream.subarray(0, 4), 'packed')).toBe('field_count=9 types=...');
    expect(summarizeDevCtxChunk(hx('00 00 00 00'), 'packed')).toBe('field_count=0');
    expect(summarizeDevCtxChunk(hx('00 00'), 'packed')).toMatch(/^<undecodable: /);
    expect(summarizeDevCtxChunk(hx(`01 00 00 00 | 00 20 00 00 00 00 00 00 ff ff ff ff ff ff ff ff`), 'packed')).toBe('field_count=1 types=reserved(0x2000)');
    expect(summarizeDevCtxChunk(hx(`00 00 00 00 aa bb`), 'packed')).toBe('field_count=0 +2 bytes after the fields');
  });
});

describe('trace entries', () => {
  it('renders a completed command on one line', () => {
    const e = makeTraceEntry({ seq: 3, tMs: 12.345, request: cmd(0x8, encodeModeSetData(1)), response: ok(), wire: W });
    expect(e).toEqual({
      seq: 3,
      tMs: 12.345,
      memberId: 2n,
      opcode: 8,
      request: 'DEV_MODE_SET(0x8) member=2 mode=Stop',
      response: '-> OK used=8',
      status: 0,
      qualifier: 0,
    });
    expect(renderTraceEntry(e)).toBe('#3 +12.3ms DEV_MODE_SET(0x8) member=2 mode=Stop -> OK used=8');
  });

  it('renders a command that did not complete with its transport error', () => {
    const e = makeTraceEntry({ seq: 4, tMs: 20, request: cmd(0xa), error: new TransportTimeoutError('DEV_CTX_READ', 5000), wire: W });
    expect(e.response).toBe('');
    expect(e.status).toBeUndefined();
    expect(renderTraceEntry(e)).toBe('#4 +20.0ms DEV_CTX_READ(0xa) member=2 -> no completion: TransportTimeoutError: DEV_CTX_READ did not complete within 5000 ms');
    const bare: TraceEntry = { seq: 1, tMs: Number.NaN, memberId: 1n, opcode: 7, request: '', response: '' };
    expect(renderTraceEntry(bare)).toBe('#1 +?ms 0x7 member=1 -> no completion');
    expect(renderTraceEntry({ ...bare, request: 'X', response: '-> OK used=8', error: 'late\nline' })).toBe('#1 +?ms X -> OK used=8 !! late line');
  });

  it('makeTraceEntry passes the stream offset to both renderings', () => {
    const stream = encodeDevCtx({ fields: sampleContext(1) }, 'packed');
    const e = makeTraceEntry({ seq: 1, tMs: 0, request: cmd(0xa), response: ok(stream, encodeCtxReadOutput(stream.length)), wire: W, streamOffset: 0 });
    expect(e.response).toContain('field_count=5 types=PCI_COMMON_CFG,DEV_FEATURES,PCI_VQ_CFG,VQ_SPLIT_RUNTIME_CFG,DEV_CFG');
  });
});

describe('the renderer never throws (property)', () => {
  const opcode = fc.oneof(fc.constantFrom(...Object.values(TABLE_NUMBERING), 0xe, 0x13, 0x8000), arbU16);
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 80 }),
    fc.constant(encodeDevCtx({ fields: sampleContext() }, 'packed')),
    fc.constant(encodeDevCtx({ fields: sampleContext() }, 'natural')),
    fc.tuple(fc.constant(encodeDevCtx({ fields: sampleContext() }, 'packed')), fc.nat(), fc.nat()).map(([b, x, y]) => b.subarray(x % b.length, y % b.length)),
  );
  const offset = fc.option(fc.oneof(fc.constant(0), fc.nat()), { nil: undefined });

  it('describeCommand on arbitrary requests', () => {
    fc.assert(
      fc.property(opcode, arbU16, arbU64, bytes, arbWire, offset, fc.option(fc.nat(), { nil: undefined }), (op, gt, member, data, wire, streamOffset, resultCapacity) => {
        const s = describeCommand({ opcode: op, groupType: gt, memberId: member, data, resultCapacity }, wire, { streamOffset });
        expect(typeof s).toBe('string');
        expect(s).not.toMatch(/[\r\n]/);
        expect(s.startsWith(opcodeLabel(op, wire))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('describeCompletion on arbitrary completions', () => {
    fc.assert(
      fc.property(
        opcode,
        fc.oneof(fc.constantFrom(0, 11, 12, 22), arbU16),
        fc.oneof(fc.constant(0), arbU16),
        fc.uint8Array({ maxLength: 6 }),
        bytes,
        fc.integer({ min: -2, max: 200 }),
        arbWire,
        offset,
        (op, status, qualifier, output, result, usedLength, wire, streamOffset) => {
          const s = describeCompletion(op, { status, qualifier, output, result, usedLength }, wire, { streamOffset });
          expect(s.startsWith('-> ')).toBe(true);
          expect(s).not.toMatch(/[\r\n]/);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('summarizeDevCtxChunk and renderTraceEntry on arbitrary input', () => {
    fc.assert(
      fc.property(bytes, fc.constantFrom('packed' as const, 'natural' as const), fc.double(), fc.string(), (b, a, t, text) => {
        expect(typeof summarizeDevCtxChunk(b, a)).toBe('string');
        const line = renderTraceEntry({ seq: 1, tMs: t, memberId: 1n, opcode: 7, request: text, response: text, error: text || undefined });
        expect(line).not.toMatch(/[\r\n]/);
      }),
      { numRuns: 200 },
    );
  });

  it('survives inputs that break the types (JS callers, corrupted records)', () => {
    const junk = [undefined, null, 5, 'x', {}, new Uint8Array(3)] as unknown[];
    for (const j of junk) {
      expect(() => describeCommand({ opcode: j, groupType: j, memberId: j, data: j } as never, W)).not.toThrow();
      expect(() => describeCompletion(j as never, { status: j, qualifier: j, output: j, result: j, usedLength: j } as never, W)).not.toThrow();
      expect(() => describeCommand(j as never, W)).not.toThrow();
      expect(() => describeCompletion(0xa, j as never, W)).not.toThrow();
      expect(() => renderTraceEntry(j as never)).not.toThrow();
      expect(() => makeTraceEntry({ seq: 1, tMs: 0, request: j as never, response: j as never, error: j, wire: W })).not.toThrow();
    }
  });

  it('never lets a DecodeError text span lines', () => {
    expect(formatSize(4096n)).toBe('4KiB');
    expect(formatSize(1n << 43n)).toBe('8TiB');
    expect(formatSize(12288n)).toBe('12KiB');
    expect(formatSize(100n)).toBe('100');
    expect(new DecodeError('a', 0, 'b').message).not.toMatch(/\n/);
  });
});
