import { DeviceMode, encodeWriteRecordCapResult, encodeWriteRecordsReadResult, recordsCapacity } from '../../protocol/commands.ts';
import type { CommandName } from '../../protocol/opcodes.ts';
import { type DmaBackend, MemberDma } from '../dma.ts';
import type { MemberCommand, MemberHandler } from '../admin/handler.ts';
import { badField, ok, refused } from '../admin/reply.ts';
import type { VirtioMember } from '../member/virtio-member.ts';
import type { RecordedRange, WriteRecorder } from '../migration/write-recorder.ts';
import type { ReferenceDevice } from '../reference-device.ts';
import { eachMember, type Mutant, patch } from './mutant.ts';

const ALL = 1n << 64n;
const EVERYTHING = Number.MAX_SAFE_INTEGER;

/** Wraps the handler of one command. */
function wrap(device: ReferenceDevice, name: CommandName, make: (original: MemberHandler) => MemberHandler): void {
  const original = device.handlers[name];
  if (!original) throw new Error(`the reference device has no ${name} handler`);
  device.handlers[name] = make(original);
}

/** The recorder's set of written pages (private in the reference model). */
function dirtyOf(rec: WriteRecorder): Set<bigint> {
  return (rec as unknown as { dirty: Set<bigint> }).dirty;
}

/** START data with its page_address entries, count or page_size rewritten before the reference checks it. */
function startData(c: MemberCommand, edit: (dv: DataView, count: number) => void): MemberCommand {
  const data = new Uint8Array(Math.max(c.cmd.data.length, 16));
  data.set(c.cmd.data);
  const dv = new DataView(data.buffer);
  edit(dv, dv.getUint32(8, true));
  return { ...c, cmd: { ...c.cmd, data } };
}

/** Seeded-bug variants for the wr requirements. */
export const WR_MUTANTS: Mutant[] = [
  {
    name: 'wr-cap-no-page-size',
    description: 'DEV_WRITE_RECORD_CAP_QUERY reports an empty supported_page_size_bitmap',
    targets: ['wr.cap-page-size-bitmap-nonzero'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORD_CAP_QUERY', () => (c) => ok({ result: encodeWriteRecordCapResult({ supportedPageSizeBitmap: 0, supportedRanges: c.writeRecordCaps.supportedRanges }) }));
    },
  },
  {
    name: 'wr-cap-no-ranges',
    description: 'DEV_WRITE_RECORD_CAP_QUERY reports supported_ranges 0',
    targets: ['wr.cap-supported-ranges-nonzero'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORD_CAP_QUERY', () => (c) => ok({ result: encodeWriteRecordCapResult({ supportedPageSizeBitmap: c.writeRecordCaps.pageSizeBitmap, supportedRanges: 0 }) }));
    },
  },
  {
    name: 'wr-page-size-bits-shifted',
    description: 'The bitmap is encoded with bit n = 2048 << n (bit 0 would be 2 KiB): the page sizes START accepts are advertised one bit too high',
    targets: ['wr.page-size-bit-encoding'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORD_CAP_QUERY', () => (c) => ok({ result: encodeWriteRecordCapResult({ supportedPageSizeBitmap: (c.writeRecordCaps.pageSizeBitmap << 1) >>> 0, supportedRanges: c.writeRecordCaps.supportedRanges }) }));
    },
  },
  {
    name: 'wr-start-any-page-size',
    description: 'START takes any page size of the form 4096 << n, advertised or not',
    targets: ['wr.start-unadvertised-page-size-fails'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORDS_START', (orig) => (c) => orig({ ...c, writeRecordCaps: { ...c.writeRecordCaps, pageSizeBitmap: 0xffffffff } }));
    },
  },
  {
    name: 'wr-start-unaligned-accepted',
    description: 'START rounds an unaligned page_address down to the page size instead of failing',
    targets: ['wr.start-unaligned-address-fails'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORDS_START', (orig) => (c) =>
        orig(
          startData(c, (dv, count) => {
            const pageSize = dv.getBigUint64(0, true);
            if (pageSize === 0n) return;
            for (let i = 0; i < count && 16 + i * 16 + 8 <= dv.byteLength; i++) {
              const at = 16 + i * 16;
              const a = dv.getBigUint64(at, true);
              dv.setBigUint64(at, a - (a % pageSize), true);
            }
          }),
        ),
      );
    },
  },
  {
    name: 'wr-start-ranges-off-by-one',
    description: 'START refuses a count equal to supported_ranges (count < supported_ranges is checked instead of <=)',
    targets: ['wr.start-accepts-up-to-supported-ranges'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORDS_START', (orig) => (c) => {
        const count = c.cmd.data.length >= 12 ? new DataView(c.cmd.data.buffer, c.cmd.data.byteOffset + 8, 4).getUint32(0, true) : 0;
        return count >= c.writeRecordCaps.supportedRanges && count > 1 ? badField(`count ${count} is not below supported_ranges`) : orig(c);
      });
    },
  },
  {
    name: 'wr-start-over-ranges-accepted',
    description: 'START takes more entries than supported_ranges',
    targets: ['wr.start-over-supported-ranges-fails'],
    expect: 'WARN',
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORDS_START', (orig) => (c) => orig({ ...c, writeRecordCaps: { ...c.writeRecordCaps, supportedRanges: 1 << 20 } }));
    },
  },
  {
    name: 'wr-start-ignores-count',
    description: 'START takes every entry in the data, whatever count says',
    targets: ['wr.start-uses-count-entries'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORDS_START', (orig) => (c) =>
        orig(
          startData(c, (dv) => {
            dv.setUint32(8, Math.floor((dv.byteLength - 16) / 16), true);
          }),
        ),
      );
    },
  },
  {
    name: 'wr-misses-last-page',
    description: 'Writes to the last page of each started range are not recorded (the range end is computed one page short)',
    targets: ['wr.start-records-writes-in-range'],
    apply(device) {
      eachMember(device, (m) => {
        const rec = m.recorder;
        patch(rec, 'onWrite', (orig) => (addr: bigint, len: number) => {
          const saved = rec.ranges;
          rec.ranges = saved.map((r) => ({ start: r.start, end: r.end - rec.pageSize }));
          try {
            orig(addr, len);
          } finally {
            rec.ranges = saved;
          }
        });
      });
    },
  },
  {
    name: 'wr-ignores-page-size',
    description: 'Writes are recorded at 4 KiB granularity whatever page_size START gave',
    targets: ['wr.record-is-page-address'],
    apply(device) {
      eachMember(device, (m) => {
        const rec = m.recorder;
        patch(rec, 'onWrite', (orig) => (addr: bigint, len: number) => {
          const saved = rec.pageSize;
          rec.pageSize = 4096n;
          try {
            orig(addr, len);
          } finally {
            rec.pageSize = saved;
          }
        });
      });
    },
  },
  {
    name: 'wr-records-write-address',
    description: 'A record holds the address of the write (clipped to the range), not the address of its page',
    targets: ['wr.record-is-page-address'],
    apply(device) {
      eachMember(device, (m) => {
        const rec = m.recorder;
        patch(rec, 'onWrite', () => (addr: bigint, len: number) => {
          if (!rec.active || len <= 0) return;
          for (const r of rec.ranges) {
            const end = addr + BigInt(len);
            if (end <= r.start || addr >= r.end) continue;
            dirtyOf(rec).add(addr > r.start ? addr : r.start);
          }
        });
      });
    },
  },
  {
    name: 'wr-records-next-page',
    description: 'Each write also marks the page after the last page it touched (an off-by-one end)',
    targets: ['wr.record-is-page-address'],
    apply(device) {
      eachMember(device, (m) => {
        const rec = m.recorder;
        patch(rec, 'onWrite', (orig) => (addr: bigint, len: number) => {
          orig(addr, len);
          if (!rec.active || len <= 0 || rec.pageSize === 0n) return;
          const last = addr + BigInt(len) - 1n;
          orig(last - (last % rec.pageSize) + rec.pageSize, 1);
        });
      });
    },
  },
  {
    name: 'wr-read-returns-all',
    description: 'WRITE_RECORDS_READ returns pending records of every started range, ignoring page_address and length',
    targets: ['wr.read-returns-records-in-range'],
    apply(device) {
      eachMember(device, (m) => patch(m.recorder, 'take', (orig) => (_start: bigint, _length: bigint, max: number) => orig(0n, ALL, max)));
    },
  },
  {
    name: 'wr-count-in-result',
    description: 'WRITE_RECORDS_READ puts the count at the start of command_specific_result (the other E8 reading) and leaves command_specific_output 0',
    targets: ['wr.read-count-in-output'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORDS_READ', (orig) => (c) =>
        orig({ ...c, wire: { ...c.wire, writeRecordsCount: c.wire.writeRecordsCount === 'command_specific_output' ? 'command_specific_result' : 'command_specific_output' } }),
      );
    },
  },
  {
    name: 'wr-read-ok-when-not-recording',
    description: 'WRITE_RECORDS_READ completes with OK and no records when recording is not started',
    targets: ['wr.read-fails-when-not-started', 'wr.read-after-stop-fails'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORDS_READ', (orig) => (c) => (c.member.recorder.active ? orig(c) : ok(encodeWriteRecordsReadResult([], c.wire))));
    },
  },
  {
    name: 'wr-read-after-stop-drains',
    description: 'After STOP, WRITE_RECORDS_READ still completes with OK and returns the records left unread, until the next START',
    targets: ['wr.read-after-stop-fails'],
    apply(device) {
      const left = new Map<VirtioMember, bigint[]>();
      wrap(device, 'DEV_WRITE_RECORDS_STOP', (orig) => (c) => {
        if (c.member.recorder.active) left.set(c.member, c.member.recorder.take(0n, ALL, EVERYTHING));
        else left.delete(c.member);
        return orig(c);
      });
      wrap(device, 'DEV_WRITE_RECORDS_START', (orig) => (c) => {
        left.delete(c.member);
        return orig(c);
      });
      wrap(device, 'DEV_WRITE_RECORDS_READ', (orig) => (c) => {
        const rest = left.get(c.member);
        if (c.member.recorder.active || !rest) return orig(c);
        return ok(encodeWriteRecordsReadResult(rest.splice(0, recordsCapacity(c.resultCapacity, c.wire)), c.wire));
      });
    },
  },
  {
    name: 'wr-stop-fails-when-idle',
    description: 'WRITE_RECORDS_STOP fails when recording is not started',
    targets: ['wr.stop-succeeds-when-not-recording'],
    apply(device) {
      wrap(device, 'DEV_WRITE_RECORDS_STOP', (orig) => (c) => (c.member.recorder.active ? orig(c) : refused('write recording is not started')));
    },
  },
  {
    name: 'wr-stop-keeps-recording',
    description: 'WRITE_RECORDS_STOP only hides the records: the device keeps recording the stopped ranges, and a later START reports what was written meanwhile',
    targets: ['wr.stop-ends-recording'],
    apply(device) {
      eachMember(device, (m) => {
        const rec = m.recorder;
        let ghost: RecordedRange[] = [];
        let ghostPage = 0n;
        patch(rec, 'stop', (orig) => () => {
          if (rec.active) {
            ghost = rec.ranges;
            ghostPage = rec.pageSize;
          }
          orig();
        });
        patch(rec, 'onWrite', (orig) => (addr: bigint, len: number) => {
          if (rec.active || ghost.length === 0) return orig(addr, len);
          const [ranges, pageSize] = [rec.ranges, rec.pageSize];
          rec.active = true;
          rec.ranges = ghost;
          rec.pageSize = ghostPage;
          try {
            orig(addr, len);
          } finally {
            rec.active = false;
            rec.ranges = ranges;
            rec.pageSize = pageSize;
          }
        });
        patch(rec, 'start', (orig) => (...args: unknown[]) => {
          const kept = [...dirtyOf(rec)];
          ghost = [];
          orig(...args);
          for (const p of kept) rec.onWrite(p, 1);
        });
      });
    },
  },
  {
    name: 'wr-flr-clears-records',
    description: 'A member FLR clears the write records gathered so far (recording goes on)',
    targets: ['wr.flr-keeps-records'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m.config, 'resetFunction', (orig) => () => {
          orig();
          dirtyOf(m.recorder).clear();
        });
      });
    },
  },
  {
    name: 'wr-flr-pauses-recording',
    description: 'After a member FLR the device records nothing until the next START (records gathered before are kept)',
    targets: ['wr.flr-keeps-recording'],
    apply(device) {
      eachMember(device, (m) => {
        const rec = m.recorder;
        let paused = false;
        patch(m.config, 'resetFunction', (orig) => () => {
          orig();
          paused = true;
        });
        patch(rec, 'onWrite', (orig) => (addr: bigint, len: number) => (paused ? undefined : orig(addr, len)));
        patch(rec, 'start', (orig) => (...args: unknown[]) => {
          paused = false;
          orig(...args);
        });
      });
    },
  },
  {
    name: 'wr-records-reported-twice',
    description: 'WRITE_RECORDS_READ does not clear the records it returns',
    targets: ['wr.read-clears-returned-records'],
    apply(device) {
      eachMember(device, (m) => {
        const rec = m.recorder;
        patch(rec, 'take', () => (start: bigint, length: bigint, max: number) => {
          const end = start + length;
          return [...dirtyOf(rec)]
            .filter((p) => p >= start && p < end)
            .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
            .slice(0, Math.max(0, max));
        });
      });
    },
  },
  {
    name: 'wr-rewrite-not-reported',
    description: 'A page whose record was read is never recorded again until the next START',
    targets: ['wr.rewrite-reported-again'],
    apply(device) {
      eachMember(device, (m) => {
        const rec = m.recorder;
        const reported = new Set<bigint>();
        patch(rec, 'take', (orig) => (start: bigint, length: bigint, max: number) => {
          const out = orig(start, length, max) as bigint[];
          for (const p of out) reported.add(p);
          return out;
        });
        patch(rec, 'onWrite', (orig) => (addr: bigint, len: number) => {
          orig(addr, len);
          for (const p of reported) dirtyOf(rec).delete(p);
        });
        patch(rec, 'start', (orig) => (...args: unknown[]) => {
          reported.clear();
          orig(...args);
        });
      });
    },
  },
  {
    name: 'wr-small-read-drops-rest',
    description: 'A WRITE_RECORDS_READ whose buffer is too small clears every record of the range, returning only those that fit',
    targets: ['wr.read-partial-when-buffer-small'],
    apply(device) {
      eachMember(device, (m) => patch(m.recorder, 'take', (orig) => (start: bigint, length: bigint, max: number) => (orig(start, length, EVERYTHING) as bigint[]).slice(0, Math.max(0, max))));
    },
  },
  {
    name: 'wr-ring-writes-not-recorded',
    description: 'Used-ring updates bypass write recording: only buffer writes are recorded',
    targets: ['wr.start-records-writes-in-range'],
    apply(device) {
      eachMember(device, (m) => {
        const inner = m.dma as unknown as { backend: DmaBackend; guard: (k: 'read' | 'write', a: bigint, l: number) => void };
        const unrecorded = new MemberDma(inner.backend, () => undefined, (k, a, l) => inner.guard(k, a, l));
        for (const q of m.queues) patch(q, 'pushUsed', (orig) => (_dma: MemberDma, head: number, len: number) => orig(unrecorded, head, len));
      });
    },
  },
  {
    name: 'wr-stop-mode-clears-records',
    description: 'Entering Stop discards the write records gathered so far (recording goes on)',
    targets: ['wr.start-records-writes-in-range'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'enterMode', (orig) => async (mode: number) => {
          await orig(mode);
          if (mode === DeviceMode.STOP) dirtyOf(m.recorder).clear();
        });
      });
    },
  },
];
