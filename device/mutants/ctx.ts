import {
  decodeCtxReadOutput,
  decodeCtxWriteData,
  decodeSizeGetData,
  DeviceMode,
  encodeCtxReadOutput,
  encodeCtxWriteData,
  encodeFieldsQueryResult,
  encodeSizeGetResult,
} from '../../protocol/commands.ts';
import {
  decodePciVqCfg,
  decodeVqSplitDevDescs,
  decodeVqSplitRuntime,
  encodeDevFeatures,
  encodePciVqCfg,
  encodeVqSplitDevDescs,
  encodeVqSplitRuntime,
} from '../../protocol/dev-ctx-fields.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import { decodeDevCtx, DevCtxType, encodeDevCtx, encodedDevCtxSize, type VirtioDevCtx, type VirtioDevCtxFieldTlv } from '../../protocol/device-context.ts';
import type { CommandName } from '../../protocol/opcodes.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import type { MemberCommand, MemberHandler } from '../admin/handler.ts';
import { badField, ok, refused } from '../admin/reply.ts';
import type { VirtioMember } from '../member/virtio-member.ts';
import { buildContext, contextSize, supportedFields } from '../migration/context-codec.ts';
import type { ReferenceDevice } from '../reference-device.ts';
import { eachMember, type Mutant } from './mutant.ts';

/**
 * Seeded-bug variants for the device-context areas (ctx-size, ctx-read, ctx-write, ctx-discard,
 * ctx-fields, ctx-format). Each breaks one rule of the draft as the seed-v2 profile reads it; the ctx
 * suites must report its targets FAILED (WARN for the SHOULD).
 */

// ---- patching helpers -----------------------------------------------------------------------------------

function wrap(device: ReferenceDevice, name: CommandName, make: (orig: MemberHandler) => MemberHandler): void {
  const orig = device.handlers[name];
  if (!orig) throw new Error(`no handler for ${name}`);
  device.handlers[name] = make(orig);
}

/** The private state of a member's ContextReadStream (device/migration/read-stream.ts). */
interface ReadStreamState {
  snapshot: Uint8Array | undefined;
  pos: number;
  returnedData: boolean;
  ended: boolean;
}

/** The private state of a member's ContextWriteStream (device/migration/write-stream.ts). */
interface WriteStreamState {
  chunks: Uint8Array[];
  plan: unknown;
  pendingPlan: unknown;
  discardPartial(): void;
  applyTo(m: VirtioMember): void;
  readonly pending: boolean;
  readonly partial: boolean;
}

function rs(m: VirtioMember): ReadStreamState {
  return m.readStream as unknown as ReadStreamState;
}

function ws(m: VirtioMember): WriteStreamState | undefined {
  return m.writeStream as unknown as WriteStreamState | undefined;
}

function saveRead(m: VirtioMember): ReadStreamState {
  const s = rs(m);
  return { snapshot: s.snapshot, pos: s.pos, returnedData: s.returnedData, ended: s.ended };
}

function restoreRead(m: VirtioMember, v: ReadStreamState): void {
  Object.assign(rs(m), v);
}

/** READ answering from a stream the mutant builds (same cursor logic as the reference READ). */
function readFrom(device: ReferenceDevice, build: (m: VirtioMember, wire: WireOptions) => Uint8Array): void {
  device.handlers.DEV_CTX_READ = ({ member, resultCapacity, wire }) => {
    const chunk = member.readStream.read(resultCapacity, () => build(member, wire));
    return ok({ output: encodeCtxReadOutput(chunk.length), result: chunk });
  };
}

/** READ of the reference context with its fields rewritten. */
function ctxFields(device: ReferenceDevice, edit: (ctx: VirtioDevCtx, m: VirtioMember, wire: WireOptions) => VirtioDevCtx): void {
  readFrom(device, (m, wire) => encodeDevCtx(edit(buildContext(m, wire), m, wire), wire.ctxStreamAlignment));
}

function mapType(ctx: VirtioDevCtx, type: number, f: (v: Uint8Array) => Uint8Array): VirtioDevCtx {
  return { ...ctx, fields: ctx.fields.map((x) => (x.type === type ? { type: x.type, value: f(x.value) } : x)) };
}

/** A hook on the member's written context when it is applied (leaving Freeze). */
function onApply(device: ReferenceDevice, after: (m: VirtioMember) => void): void {
  wrap(device, 'DEV_CTX_WRITE', (orig) => async (c) => {
    const r = await orig(c);
    const w = ws(c.member) as (WriteStreamState & { hooked?: boolean }) | undefined;
    if (w && !w.hooked) {
      const apply = w.applyTo.bind(w);
      w.applyTo = (m) => {
        apply(m);
        if (w.pending) after(m);
      };
      w.hooked = true;
    }
    return r;
  });
}

function fieldsQueryWith(device: ReferenceDevice, edit: (bytes: Uint8Array, m: VirtioMember, wire: WireOptions) => Uint8Array, list?: (m: VirtioMember, wire: WireOptions) => ReturnType<typeof supportedFields>): void {
  device.handlers.DEV_CTX_FIELDS_QUERY = ({ member, wire }) => ok({ result: edit(encodeFieldsQueryResult((list ?? supportedFields)(member, wire)), member, wire) });
}

function withCmdData(c: MemberCommand, data: Uint8Array): MemberCommand {
  return { ...c, cmd: { ...c.cmd, data: encodeCtxWriteData(data, c.wire) } };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// ---- ctx-size ------------------------------------------------------------------------------------------

const SIZE: Mutant[] = [
  {
    name: 'ctx-size-zero-before-read',
    description: 'SIZE_GET freeze_mode 0 always reports 0, even before any of the context was read',
    targets: ['ctx-size.current-mode-remaining-estimate'],
    apply(d) {
      wrap(d, 'DEV_CTX_SIZE_GET', (orig) => async (c) => (decodeSizeGetData(c.cmd.data).freezeMode === 0 ? ok({ result: encodeSizeGetResult(0n) }) : orig(c)));
    },
  },
  {
    name: 'ctx-size-freeze-mode-refused',
    description: 'SIZE_GET refuses freeze_mode 1 (the Freeze estimate) as an invalid field',
    targets: ['ctx-size.freeze-mode-estimate'],
    apply(d) {
      wrap(d, 'DEV_CTX_SIZE_GET', (orig) => async (c) => (decodeSizeGetData(c.cmd.data).freezeMode === 1 ? badField('freeze_mode 1 not implemented') : orig(c)));
    },
  },
  {
    name: 'ctx-size-any-freeze-mode',
    description: 'SIZE_GET takes any non-zero freeze_mode as 1 instead of failing values above 1',
    targets: ['ctx-size.freeze-mode-invalid-fails'],
    apply(d) {
      wrap(d, 'DEV_CTX_SIZE_GET', (orig) => async (c) => (decodeSizeGetData(c.cmd.data).freezeMode > 1 ? orig({ ...c, cmd: { ...c.cmd, data: Uint8Array.of(1) } }) : orig(c)));
    },
  },
  {
    name: 'ctx-size-grows-in-freeze',
    description: 'In Freeze, the remaining size SIZE_GET reports grows by twice the bytes already read',
    targets: ['ctx-size.estimate-not-growing-in-freeze'],
    expect: 'WARN',
    apply(d) {
      wrap(d, 'DEV_CTX_SIZE_GET', (orig) => async (c) => {
        const s = rs(c.member);
        if (c.member.mode !== DeviceMode.FREEZE || !s.snapshot || s.ended || decodeSizeGetData(c.cmd.data).freezeMode > 1) return orig(c);
        return ok({ result: encodeSizeGetResult(BigInt(s.snapshot.length - s.pos + 2 * s.pos)) });
      });
    },
  },
  {
    name: 'ctx-size-never-zero',
    description: 'After the context stream ended, SIZE_GET reports the size of a new context instead of 0',
    targets: ['ctx-size.zero-after-stream-end'],
    apply(d) {
      wrap(d, 'DEV_CTX_SIZE_GET', (orig) => async (c) => (c.member.readStream.ended ? ok({ result: encodeSizeGetResult(BigInt(contextSize(c.member, c.wire))) }) : orig(c)));
    },
  },
];

// ---- ctx-read ------------------------------------------------------------------------------------------

const READ: Mutant[] = [
  {
    name: 'ctx-read-refused-in-stop',
    description: 'DEV_CTX_READ fails while the member is in Stop',
    targets: ['ctx-read.supported-in-every-mode'],
    apply(d) {
      wrap(d, 'DEV_CTX_READ', (orig) => async (c) => (c.member.mode === DeviceMode.STOP ? refused('READ in Stop') : orig(c)));
    },
  },
  {
    name: 'ctx-read-len-overstated',
    description: 'The READ that ends the stream reports context_len as the whole buffer while returning fewer bytes',
    targets: ['ctx-read.context-len-reports-returned-bytes'],
    apply(d) {
      wrap(d, 'DEV_CTX_READ', (orig) => async (c) => {
        const r = await orig(c);
        const n = r.output ? decodeCtxReadOutput(r.output) : 0;
        return n > 0 && n < c.resultCapacity ? { ...r, output: encodeCtxReadOutput(c.resultCapacity) } : r;
      });
    },
  },
  {
    name: 'ctx-read-short-mid-stream',
    description: 'READ returns 8 bytes less than the buffer holds while more context is left',
    targets: ['ctx-read.short-read-only-at-stream-end'],
    apply(d) {
      wrap(d, 'DEV_CTX_READ', (orig) => async (c) => (c.resultCapacity > 8 ? orig({ ...c, resultCapacity: c.resultCapacity - 8 }) : orig(c)));
    },
  },
  {
    name: 'ctx-read-restarts-after-end',
    description: 'A READ after the end of the stream starts a new context instead of returning context_len 0',
    targets: ['ctx-read.zero-len-after-stream-end'],
    apply(d) {
      wrap(d, 'DEV_CTX_READ', (orig) => async (c) => {
        if (c.member.readStream.ended) c.member.readStream.reset();
        return orig(c);
      });
    },
  },
  {
    name: 'ctx-read-wraps-at-exact-end',
    description: 'When a READ takes the last context byte with a full buffer, the device starts a new context for the next READ',
    targets: ['ctx-read.zero-len-after-stream-end'],
    apply(d) {
      wrap(d, 'DEV_CTX_READ', (orig) => async (c) => {
        const r = await orig(c);
        const s = rs(c.member);
        if (!s.ended && s.snapshot && s.pos === s.snapshot.length && s.pos > 0) c.member.readStream.reset();
        return r;
      });
    },
  },
  {
    name: 'ctx-read-repeats-byte',
    description: 'Each READ advances the read position by one byte less than it returned (a byte is returned twice)',
    targets: ['ctx-read.read-data-cleared'],
    apply(d) {
      wrap(d, 'DEV_CTX_READ', (orig) => async (c) => {
        const r = await orig(c);
        const s = rs(c.member);
        if ((r.result?.length ?? 0) > 1 && !s.ended) s.pos -= 1;
        return r;
      });
    },
  },
  {
    name: 'ctx-read-field-count-per-chunk',
    description: 'Every READ after the first starts with a copy of field_count (each chunk framed as a struct virtio_dev_ctx)',
    targets: ['ctx-read.multi-command-stream'],
    apply(d) {
      wrap(d, 'DEV_CTX_READ', (orig) => async (c) => {
        const s = rs(c.member);
        if (!s.snapshot || s.pos === 0 || s.ended || c.resultCapacity <= 4) return orig(c);
        const head = s.snapshot.subarray(0, 4).slice();
        const r = await orig({ ...c, resultCapacity: c.resultCapacity - 4 });
        const result = concat(head, r.result ?? new Uint8Array(0));
        return { ...r, output: encodeCtxReadOutput(result.length), result };
      });
    },
  },
  {
    name: 'ctx-read-mode-change-keeps-end',
    description: 'A mode change does not start a new context stream once one was read to its end',
    targets: ['ctx-read.mode-change-starts-new-stream'],
    apply(d) {
      eachMember(d, (m) => {
        const enter = m.enterMode.bind(m);
        m.enterMode = async (mode: number) => {
          const ended = m.readStream.ended;
          await enter(mode);
          if (ended) Object.assign(rs(m), { snapshot: new Uint8Array(0), pos: 0, returnedData: true, ended: true });
        };
      });
    },
  },
];

// ---- ctx-write -----------------------------------------------------------------------------------------

const WRITE: Mutant[] = [
  {
    name: 'ctx-write-accepted-outside-freeze',
    description: 'DEV_CTX_WRITE completes OK (and is ignored) in Active and Stop',
    targets: ['ctx-write.fails-unless-freeze'],
    apply(d) {
      wrap(d, 'DEV_CTX_WRITE', (orig) => async (c) => (c.member.mode !== DeviceMode.FREEZE ? ok() : orig(c)));
    },
  },
  {
    name: 'ctx-write-second-refused',
    description: 'Once a complete context was written in this Freeze, further WRITEs fail',
    targets: ['ctx-write.complete-context-multiple-times'],
    apply(d) {
      wrap(d, 'DEV_CTX_WRITE', (orig) => async (c) => {
        const w = ws(c.member);
        return w?.pending && !w.partial && c.member.mode === DeviceMode.FREEZE ? refused('a context was already written') : orig(c);
      });
    },
  },
  {
    name: 'ctx-write-first-kept',
    description: 'A later complete context does not replace the first one written: leaving Freeze applies the first',
    targets: ['ctx-write.last-written-context-used'],
    apply(d) {
      wrap(d, 'DEV_CTX_WRITE', (orig) => async (c) => {
        const before = ws(c.member)?.pendingPlan;
        const r = await orig(c);
        const w = ws(c.member);
        if (w && before !== undefined && w.pendingPlan !== before) w.pendingPlan = before;
        return r;
      });
    },
  },
  {
    name: 'ctx-write-applied-in-freeze',
    description: 'A complete written context is applied at once, while the member is still in Freeze',
    targets: ['ctx-write.effective-on-leaving-freeze'],
    apply(d) {
      wrap(d, 'DEV_CTX_WRITE', (orig) => async (c) => {
        const before = ws(c.member)?.pendingPlan;
        const r = await orig(c);
        const w = ws(c.member);
        if (w?.pending && w.pendingPlan !== before) w.applyTo(c.member);
        return r;
      });
    },
  },
  {
    name: 'ctx-write-legacy-header',
    description: 'DEV_CTX_WRITE skips 8 bytes at the start of its data, as if it were the legacy common-config write struct (E7)',
    targets: ['ctx-write.data-is-raw-stream'],
    apply(d) {
      wrap(d, 'DEV_CTX_WRITE', (orig) => async (c) => orig(withCmdData(c, decodeCtxWriteData(c.cmd.data, c.wire).subarray(8))));
    },
  },
  {
    name: 'ctx-write-one-command-contexts',
    description: 'Every DEV_CTX_WRITE starts a new context: the bytes of an unfinished earlier WRITE are dropped',
    targets: ['ctx-write.multi-command-stream'],
    apply(d) {
      wrap(d, 'DEV_CTX_WRITE', (orig) => async (c) => {
        const w = ws(c.member);
        if (w?.partial && c.member.mode === DeviceMode.FREEZE) w.discardPartial();
        return orig(c);
      });
    },
  },
  {
    name: 'ctx-write-padding-rejected',
    description: 'A WRITE that carries zero padding after the end of a complete context fails',
    targets: ['ctx-write.trailing-padding-ignored'],
    apply(d) {
      wrap(d, 'DEV_CTX_WRITE', (orig) => async (c) => {
        const w0 = ws(c.member);
        const prior = w0 ? [...w0.chunks] : [];
        const before = w0?.pendingPlan;
        const r = await orig(c);
        const w = ws(c.member);
        if (r.status !== 0 || !w || w.pendingPlan === before) return r;
        const stream = [...prior, decodeCtxWriteData(c.cmd.data, c.wire)].reduce(concat, new Uint8Array(0));
        try {
          const ctx = decodeDevCtx(stream, c.wire.ctxStreamAlignment, { allowReservedTypes: true, allowTrailing: true });
          if (stream.length > encodedDevCtxSize(ctx, c.wire.ctxStreamAlignment)) {
            w.pendingPlan = before;
            return badField('bytes after the end of the context');
          }
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
        return r;
      });
    },
  },
  {
    name: 'ctx-write-length-unchecked',
    description: 'A written field whose length differs from the device\'s is cut or zero-extended to fit and accepted (SD15 not checked)',
    targets: ['ctx-write.field-length-mismatch-fails'],
    apply(d) {
      wrap(d, 'DEV_CTX_WRITE', (orig) => async (c) => {
        if (c.member.mode !== DeviceMode.FREEZE || ws(c.member)?.partial) return orig(c);
        const data = decodeCtxWriteData(c.cmd.data, c.wire);
        let ctx: VirtioDevCtx;
        try {
          ctx = decodeDevCtx(data, c.wire.ctxStreamAlignment, { allowReservedTypes: true, allowTrailing: true });
        } catch (e) {
          if (e instanceof DecodeError) return orig(c);
          throw e;
        }
        const own = new Map<number, number>();
        for (const f of buildContext(c.member, c.wire).fields) if (f.type !== DevCtxType.VQ_SPLIT_DEV_OWN_DESC && !own.has(f.type)) own.set(f.type, f.value.length);
        const fields: VirtioDevCtxFieldTlv[] = ctx.fields.map((f) => {
          const n = own.get(f.type);
          if (n === undefined || n === f.value.length) return { type: f.type, value: f.value };
          const v = new Uint8Array(n);
          v.set(f.value.subarray(0, n));
          return { type: f.type, value: v };
        });
        return orig(withCmdData(c, encodeDevCtx({ fields }, c.wire.ctxStreamAlignment)));
      });
    },
  },
];

// ---- ctx-discard ---------------------------------------------------------------------------------------

const DISCARD: Mutant[] = [
  {
    name: 'ctx-discard-keeps-partial-read',
    description: 'DEV_CTX_DISCARD leaves a partial read as it was (only the write side is discarded)',
    targets: ['ctx-discard.discards-partial-read'],
    apply(d) {
      wrap(d, 'DEV_CTX_DISCARD', (orig) => async (c) => {
        const keep = c.member.readStream.partial ? saveRead(c.member) : undefined;
        const r = await orig(c);
        if (keep) restoreRead(c.member, keep);
        return r;
      });
    },
  },
  {
    name: 'ctx-discard-keeps-read-cursor',
    description: 'DEV_CTX_DISCARD clears the partial-read state but not the read position: the next READ continues mid-stream',
    targets: ['ctx-discard.read-restarts-after-discard'],
    apply(d) {
      wrap(d, 'DEV_CTX_DISCARD', (orig) => async (c) => {
        const keep = c.member.readStream.partial ? saveRead(c.member) : undefined;
        const r = await orig(c);
        if (keep) restoreRead(c.member, { ...keep, returnedData: false });
        return r;
      });
    },
  },
  {
    name: 'ctx-discard-keeps-size',
    description: 'After DEV_CTX_DISCARD, SIZE_GET keeps reporting the remaining size from before the DISCARD until the next READ',
    targets: ['ctx-discard.size-restarts-after-discard'],
    apply(d) {
      const kept = new WeakMap<VirtioMember, number>();
      wrap(d, 'DEV_CTX_DISCARD', (orig) => async (c) => {
        const left = c.member.readStream.remaining;
        if (left !== undefined && c.member.readStream.partial) kept.set(c.member, left);
        return orig(c);
      });
      wrap(d, 'DEV_CTX_READ', (orig) => async (c) => {
        kept.delete(c.member);
        return orig(c);
      });
      wrap(d, 'DEV_CTX_SIZE_GET', (orig) => async (c) => {
        const left = kept.get(c.member);
        return left !== undefined && !c.member.readStream.started ? ok({ result: encodeSizeGetResult(BigInt(left)) }) : orig(c);
      });
      eachMember(d, (m) => {
        const enter = m.enterMode.bind(m);
        m.enterMode = async (mode: number) => {
          kept.delete(m);
          await enter(mode);
        };
      });
    },
  },
  {
    name: 'ctx-discard-applies-partial-write',
    description: 'DEV_CTX_DISCARD keeps the fields of a partial write, and leaving Freeze applies them',
    targets: ['ctx-discard.discards-partial-write'],
    apply(d) {
      wrap(d, 'DEV_CTX_DISCARD', (orig) => async (c) => {
        const w = ws(c.member);
        if (w?.partial) w.pendingPlan = w.plan;
        return orig(c);
      });
    },
  },
  {
    name: 'ctx-discard-drops-complete-context',
    description: 'DEV_CTX_DISCARD after a partial write also drops the complete context written before it',
    targets: ['ctx-discard.discards-partial-write'],
    apply(d) {
      wrap(d, 'DEV_CTX_DISCARD', (orig) => async (c) => {
        const r = await orig(c);
        c.member.writeStream = undefined;
        return r;
      });
    },
  },
  {
    name: 'ctx-discard-partial-write-status',
    description: 'DEV_CTX_DISCARD after a partial write drops it but completes with EINVAL/INVALID_COMMAND',
    targets: ['ctx-discard.discards-partial-write'],
    apply(d) {
      wrap(d, 'DEV_CTX_DISCARD', (orig) => async (c) => {
        const partial = ws(c.member)?.partial ?? false;
        const r = await orig(c);
        return partial ? refused('partial context write aborted') : r;
      });
    },
  },
  {
    name: 'ctx-discard-carries-written-bytes',
    description: 'DEV_CTX_DISCARD ends a partial write but keeps its bytes: the next WRITE continues them instead of starting a new context',
    targets: ['ctx-discard.write-starts-new-context'],
    apply(d) {
      const carry = new WeakMap<VirtioMember, Uint8Array>();
      wrap(d, 'DEV_CTX_DISCARD', (orig) => async (c) => {
        const w = ws(c.member);
        if (w?.partial) carry.set(c.member, w.chunks.reduce(concat, new Uint8Array(0)));
        return orig(c);
      });
      wrap(d, 'DEV_CTX_WRITE', (orig) => async (c) => {
        const k = carry.get(c.member);
        if (!k || c.member.mode !== DeviceMode.FREEZE) return orig(c);
        carry.delete(c.member);
        return orig(withCmdData(c, concat(k, decodeCtxWriteData(c.cmd.data, c.wire))));
      });
      eachMember(d, (m) => {
        const enter = m.enterMode.bind(m);
        m.enterMode = async (mode: number) => {
          carry.delete(m);
          await enter(mode);
        };
      });
    },
  },
];

// ---- ctx-fields ----------------------------------------------------------------------------------------

const FIELDS: Mutant[] = [
  {
    name: 'ctx-fields-reserved-garbage',
    description: 'FIELDS_QUERY leaves 0xff in the reserved bytes of every entry',
    targets: ['ctx-fields.entry-format'],
    apply(d) {
      fieldsQueryWith(d, (b) => {
        const out = b.slice();
        for (let at = 0; at < out.length; at += 16) out.fill(0xff, at + 2, at + 8);
        return out;
      });
    },
  },
  {
    name: 'ctx-fields-duplicate-entry',
    description: 'FIELDS_QUERY lists VIRTIO_DEV_CTX_PCI_VQ_CFG twice',
    targets: ['ctx-fields.one-entry-per-supported-type'],
    apply(d) {
      fieldsQueryWith(d, (b) => b, (m, wire) => {
        const l = supportedFields(m, wire);
        return [...l, l.find((f) => f.type === DevCtxType.PCI_VQ_CFG)!];
      });
    },
  },
  {
    name: 'ctx-fields-vq-cfg-other-length',
    description: 'FIELDS_QUERY reports the other layout\'s length for PCI_VQ_CFG (32 for the 30 READ returns)',
    targets: ['ctx-fields.length-matches-read'],
    apply(d) {
      fieldsQueryWith(d, (b) => b, (m, wire) => supportedFields(m, wire).map((f) => (f.type === DevCtxType.PCI_VQ_CFG ? { ...f, length: f.length === 30n ? 32n : 30n } : f)));
    },
  },
  {
    name: 'ctx-fields-omits-dev-cfg',
    description: 'FIELDS_QUERY does not list VIRTIO_DEV_CTX_DEV_CFG although every context holds one',
    targets: ['ctx-fields.lists-every-read-type'],
    apply(d) {
      fieldsQueryWith(d, (b) => b, (m, wire) => supportedFields(m, wire).filter((f) => f.type !== DevCtxType.DEV_CFG));
    },
  },
];

// ---- ctx-format ----------------------------------------------------------------------------------------

function edit16(v: Uint8Array, at: number, f: (x: number) => number): Uint8Array {
  const out = v.slice();
  const dv = new DataView(out.buffer);
  dv.setUint16(at, f(dv.getUint16(at, true)) & 0xffff, true);
  return out;
}

const FORMAT: Mutant[] = [
  {
    name: 'ctx-other-stream-layout',
    description: 'The context stream uses the other alignment than the profile reads (natural for packed: first field at byte 8, fields padded to 8)',
    targets: ['ctx-format.stream-layout'],
    apply(d) {
      readFrom(d, (m, wire) => encodeDevCtx(buildContext(m, wire), wire.ctxStreamAlignment === 'packed' ? 'natural' : 'packed'));
    },
  },
  {
    name: 'ctx-field-count-plus-one',
    description: 'field_count is one more than the fields in the stream',
    targets: ['ctx-format.field-count-matches'],
    apply(d) {
      ctxFields(d, (ctx) => ({ ...ctx, fieldCountOverride: ctx.fields.length + 1 }));
    },
  },
  {
    name: 'ctx-tlv-length-with-header',
    description: 'Each field\'s length counts its 16-byte header as well as its value',
    targets: ['ctx-format.tlv-layout'],
    apply(d) {
      ctxFields(d, (ctx) => ({ ...ctx, fields: ctx.fields.map((f) => ({ ...f, lengthOverride: BigInt(16 + f.value.length) })) }));
    },
  },
  {
    name: 'ctx-reserved-type',
    description: 'The context carries a vendor field of the reserved generic type 0x5',
    targets: ['ctx-format.defined-types-only'],
    apply(d) {
      ctxFields(d, (ctx) => ({ ...ctx, fields: [...ctx.fields, { type: 0x5, value: new Uint8Array(8).fill(0xa5) }] }));
    },
  },
  {
    name: 'ctx-common-cfg-truncated',
    description: 'VIRTIO_DEV_CTX_PCI_COMMON_CFG holds only the first 48 bytes of struct virtio_pci_common_cfg',
    targets: ['ctx-format.pci-common-cfg-field'],
    apply(d) {
      ctxFields(d, (ctx) => mapType(ctx, DevCtxType.PCI_COMMON_CFG, (v) => v.subarray(0, 48)));
    },
  },
  {
    name: 'ctx-features-offered',
    description: 'VIRTIO_DEV_CTX_DEV_FEATURES carries the features the device offers, not those negotiated',
    targets: ['ctx-format.dev-features-negotiated'],
    apply(d) {
      ctxFields(d, (ctx, m) => mapType(ctx, DevCtxType.DEV_FEATURES, () => encodeDevFeatures(m.deviceFeatures, 2)));
    },
  },
  {
    name: 'ctx-features-le32-words',
    description: 'VIRTIO_DEV_CTX_DEV_FEATURES is three le32 words (12 bytes) instead of le64 words',
    targets: ['ctx-format.dev-features-layout'],
    apply(d) {
      ctxFields(d, (ctx) => mapType(ctx, DevCtxType.DEV_FEATURES, (v) => v.subarray(0, 12)));
    },
  },
  {
    name: 'ctx-vq-cfg-addresses-swapped',
    description: 'VIRTIO_DEV_CTX_PCI_VQ_CFG has queue_driver and queue_device swapped',
    targets: ['ctx-format.pci-vq-cfg-layout'],
    apply(d) {
      ctxFields(d, (ctx, _m, wire) =>
        mapType(ctx, DevCtxType.PCI_VQ_CFG, (v) => {
          const q = decodePciVqCfg(v);
          return encodePciVqCfg({ ...q, queueDriver: q.queueDevice, queueDevice: q.queueDriver }, wire.pciVqCfgLayout);
        }),
      );
    },
  },
  {
    name: 'ctx-vq-cfg-duplicated',
    description: 'Each VIRTIO_DEV_CTX_PCI_VQ_CFG field appears twice',
    targets: ['ctx-format.pci-vq-cfg-one-per-vq'],
    apply(d) {
      ctxFields(d, (ctx) => ({ ...ctx, fields: ctx.fields.flatMap((f) => (f.type === DevCtxType.PCI_VQ_CFG ? [f, f] : [f])) }));
    },
  },
  {
    name: 'ctx-runtime-padded',
    description: 'VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG is 6 bytes (C padding after enabled)',
    targets: ['ctx-format.split-runtime-layout'],
    apply(d) {
      ctxFields(d, (ctx) => mapType(ctx, DevCtxType.VQ_SPLIT_RUNTIME_CFG, (v) => concat(v, new Uint8Array(1))));
    },
  },
  {
    name: 'ctx-runtime-duplicated',
    description: 'Each VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG field appears twice',
    targets: ['ctx-format.split-runtime-one-per-vq'],
    apply(d) {
      ctxFields(d, (ctx) => ({ ...ctx, fields: ctx.fields.flatMap((f) => (f.type === DevCtxType.VQ_SPLIT_RUNTIME_CFG ? [f, f] : [f])) }));
    },
  },
  {
    name: 'ctx-avail-idx-plus-one',
    description: 'dev_avail_idx in the context is one past where the device stopped taking requests',
    targets: ['ctx-format.split-runtime-resume-index'],
    apply(d) {
      ctxFields(d, (ctx) =>
        mapType(ctx, DevCtxType.VQ_SPLIT_RUNTIME_CFG, (v) => {
          const r = decodeVqSplitRuntime(v);
          return encodeVqSplitRuntime({ ...r, devAvailIdx: (r.devAvailIdx + 1) & 0xffff });
        }),
      );
    },
  },
  {
    name: 'ctx-resume-skips-one',
    description: 'Applying a written context resumes each queue one available entry after dev_avail_idx',
    targets: ['ctx-format.split-runtime-resume-index'],
    apply(d) {
      onApply(d, (m) => {
        for (const q of m.queues) if (m.resumeQueues.has(q.index)) q.lastAvailIdx = (q.lastAvailIdx + 1) & 0xffff;
      });
    },
  },
  {
    name: 'ctx-omits-owned-descs',
    description: 'The context has no VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC field although the device owns descriptors',
    targets: ['ctx-format.dev-own-desc-layout', 'ctx-format.context-sufficient-to-resume'],
    apply(d) {
      ctxFields(d, (ctx) => ({ ...ctx, fields: ctx.fields.filter((f) => f.type !== DevCtxType.VQ_SPLIT_DEV_OWN_DESC) }));
    },
  },
  {
    name: 'ctx-own-desc-count-off',
    description: 'desc_count of VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC is one more than the indexes it carries',
    targets: ['ctx-format.dev-own-desc-layout'],
    apply(d) {
      ctxFields(d, (ctx) => mapType(ctx, DevCtxType.VQ_SPLIT_DEV_OWN_DESC, (v) => edit16(v, 2, (n) => n + 1)));
    },
  },
  {
    name: 'ctx-own-desc-split',
    description: 'Each device-owned descriptor gets its own VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC field, all with the same vq_index',
    targets: ['ctx-format.dev-own-desc-one-per-vq'],
    apply(d) {
      ctxFields(d, (ctx) => ({
        ...ctx,
        fields: ctx.fields.flatMap((f) => {
          if (f.type !== DevCtxType.VQ_SPLIT_DEV_OWN_DESC) return [f];
          const o = decodeVqSplitDevDescs(f.value);
          return o.descIdx.map((i) => ({ type: f.type, value: encodeVqSplitDevDescs({ vqIndex: o.vqIndex, descIdx: [i] }) }));
        }),
      }));
    },
  },
  {
    name: 'ctx-dev-cfg-zeroed',
    description: 'VIRTIO_DEV_CTX_DEV_CFG is all zeros instead of the device configuration',
    targets: ['ctx-format.dev-cfg-field'],
    apply(d) {
      ctxFields(d, (ctx) => mapType(ctx, DevCtxType.DEV_CFG, (v) => new Uint8Array(v.length)));
    },
  },
  {
    name: 'ctx-apply-drops-owned-descs',
    description: 'Applying a written context forgets its device-owned descriptors: requests in flight at the source never complete',
    targets: ['ctx-format.context-sufficient-to-resume'],
    apply(d) {
      onApply(d, (m) => {
        m.inFlight = [];
      });
    },
  },
];

/** Seeded-bug variants for the ctx requirements. */
export const CTX_MUTANTS: Mutant[] = [...SIZE, ...READ, ...WRITE, ...DISCARD, ...FIELDS, ...FORMAT];
