import { DeviceMode, decodeModeSetData, decodeWriteRecordsReadResult, isValidMode, recordsCapacity } from '../../protocol/commands.ts';
import { DevCtxType, TLV_HEADER_SIZE } from '../../protocol/device-context.ts';
import { Status } from '../../protocol/status.ts';
import type { MemberCommand, MemberHandler } from '../admin/handler.ts';
import { badField } from '../admin/reply.ts';
import type { VirtioMember } from '../member/virtio-member.ts';
import type { ReferenceDevice } from '../reference-device.ts';
import type { CommandName } from '../../protocol/opcodes.ts';
import { eachMember, patch, type Mutant } from './mutant.ts';

/**
 * Seeded bugs that show only after a particular sequence of commands and member events: the kind a
 * hand-written test that checks one rule at a time rarely walks into, and the property-based tests of
 * suites/fuzz find and shrink. Each keeps the reference behaviour everywhere else.
 */

/** Wraps a command handler of the device (the handlers table is the device's patch point). */
function wrap(device: ReferenceDevice, name: CommandName, make: (orig: MemberHandler) => MemberHandler): void {
  const orig = device.handlers[name];
  if (orig) device.handlers[name] = make(orig);
}

/** Calls `fn` before every member command the device handles (to see command order per member). */
function beforeEvery(device: ReferenceDevice, fn: (name: CommandName, c: MemberCommand) => void): void {
  for (const name of Object.keys(device.handlers) as CommandName[]) wrap(device, name, (orig) => (c) => (fn(name, c), orig(c)));
}

/** Per-member state a mutant keeps beside the member. */
function perMember<T>(init: () => T): (m: VirtioMember) => T {
  const map = new WeakMap<VirtioMember, T>();
  return (m) => {
    let v = map.get(m);
    if (v === undefined) map.set(m, (v = init()));
    return v;
  };
}

export const FUZZ_MUTANTS: Mutant[] = [
  {
    name: 'fuzz-discard-reread-unlocks-mode',
    description:
      'After a DISCARD of a started context read in Stop, the next READ that returns data does not mark the read partial again: MODE_SET Active is accepted mid-stream.',
    targets: ['mode.set-fails-while-read-partial'],
    apply(device) {
      const state = perMember(() => ({ discardedInStop: false, mode: -1 }));
      beforeEvery(device, (name, c) => {
        const s = state(c.member);
        if (s.mode !== c.member.mode) {
          s.mode = c.member.mode;
          s.discardedInStop = false;
        }
        if (name === 'DEV_CTX_DISCARD' && c.member.mode === DeviceMode.STOP && c.member.readStream.started) s.discardedInStop = true;
      });
      wrap(device, 'DEV_MODE_SET', (orig) => async (c) => {
        const { mode } = decodeModeSetData(c.cmd.data);
        if (state(c.member).discardedInStop && mode === DeviceMode.ACTIVE && c.member.readStream.partial) c.member.readStream.reset();
        return orig(c);
      });
    },
  },
  {
    name: 'fuzz-start-after-flr-loses-records',
    description:
      'A WRITE_RECORDS_START that is the first write-recording command after a member FLR arms the recorder late: writes made until the next STOP are not recorded.',
    targets: ['wr.start-records-writes-in-range'],
    apply(device) {
      const state = perMember(() => ({ flr: false, deaf: false }));
      eachMember(device, (m) => {
        patch(m, 'startFlr', (orig) => () => {
          state(m).flr = true;
          return orig();
        });
        patch(m.recorder, 'onWrite', (orig) => (addr: bigint, len: number) => (state(m).deaf ? undefined : orig(addr, len)));
      });
      beforeEvery(device, (name, c) => {
        const s = state(c.member);
        if (name === 'DEV_WRITE_RECORDS_START') {
          s.deaf = s.flr && !c.member.recorder.active;
          s.flr = false;
        } else if (name === 'DEV_WRITE_RECORDS_STOP' || name === 'DEV_WRITE_RECORD_CAP_QUERY' || name === 'DEV_WRITE_RECORDS_READ') {
          if (name === 'DEV_WRITE_RECORDS_STOP') s.deaf = false;
          s.flr = false;
        }
      });
    },
  },
  {
    name: 'fuzz-refused-mode-set-restarts-stream',
    description:
      'A MODE_SET refused for a reserved mode value resets the context read stream before the value is checked: after the stream ended in Freeze, SIZE_GET reports a stale non-zero size and READ returns the context again.',
    targets: ['admin.gd4-einval-no-side-effects'],
    apply(device) {
      wrap(device, 'DEV_MODE_SET', (orig) => async (c) => {
        const r = await orig(c);
        if (r.status !== Status.OK && !isValidMode(decodeModeSetData(c.cmd.data).mode) && c.member.readStream.ended) c.member.readStream.reset();
        return r;
      });
    },
  },
  {
    name: 'fuzz-split-own-desc-write-refused',
    description:
      'A DEV_CTX_WRITE whose data ends inside a VQ_SPLIT_DEV_OWN_DESC field (the rest follows in the next WRITE) is refused as a field length mismatch.',
    targets: ['ctx-write.multi-command-stream'],
    apply(device) {
      const acc = perMember<{ bytes: Uint8Array }>(() => ({ bytes: new Uint8Array(0) }));
      wrap(device, 'DEV_CTX_WRITE', (orig) => async (c) => {
        const a = acc(c.member);
        if (c.member.mode !== DeviceMode.FREEZE || !c.member.writeStream?.partial) a.bytes = new Uint8Array(0);
        const stream = new Uint8Array(a.bytes.length + c.cmd.data.length);
        stream.set(a.bytes);
        stream.set(c.cmd.data, a.bytes.length);
        if (c.member.mode === DeviceMode.FREEZE && splitsOwnDesc(stream, c.wire.ctxStreamAlignment === 'packed' ? 4 : 8)) {
          return badField('mutant: VQ_SPLIT_DEV_OWN_DESC length does not match its desc_count');
        }
        const r = await orig(c);
        if (r.status === Status.OK) a.bytes = stream;
        return r;
      });
    },
  },
  {
    name: 'fuzz-rewrite-after-full-read-unrecorded',
    description:
      'A page whose record was returned by a WRITE_RECORDS_READ that filled its result buffer is never recorded again until the next START.',
    targets: ['wr.rewrite-reported-again'],
    apply(device) {
      const muted = perMember(() => new Set<bigint>());
      eachMember(device, (m) => {
        patch(m.recorder, 'onWrite', (orig) => (addr: bigint, len: number) => {
          const ps = m.recorder.pageSize;
          if (ps > 0n && len > 0 && muted(m).size) {
            const first = addr - (addr % ps);
            const last = addr + BigInt(len) - 1n;
            for (let p = first; p <= last; p += ps) if (!muted(m).has(p)) orig(p > addr ? p : addr, 1);
            return;
          }
          orig(addr, len);
        });
      });
      wrap(device, 'DEV_WRITE_RECORDS_START', (orig) => (c) => (muted(c.member).clear(), orig(c)));
      wrap(device, 'DEV_WRITE_RECORDS_STOP', (orig) => (c) => (muted(c.member).clear(), orig(c)));
      wrap(device, 'DEV_WRITE_RECORDS_READ', (orig) => async (c) => {
        const r = await orig(c);
        if (r.status === Status.OK && r.output && r.result) {
          const got = decodeWriteRecordsReadResult(r.output, r.result, c.wire);
          if (got.length > 0 && got.length === recordsCapacity(c.resultCapacity, c.wire)) for (const p of got) muted(c.member).add(p);
        }
        return r;
      });
    },
  },
];

/** Whether `stream` (a context being written) ends inside a VQ_SPLIT_DEV_OWN_DESC field. */
function splitsOwnDesc(stream: Uint8Array, first: number): boolean {
  if (stream.length < 4) return false;
  const dv = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const count = dv.getUint32(0, true);
  let at = first;
  for (let i = 0; i < count && at < stream.length; i++) {
    if (at + TLV_HEADER_SIZE > stream.length) return false;
    const type = dv.getUint16(at, true);
    const len = Number(dv.getBigUint64(at + 8, true) & 0xffffffffn);
    const end = at + TLV_HEADER_SIZE + len;
    if (type === DevCtxType.VQ_SPLIT_DEV_OWN_DESC && stream.length > at && stream.length < end) return true;
    at = first === 4 ? end : Math.ceil(end / 8) * 8;
  }
  return false;
}
