import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeAdminCmdResult, encodeAdminCmd } from '../../protocol/admin-frame.ts';
import { alignUp, equalBytes } from '../../protocol/bytes.ts';
import { decodeCtxReadOutput, decodeSizeGetResult, DeviceMode, modeName } from '../../protocol/commands.ts';
import {
  decodeDevCtxEntry,
  type DevCtxPciCommonCfg,
  type VirtioDevCtxPciVqCfg,
  type VirtioDevCtxVqSplitRuntime,
} from '../../protocol/dev-ctx-fields.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import { DevCtxType, devCtxTypeClass, devCtxTypeName, encodeDevCtx, type VirtioDevCtxFieldTlv } from '../../protocol/device-context.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { CommonCfg, VIRTIO_MSI_NO_VECTOR, VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import { GroupType, Qualifier, Status } from '../../protocol/status.ts';
import { blkRead, BlkStatus } from '../../harness/guest/block-guest.ts';
import { GuestDriver, readFeatureBits } from '../../harness/guest/guest-driver.ts';
import type { Completion, PostedRequest } from '../../harness/guest/guest-queue.ts';
import { UsedRingError } from '../../harness/guest/guest-queue.ts';
import type { ConformanceContext } from '../../harness/ctest.ts';

/**
 * Helpers shared by the device-context suites (suites/ctx/*.suite.ts): reading a context stream with
 * the READ rules checked on every command, walking and judging a context stream against patch 3/8
 * (with the readings E9-E14 of the active profile), comparing contexts, and the guest states the
 * WRITE and format tests need.
 *
 * Attribution: every check names a requirement. When a helper finds a problem with a requirement the
 * calling test does not list, the test cannot go on with what the device answered, so the problem
 * ends the test as a FAIL of all its requirements (claim()).
 */

export const ACTIVE = DeviceMode.ACTIVE;
export const STOP = DeviceMode.STOP;
export const FREEZE = DeviceMode.FREEZE;
export const MODES = [ACTIVE, STOP, FREEZE] as const;

export const R = {
  sizeCurrent: 'ctx-size.current-mode-remaining-estimate',
  sizeFreeze: 'ctx-size.freeze-mode-estimate',
  sizeInvalid: 'ctx-size.freeze-mode-invalid-fails',
  sizeNoGrowth: 'ctx-size.estimate-not-growing-in-freeze',
  sizeZero: 'ctx-size.zero-after-stream-end',
  readEveryMode: 'ctx-read.supported-in-every-mode',
  readLen: 'ctx-read.context-len-reports-returned-bytes',
  readShort: 'ctx-read.short-read-only-at-stream-end',
  readZero: 'ctx-read.zero-len-after-stream-end',
  readCleared: 'ctx-read.read-data-cleared',
  readMulti: 'ctx-read.multi-command-stream',
  readNewStream: 'ctx-read.mode-change-starts-new-stream',
  writeOutside: 'ctx-write.fails-unless-freeze',
  writeTwice: 'ctx-write.complete-context-multiple-times',
  writeLast: 'ctx-write.last-written-context-used',
  writeEffective: 'ctx-write.effective-on-leaving-freeze',
  writeRaw: 'ctx-write.data-is-raw-stream',
  writeMulti: 'ctx-write.multi-command-stream',
  writePadding: 'ctx-write.trailing-padding-ignored',
  writeLength: 'ctx-write.field-length-mismatch-fails',
  discardRead: 'ctx-discard.discards-partial-read',
  discardReadRestart: 'ctx-discard.read-restarts-after-discard',
  discardSizeRestart: 'ctx-discard.size-restarts-after-discard',
  discardWrite: 'ctx-discard.discards-partial-write',
  discardNewWrite: 'ctx-discard.write-starts-new-context',
  fieldsOnePerType: 'ctx-fields.one-entry-per-supported-type',
  fieldsFormat: 'ctx-fields.entry-format',
  fieldsLength: 'ctx-fields.length-matches-read',
  fieldsListsRead: 'ctx-fields.lists-every-read-type',
  layout: 'ctx-format.stream-layout',
  fieldCount: 'ctx-format.field-count-matches',
  tlv: 'ctx-format.tlv-layout',
  definedTypes: 'ctx-format.defined-types-only',
  commonCfg: 'ctx-format.pci-common-cfg-field',
  features: 'ctx-format.dev-features-layout',
  featuresNegotiated: 'ctx-format.dev-features-negotiated',
  vqCfg: 'ctx-format.pci-vq-cfg-layout',
  vqCfgOne: 'ctx-format.pci-vq-cfg-one-per-vq',
  runtime: 'ctx-format.split-runtime-layout',
  runtimeOne: 'ctx-format.split-runtime-one-per-vq',
  resumeIdx: 'ctx-format.split-runtime-resume-index',
  ownDesc: 'ctx-format.dev-own-desc-layout',
  ownDescOne: 'ctx-format.dev-own-desc-one-per-vq',
  devCfg: 'ctx-format.dev-cfg-field',
  resume: 'ctx-format.context-sufficient-to-resume',
} as const;

/** Driver rules some tests break on purpose to probe a device rule (catalog driver.json / avq.json). */
export const BREAKS = {
  partialRead: 'driver.read-complete-context',
  partialWrite: 'driver.write-complete-context',
  freezeMode: 'driver.size-get-freeze-mode-0-or-1',
  partsMultipleOf8: 'avq.vr3-parts-multiple-of-8',
} as const;

// ---- verdict helpers ---------------------------------------------------------------------------------

/**
 * A soft check of `req` when the test lists it; otherwise the problem is one the test cannot get
 * past (the device's answer is unusable for what the test checks), so it ends the test as a FAIL.
 */
export function claim(t: ConformanceContext, req: string, cond: boolean, message: string): boolean {
  if (t.def.requirements.includes(req)) return t.check(req, cond, message);
  t.require(undefined, cond, `${message} [${req}]`);
  return true;
}

/** A hard check: ends the test as a FAIL of `req` (of every requirement when the test does not list it). */
export function insist(t: ConformanceContext, req: string, cond: boolean, message: string): asserts cond {
  t.require(t.def.requirements.includes(req) ? req : undefined, cond, t.def.requirements.includes(req) ? message : `${message} [${req}]`);
}

/** status/qualifier of a response, in words. */
export function st(r: AdminCommandResponse): string {
  if (r.status === Status.OK) return 'OK';
  const q = Object.entries(Qualifier).find(([, v]) => v === r.qualifier)?.[0] ?? `0x${r.qualifier.toString(16)}`;
  const s = Object.entries(Status).find(([, v]) => v === r.status)?.[0] ?? String(r.status);
  return `${s}/${q}`;
}

export function ok(r: AdminCommandResponse): boolean {
  return r.status === Status.OK;
}

/** P5: a refusal with a qualifier other than the preferred ones is a finding (a FAIL when the profile says so). */
export function noteQualifier(t: ConformanceContext, req: string, r: AdminCommandResponse, what: string, preferred: number[] = [Qualifier.INVALID_FIELD, Qualifier.INVALID_COMMAND]): void {
  if (r.status === Status.OK || (r.status === Status.EINVAL && preferred.includes(r.qualifier))) return;
  const msg = `${what}: refused with ${st(r)}; preferred is EINVAL with ${preferred.map((q) => Object.entries(Qualifier).find(([, v]) => v === q)?.[0]).join(' or ')} (P5)`;
  if (t.settings.failureQualifierMismatch === 'fail') claim(t, req, false, msg);
  else t.finding(msg);
}

export function mode(m: number): string {
  return modeName(m);
}

// ---- READ ----------------------------------------------------------------------------------------------

export interface ReadStep {
  /** Bytes the driver asked for (the command_specific_result buffer). */
  asked: number;
  contextLen: number;
  data: Uint8Array;
  response: AdminCommandResponse;
}

/**
 * One READ with a result buffer of `asked` bytes (a multiple of 8, VR3). Checks E19 on it under
 * ctx-read.context-len-reports-returned-bytes: context_len <= asked, and the used length covers
 * 8 + context_len. A refusal ends the test (of `okReq` when given, else of every requirement).
 */
export async function readOnce(t: ConformanceContext, member: number, asked: number, okReq?: string): Promise<ReadStep> {
  const r = await t.admin.ctxRead(member, asked);
  if (okReq && !ok(r)) insist(t, okReq, false, `DEV_CTX_READ (${asked}-byte buffer) in ${await modeNow(t, member)}: expected OK, got ${st(r)}`);
  else t.requireOk(undefined, r, `DEV_CTX_READ (${asked}-byte buffer)`);
  const contextLen = decodeCtxReadOutput(r.output);
  claim(t, R.readLen, contextLen <= asked, `DEV_CTX_READ with a ${asked}-byte buffer returned context_len ${contextLen}, more than the buffer holds (E19)`);
  claim(t, R.readLen, r.usedLength >= 8 + Math.min(contextLen, asked), `DEV_CTX_READ returned context_len ${contextLen} but a used length of ${r.usedLength} (< 8 + context_len, E19)`);
  const data = r.result.subarray(0, Math.min(contextLen, asked, r.result.length)).slice();
  return { asked, contextLen, data, response: r };
}

async function modeNow(t: ConformanceContext, member: number): Promise<string> {
  const r = await t.admin.modeGet(member);
  return ok(r) && r.result.length ? modeName(r.result[0]) : 'unknown mode';
}

export interface ReadAll {
  bytes: Uint8Array;
  steps: ReadStep[];
}

/**
 * Reads a context stream to its end (E19: a READ returning less than asked, or nothing, ends it) with
 * buffers of `chunk` bytes (or the sizes `chunk` returns per step). Never reads more than maxBytes.
 */
export async function readToEnd(t: ConformanceContext, member: number, chunk: number | ((i: number) => number) = 4096, o: { okReq?: string; maxBytes?: number } = {}): Promise<ReadAll> {
  const steps: ReadStep[] = [];
  const parts: Uint8Array[] = [];
  let total = 0;
  const max = o.maxBytes ?? 64 << 20;
  for (let i = 0; ; i++) {
    const asked = typeof chunk === 'number' ? chunk : chunk(i);
    const s = await readOnce(t, member, asked, o.okReq);
    steps.push(s);
    parts.push(s.data);
    total += s.data.length;
    if (s.contextLen < asked || s.contextLen > asked) break;
    if (total > max) t.fail(undefined, `DEV_CTX_READ kept returning full buffers past ${max} bytes: the context stream never ends (E19)`);
  }
  return { bytes: concat(parts), steps };
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** First offset where two byte strings differ (or the shorter length), for messages. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/**
 * A READ whose command_specific_result buffer is exactly `asked` bytes, even when that is not a
 * multiple of 8: sent as a raw frame. Breaks avq.vr3-parts-multiple-of-8 when asked % 8 != 0 (the test
 * says so in `breaks`); the device must take such a buffer (VD1, VD4).
 */
export async function readExact(t: ConformanceContext, member: number, asked: number): Promise<ReadStep> {
  if (asked % 8 === 0) return readOnce(t, member, asked);
  const tr = t.session.transport;
  if (!tr.capabilities.rawFrames) t.notTested('an exact-fit READ of a context whose length is not a multiple of 8 needs raw admin frames');
  const readable = encodeAdminCmd({ opcode: t.opcodes.DEV_CTX_READ, groupType: GroupType.SRIOV, memberId: BigInt(member), data: new Uint8Array(0) });
  const done = await tr.execFrame({ readable, writableLength: 8 + asked }, { timeoutMs: t.plan.timeouts.commandMs });
  const r = decodeAdminCmdResult(done.writable, done.usedLength);
  t.requireOk(undefined, r, `DEV_CTX_READ (exact ${asked}-byte buffer, raw frame)`);
  const contextLen = decodeCtxReadOutput(r.output);
  claim(t, R.readLen, contextLen <= asked, `DEV_CTX_READ with a ${asked}-byte buffer returned context_len ${contextLen} (E19)`);
  claim(t, R.readLen, r.usedLength >= 8 + Math.min(contextLen, asked), `DEV_CTX_READ returned context_len ${contextLen} but a used length of ${r.usedLength} (E19)`);
  return { asked, contextLen, data: r.result.subarray(0, Math.min(contextLen, asked, r.result.length)).slice(), response: r };
}

// ---- SIZE_GET ------------------------------------------------------------------------------------------

/** SIZE_GET; OK and a whole le64 in command_specific_result are checked under `req`. Undefined when not. */
export async function sizeOf(t: ConformanceContext, req: string, member: number, freezeMode: 0 | 1): Promise<bigint | undefined> {
  const r = await t.admin.sizeGet(member, freezeMode);
  const what = `DEV_CTX_SIZE_GET freeze_mode ${freezeMode}`;
  if (!claim(t, req, ok(r), `${what}: expected OK, got ${st(r)}`)) return undefined;
  if (!claim(t, req, r.result.length >= 8, `${what}: command_specific_result holds ${r.result.length} bytes, a le64 size needs 8 (used length ${r.usedLength})`)) return undefined;
  return decodeSizeGetResult(r.result);
}

// ---- WRITE ---------------------------------------------------------------------------------------------

/** Cut points: chunk sizes (multiples of 8) cycled over the stream; the last chunk is what is left. */
export function cutStream(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    if (n % 8) throw new RangeError('context write chunks are multiples of 8 bytes (VR3, S1)');
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** Sends the chunks in order; stops at the first refusal and returns it (undefined when all were OK). */
export async function writeChunks(t: ConformanceContext, member: number, chunks: Uint8Array[]): Promise<{ refused?: AdminCommandResponse; at: number }> {
  for (let i = 0; i < chunks.length; i++) {
    const r = await t.admin.ctxWrite(member, chunks[i]);
    if (!ok(r)) return { refused: r, at: i };
  }
  return { at: chunks.length };
}

/** A whole context in WRITEs of `chunk` bytes; the last one padded by the frame (S1). */
export async function writeAll(t: ConformanceContext, member: number, bytes: Uint8Array, chunk = 4096): Promise<{ refused?: AdminCommandResponse; at: number }> {
  return writeChunks(t, member, cutStream(bytes, [chunk]));
}

// ---- context structure -------------------------------------------------------------------------------------

type Alignment = 'packed' | 'natural';

export interface WalkedTlv {
  offset: number;
  type: number;
  reserved: Uint8Array;
  length: bigint;
  value: Uint8Array;
}

export interface Walk {
  /** le32 field_count, or -1 when the stream is shorter than its header. */
  fieldCount: number;
  tlvs: WalkedTlv[];
  /** A TLV whose length runs past the end of the stream (the walk stops there). */
  overrun?: string;
  /** Bytes after the last whole TLV, too few for another TLV header. */
  trailing: number;
}

/**
 * Walks a context stream TLV by TLV as the alignment says (E11), ignoring field_count, so a wrong
 * field_count and a malformed TLV are told apart.
 */
export function walkContext(bytes: Uint8Array, a: Alignment): Walk {
  const first = a === 'packed' ? 4 : 8;
  if (bytes.length < first) return { fieldCount: -1, tlvs: [], trailing: bytes.length };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fieldCount = dv.getUint32(0, true);
  const tlvs: WalkedTlv[] = [];
  let at = first;
  while (bytes.length - at >= 16) {
    const type = dv.getUint16(at, true);
    const length = dv.getBigUint64(at + 8, true);
    const avail = bytes.length - at - 16;
    if (length > BigInt(avail)) {
      return {
        fieldCount,
        tlvs,
        trailing: 0,
        overrun: `field ${tlvs.length} at byte ${at} (type 0x${type.toString(16)}) has length ${length}, but only ${avail} bytes follow its header`,
      };
    }
    const n = Number(length);
    tlvs.push({ offset: at, type, reserved: bytes.subarray(at + 2, at + 8), length, value: bytes.subarray(at + 16, at + 16 + n) });
    const span = a === 'packed' ? 16 + n : alignUp(16 + n, 8);
    at = Math.min(at + span, bytes.length);
  }
  return { fieldCount, tlvs, trailing: bytes.length - at };
}

export interface ParsedCtx {
  bytes: Uint8Array;
  walk: Walk;
  common?: DevCtxPciCommonCfg;
  commonLength?: number;
  features?: bigint;
  vq: Map<number, VirtioDevCtxPciVqCfg>;
  rt: Map<number, VirtioDevCtxVqSplitRuntime>;
  own: Map<number, number[]>;
  devCfg?: Uint8Array;
  /** TLV value lengths per type, in stream order. */
  lengths: Map<number, number[]>;
}

/**
 * 'judge': every problem is a check of its requirement (format tests). 'use': the test only needs the
 * content; any problem ends it (the context cannot be interpreted).
 */
export type InspectMode = 'judge' | 'use';

/**
 * Walks and decodes a context READ returned, checking the patch 3/8 rules with the profile's readings:
 * stream layout (E11), field_count, TLV layout, defined types only (E10), and each type's value
 * (E9, E12, E13, E14) including one entry per vq_index for 0x2, 0x3 and 0x4.
 */
export function inspectContext(t: ConformanceContext, bytes: Uint8Array, how: InspectMode = 'use', what = 'the context'): ParsedCtx {
  const flag = (req: string, cond: boolean, msg: string): boolean => {
    if (cond) return true;
    if (how === 'judge') return claim(t, req, false, `${what}: ${msg}`);
    t.fail(undefined, `${what} READ returned cannot be interpreted: ${msg} [${req}]`);
  };
  const a = t.wire.ctxStreamAlignment;
  const out: ParsedCtx = { bytes, walk: walkContext(bytes, a), vq: new Map(), rt: new Map(), own: new Map(), lengths: new Map() };
  const w = out.walk;
  if (!flag(R.layout, w.fieldCount >= 0, `the stream is ${bytes.length} bytes, shorter than its le32 field_count header`)) return out;
  if (w.overrun) {
    const other: Alignment = a === 'packed' ? 'natural' : 'packed';
    const alt = walkContext(bytes, other);
    if (!alt.overrun && alt.trailing === 0 && alt.tlvs.length === alt.fieldCount) {
      flag(R.layout, false, `the stream does not parse with the ${a} layout of the profile (ctxStreamAlignment, E11) but parses with the ${other} layout: ${w.overrun}`);
    } else {
      flag(R.tlv, false, `${w.overrun} (a field is le16 type, 6 reserved bytes, le64 length, then length bytes of value)`);
    }
    return out;
  }
  flag(R.fieldCount, w.tlvs.length === w.fieldCount, `field_count is ${w.fieldCount} but ${w.tlvs.length} fields follow it`);
  flag(R.fieldCount, w.trailing === 0, `${w.trailing} bytes follow the last field (the stream must end right after it)`);
  const nonZeroReserved = w.tlvs.filter((f) => f.reserved.some((b) => b !== 0));
  if (how === 'judge' && nonZeroReserved.length) t.finding(`${what}: ${nonZeroReserved.length} field(s) have non-zero reserved bytes (first at byte ${nonZeroReserved[0].offset + 2})`);

  for (const f of w.tlvs) {
    const list = out.lengths.get(f.type) ?? [];
    list.push(f.value.length);
    out.lengths.set(f.type, list);
    if (!flag(R.definedTypes, devCtxTypeClass(f.type) === 'defined', `field at byte ${f.offset} has type 0x${f.type.toString(16)}, which is ${devCtxTypeName(f.type)} (only 0x0..0x4 and 0x1000 are defined, E10)`)) continue;
    const tlv: VirtioDevCtxFieldTlv = { type: f.type, value: f.value, offset: f.offset };
    const req = typeReq(f.type);
    let e: ReturnType<typeof decodeDevCtxEntry>;
    try {
      e = decodeDevCtxEntry(tlv);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      flag(req, false, `${devCtxTypeName(f.type)} at byte ${f.offset}: ${err.message}`);
      continue;
    }
    switch (f.type) {
      case DevCtxType.PCI_COMMON_CFG: {
        if (out.common) {
          if (how === 'judge') t.finding(`${what}: more than one VIRTIO_DEV_CTX_PCI_COMMON_CFG field (second at byte ${f.offset})`);
          break;
        }
        out.common = e.value as DevCtxPciCommonCfg;
        out.commonLength = f.value.length;
        if (how === 'judge' && ![56, 60, 64].includes(f.value.length)) t.finding(`${what}: VIRTIO_DEV_CTX_PCI_COMMON_CFG is ${f.value.length} bytes, not one of the virtio_pci_common_cfg sizes 56, 60, 64 (E12)`);
        break;
      }
      case DevCtxType.DEV_FEATURES: {
        flag(R.features, f.value.length > 0 && f.value.length % 8 === 0, `VIRTIO_DEV_CTX_DEV_FEATURES value is ${f.value.length} bytes, not a whole, non-zero number of le64 feature words (E9)`);
        if (out.features !== undefined) flag(R.features, false, `more than one VIRTIO_DEV_CTX_DEV_FEATURES field (second at byte ${f.offset})`);
        else out.features = e.value as bigint;
        break;
      }
      case DevCtxType.PCI_VQ_CFG: {
        const q = e.value as VirtioDevCtxPciVqCfg;
        const profileLen = t.wire.pciVqCfgLayout === 'packed' ? 30 : 32;
        if (how === 'judge' && f.value.length !== profileLen) t.finding(`${what}: VIRTIO_DEV_CTX_PCI_VQ_CFG of vq ${q.vqIndex} is ${f.value.length} bytes, the profile's layout (pciVqCfgLayout, E13) has ${profileLen}`);
        flag(R.vqCfgOne, !out.vq.has(q.vqIndex), `two VIRTIO_DEV_CTX_PCI_VQ_CFG fields for vq_index ${q.vqIndex}`);
        if (!out.vq.has(q.vqIndex)) out.vq.set(q.vqIndex, q);
        break;
      }
      case DevCtxType.VQ_SPLIT_RUNTIME_CFG: {
        const r = e.value as VirtioDevCtxVqSplitRuntime;
        flag(R.runtime, f.value.length === 5, `VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG of vq ${r.vqIndex} is ${f.value.length} bytes; struct virtio_dev_ctx_vq_split_runtime is 5 (E14)`);
        if (how === 'judge' && r.enabled > 1) t.finding(`${what}: split runtime of vq ${r.vqIndex} has enabled = ${r.enabled}`);
        flag(R.runtimeOne, !out.rt.has(r.vqIndex), `two VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG fields for vq_index ${r.vqIndex}`);
        if (!out.rt.has(r.vqIndex)) out.rt.set(r.vqIndex, r);
        break;
      }
      case DevCtxType.VQ_SPLIT_DEV_OWN_DESC: {
        const d = e.value as { vqIndex: number; descIdx: number[] };
        flag(R.ownDescOne, !out.own.has(d.vqIndex), `two VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC fields for vq_index ${d.vqIndex}`);
        flag(R.ownDesc, new Set(d.descIdx).size === d.descIdx.length, `VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC of vq ${d.vqIndex} names a descriptor twice: [${d.descIdx.join(', ')}]`);
        if (!out.own.has(d.vqIndex)) out.own.set(d.vqIndex, d.descIdx);
        break;
      }
      case DevCtxType.DEV_CFG: {
        if (out.devCfg) flag(R.devCfg, false, `more than one VIRTIO_DEV_CTX_DEV_CFG field (second at byte ${f.offset})`);
        else out.devCfg = f.value;
        if (how === 'judge' && f.value.length === 0) t.finding(`${what}: VIRTIO_DEV_CTX_DEV_CFG is empty`);
        break;
      }
    }
  }
  // Cross-field checks: queue indexes exist, owned descriptors lie inside their queue.
  const numQueues = out.common?.numQueues;
  if (numQueues !== undefined) {
    for (const q of out.vq.keys()) flag(R.vqCfg, q < numQueues, `VIRTIO_DEV_CTX_PCI_VQ_CFG has vq_index ${q}, the member has ${numQueues} queues (num_queues of PCI_COMMON_CFG)`);
    for (const q of out.rt.keys()) flag(R.runtime, q < numQueues, `VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG has vq_index ${q}, the member has ${numQueues} queues`);
    for (const q of out.own.keys()) flag(R.ownDesc, q < numQueues, `VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC has vq_index ${q}, the member has ${numQueues} queues`);
  }
  for (const [q, idx] of out.own) {
    const size = out.vq.get(q)?.queueSize;
    if (size) flag(R.ownDesc, idx.every((i) => i < size), `VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC of vq ${q} names descriptors [${idx.filter((i) => i >= size).join(', ')}] beyond queue_size ${size}`);
  }
  return out;
}

function typeReq(type: number): string {
  switch (type) {
    case DevCtxType.PCI_COMMON_CFG:
      return R.commonCfg;
    case DevCtxType.DEV_FEATURES:
      return R.features;
    case DevCtxType.PCI_VQ_CFG:
      return R.vqCfg;
    case DevCtxType.VQ_SPLIT_RUNTIME_CFG:
      return R.runtime;
    case DevCtxType.VQ_SPLIT_DEV_OWN_DESC:
      return R.ownDesc;
    default:
      return R.devCfg;
  }
}

/** The stream with the value of the first field of `type` replaced (field_count unchanged): still parses. */
export function withField(bytes: Uint8Array, a: Alignment, type: number, value: (old: Uint8Array) => Uint8Array): Uint8Array | undefined {
  const w = walkContext(bytes, a);
  let done = false;
  const fields = w.tlvs.map((f) => {
    if (done || f.type !== type) return { type: f.type, value: f.value };
    done = true;
    return { type: f.type, value: value(f.value) };
  });
  return done ? encodeDevCtx({ fields }, a) : undefined;
}

/** What identifies one queue's configuration in a context (the PCI_VQ_CFG value). */
export function vqText(q: VirtioDevCtxPciVqCfg | undefined): string {
  if (!q) return 'no PCI_VQ_CFG field';
  return `size ${q.queueSize}, msix ${q.queueMsixVector}, desc 0x${q.queueDesc.toString(16)}, driver 0x${q.queueDriver.toString(16)}, device 0x${q.queueDevice.toString(16)}`;
}

export function sameVq(a: VirtioDevCtxPciVqCfg | undefined, b: VqProgram): boolean {
  return !!a && a.queueSize === b.size && a.queueDesc === b.desc && a.queueDriver === b.driver && a.queueDevice === b.device && a.queueMsixVector === b.msix;
}

// ---- guest states -------------------------------------------------------------------------------------------

/** How the guest programmed queue 0 (what a context of that state must carry for vq 0). */
export interface VqProgram {
  size: number;
  msix: number;
  desc: bigint;
  driver: bigint;
  device: bigint;
}

export function programOf(g: GuestDriver, msix: boolean): VqProgram {
  const q = g.queues[0];
  return { size: q.size, msix: msix ? 1 : VIRTIO_MSI_NO_VECTOR, desc: q.desc, driver: q.driver, device: q.device };
}

export function programText(p: VqProgram): string {
  return `size ${p.size}, msix ${p.msix}, desc 0x${p.desc.toString(16)}, driver 0x${p.driver.toString(16)}, device 0x${p.device.toString(16)}`;
}

export interface TwoStates {
  /** Context read in Freeze while the member was in state A. */
  ctxA: Uint8Array;
  a: VqProgram;
  b: VqProgram;
  gB: GuestDriver;
}

/**
 * Two different member states, A and B, each set up by the member's guest driver (queue 0 at other
 * addresses, another queue size and MSI-X use). Reads context A in Freeze, then leaves the member
 * Active in state B. A written context A is then told from the member's own state by queue 0.
 */
export async function twoStates(t: ConformanceContext, member: number): Promise<TwoStates> {
  const gA = await new GuestDriver(t.port(member)).init({ queues: 1, queueSize: 16, msix: true });
  await t.admin.modeSetOk(member, STOP);
  await t.admin.modeSetOk(member, FREEZE);
  const ctxA = (await readToEnd(t, member)).bytes;
  await t.admin.modeSetOk(member, ACTIVE);
  const gB = await new GuestDriver(t.port(member)).init({ queues: 1, queueSize: 8, msix: false });
  const a = programOf(gA, true);
  const b = programOf(gB, false);
  t.require(undefined, a.desc !== b.desc, 'the two guest states got the same ring addresses (harness)');
  return { ctxA, a, b, gB };
}

/** Queue 0 as the member's common configuration shows it (Active only: no access in Stop or Freeze). */
export async function queue0Registers(port: MemberPort): Promise<VqProgram & { configMsix: number; enable: number }> {
  await port.commonCfgWrite(CommonCfg.QUEUE_SELECT.offset, 2, 0);
  const rd64 = async (off: number) => BigInt(await port.commonCfgRead(off, 4)) | (BigInt(await port.commonCfgRead(off + 4, 4)) << 32n);
  return {
    size: await port.commonCfgRead(CommonCfg.QUEUE_SIZE.offset, 2),
    msix: await port.commonCfgRead(CommonCfg.QUEUE_MSIX_VECTOR.offset, 2),
    desc: await rd64(CommonCfg.QUEUE_DESC.offset),
    driver: await rd64(CommonCfg.QUEUE_DRIVER.offset),
    device: await rd64(CommonCfg.QUEUE_DEVICE.offset),
    configMsix: await port.commonCfgRead(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2),
    enable: await port.commonCfgRead(CommonCfg.QUEUE_ENABLE.offset, 2),
  };
}

export function driverFeatures(port: MemberPort): Promise<bigint> {
  return readFeatureBits(port, 'driver');
}

/** Reads the member's queue 0 of the context in a mode where READ is allowed (to the end of the stream). */
export async function contextVq0(t: ConformanceContext, member: number, what: string): Promise<VirtioDevCtxPciVqCfg | undefined> {
  const p = inspectContext(t, (await readToEnd(t, member)).bytes, 'use', what);
  return p.vq.get(0);
}

// ---- requests in flight -------------------------------------------------------------------------------------

export interface Workload {
  g: GuestDriver;
  /** Requests in the order they were made available: posted[p] sits at available-ring index p. */
  posted: PostedRequest[];
  /** Available-ring positions whose request the device has returned. */
  done: Set<number>;
  /** How many of the posted requests were followed by a kick. */
  kicked: number;
  /** Completions by position with their status byte. */
  status: Map<number, number>;
}

/** Completion records of a queue since the last reap, mapped to available-ring positions. */
export function collect(w: Workload, got: (Completion & { data: Uint8Array[] })[]): number[] {
  const out: number[] = [];
  for (const c of got) {
    const p = w.posted.indexOf(c.request);
    if (p < 0) continue;
    w.done.add(p);
    const last = c.data[c.data.length - 1];
    w.status.set(p, last ? last[last.length - 1] : -1);
    out.push(p);
  }
  return out;
}

/**
 * A block member with requests in every state on queue 0: 2 made available, kicked and completed;
 * 3 more made available and kicked, taken and held by the device where the transport can stall its
 * backend (otherwise not waited for: the device may own them, or not have taken them); 1 made
 * available without a kick. Then Stop: the used ring is read back (guest memory; the device writes
 * none in Stop). Requests the device had not returned by then are its own (device-owned descriptors)
 * or not taken.
 */
export async function blockWorkload(t: ConformanceContext, member: number, features = 0n): Promise<Workload> {
  const port = t.port(member);
  if (port.virtioType !== VirtioDeviceType.BLOCK) t.notTested(`the request workload drives a block member; member ${member} is virtio type ${port.virtioType}`);
  const g = await t.guest(member, { queues: 1, queueSize: 32, msix: true, features });
  const w: Workload = { g, posted: [], done: new Set(), kicked: 0, status: new Map() };
  const post = (sector: bigint) => w.posted.push(g.post(0, blkRead(sector, 1), w.posted.length));
  post(0n);
  post(1n);
  await g.kick(0);
  w.kicked = 2;
  collect(w, await safePoll(t, g, 2));
  t.require(undefined, w.done.size === 2, `the member completed ${w.done.size} of 2 kicked block reads within ${port.timing.completionMs} ms`);
  const hold = port.stimuli?.holdRequests;
  await hold?.(true);
  for (let i = 0; i < 3; i++) post(BigInt(2 + i));
  await g.kick(0);
  w.kicked = 5;
  if (hold) await port.settle(port.timing.completionMs);
  post(5n);
  await t.admin.modeSetOk(member, STOP);
  // The backend goes on; a device in Stop completes nothing, so the held requests stay its own.
  await hold?.(false);
  collect(w, g.reap(0));
  return w;
}

/** poll() that turns a used-ring violation into a FAIL (of the whole test) with the device's words. */
export async function safePoll(t: ConformanceContext, g: GuestDriver, count: number, req?: string): Promise<(Completion & { data: Uint8Array[] })[]> {
  try {
    return await g.poll(0, count);
  } catch (e) {
    if (e instanceof UsedRingError) t.fail(req && t.def.requirements.includes(req) ? req : undefined, e.message);
    throw e;
  }
}

export { BlkStatus };

/** Offered device-type feature bits (0..23) of a member, read through its common configuration. */
export function offeredFeatures(port: MemberPort): Promise<bigint> {
  return readFeatureBits(port, 'device');
}

/** Every other offered device-type feature (bits 0..23): a negotiated set that differs from the offered one. */
export function alternateDeviceFeatures(offered: bigint): bigint {
  let take = true;
  let out = 0n;
  for (let b = 0n; b < 24n; b++) {
    if (!((offered >> b) & 1n)) continue;
    if (take) out |= 1n << b;
    take = !take;
  }
  return out;
}

// ---- device configuration through the member port ------------------------------------------------------------

type CfgField = [offset: number, width: 1 | 2 | 4];

/** struct virtio_blk_config (virtio 1.3), as access-sized pieces (64-bit fields as two 32-bit reads). */
const BLK_CFG: CfgField[] = [
  [0, 4], [4, 4], [8, 4], [12, 4], [16, 2], [18, 1], [19, 1], [20, 4], [24, 1], [25, 1], [26, 2], [28, 4],
  [32, 1], [33, 1], [34, 2], [36, 4], [40, 4], [44, 4], [48, 4], [52, 4], [56, 1], [57, 1], [58, 1], [59, 1],
  [60, 4], [64, 4], [68, 4], [72, 4], [76, 4], [80, 4], [84, 4], [88, 4], [92, 1], [93, 1], [94, 1], [95, 1],
];

/** struct virtio_net_config (virtio 1.3) up to supported_hash_types. */
const NET_CFG: CfgField[] = [
  [0, 1], [1, 1], [2, 1], [3, 1], [4, 1], [5, 1], [6, 2], [8, 2], [10, 2], [12, 4], [16, 1], [17, 1], [18, 2], [20, 4],
];

const CFG_LAYOUTS = new Map<number, CfgField[]>([
  [VirtioDeviceType.BLOCK, BLK_CFG],
  [1, NET_CFG],
]);

/**
 * The member's device-specific configuration as far as `length` bytes reach, each field read at its
 * own width (virtio 1.3 access rules), retried while config_generation moves. Returns the bytes of the
 * whole fields that lie inside `length` (`covered` of them); undefined when the device type's layout is
 * not known here (reading it would take accesses of the wrong width).
 */
export async function readDeviceConfig(port: MemberPort, length: number): Promise<{ bytes: Uint8Array; covered: number } | undefined> {
  const layout = CFG_LAYOUTS.get(port.virtioType);
  if (!layout) return undefined;
  const fields = layout.filter(([off, width]) => off + width <= length);
  const covered = fields.reduce((n, [off, width]) => Math.max(n, off + width), 0);
  for (let attempt = 0; attempt < 4; attempt++) {
    const gen0 = await port.commonCfgRead(CommonCfg.CONFIG_GENERATION.offset, 1);
    const bytes = new Uint8Array(covered);
    for (const [off, width] of fields) {
      const v = await port.deviceCfgRead(off, width);
      for (let i = 0; i < width; i++) bytes[off + i] = (v >>> (8 * i)) & 0xff;
    }
    const gen1 = await port.commonCfgRead(CommonCfg.CONFIG_GENERATION.offset, 1);
    if (gen0 === gen1) return { bytes, covered };
  }
  return undefined;
}

export { equalBytes };
