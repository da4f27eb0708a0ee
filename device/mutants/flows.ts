import { DeviceMode } from '../../protocol/commands.ts';
import { decodeDevCtx, DevCtxType, encodeDevCtx } from '../../protocol/device-context.ts';
import { usedRingSize } from '../../protocol/split-ring.ts';
import type { MemberHandler } from '../admin/handler.ts';
import type { MemberDma } from '../dma.ts';
import type { VirtioMember } from '../member/virtio-member.ts';
import type { ReferenceDevice } from '../reference-device.ts';
import type { SplitVirtqueue } from '../virtqueue.ts';
import { eachMember, type Mutant, patch } from './mutant.ts';

/**
 * Seeded-bug variants that only a whole migration shows well: each context looks well formed and
 * each command answers as it should, but the guest loses, repeats or corrupts something once it runs
 * on the destination (suites/flows).
 */

/** Every virtqueue of every member: `fn` patches how it resumes after a context restore. */
function eachQueue(device: ReferenceDevice, fn: (q: SplitVirtqueue, m: VirtioMember) => void): void {
  eachMember(device, (m) => {
    for (const q of m.queues) fn(q, m);
  });
}

/** After a context restore the device learns its used index in syncUsedIdx, then looks for new work. */
function onResume(device: ReferenceDevice, after: (q: SplitVirtqueue, dma: MemberDma, original: (dma: MemberDma) => Promise<void>) => Promise<void>): void {
  eachQueue(device, (q) => {
    patch(q, 'syncUsedIdx', (original) => async (dma: MemberDma) => after(q, dma, original));
  });
}

export const FLOWS_MUTANTS: Mutant[] = [
  {
    name: 'flows-ctx-omits-inflight-descs',
    description: 'The device context leaves out VQ_SPLIT_DEV_OWN_DESC: requests the source had taken but not completed are lost on the destination.',
    targets: ['ctx-format.context-sufficient-to-resume'],
    apply(device) {
      const a = device.options.wire.ctxStreamAlignment;
      eachMember(device, (m) => {
        patch(m.readStream, 'read', (original) => (capacity: number, take: () => Uint8Array) =>
          original(capacity, () => {
            const ctx = decodeDevCtx(take(), a, { allowReservedTypes: true });
            return encodeDevCtx({ fields: ctx.fields.filter((f) => f.type !== DevCtxType.VQ_SPLIT_DEV_OWN_DESC) }, a);
          }),
        );
      });
    },
  },
  {
    name: 'flows-resume-skips-available-entry',
    description: 'After a context restore the device resumes each virtqueue one entry past dev_avail_idx: the first request made available but not taken at Stop is never processed.',
    targets: ['ctx-format.split-runtime-resume-index'],
    apply(device) {
      onResume(device, async (q, dma, original) => {
        await original(dma);
        q.lastAvailIdx = (q.lastAvailIdx + 1) & 0xffff;
      });
    },
  },
  {
    name: 'flows-resume-repeats-available-entry',
    description: 'After a context restore the device resumes each virtqueue one entry before dev_avail_idx: the last request the source took is processed a second time.',
    targets: ['ctx-format.split-runtime-resume-index'],
    apply(device) {
      onResume(device, async (q, dma, original) => {
        await original(dma);
        q.lastAvailIdx = (q.lastAvailIdx - 1) & 0xffff;
      });
    },
  },
  {
    name: 'flows-used-idx-not-relearned',
    description: 'After a context restore the device starts its used index at 0 instead of reading it from the used ring (the context carries none, E14): completions overwrite old used entries and the used index jumps back.',
    targets: ['ctx-format.context-sufficient-to-resume'],
    apply(device) {
      onResume(device, async (q) => {
        q.usedIdx = 0;
      });
    },
  },
  {
    name: 'flows-recorder-misses-used-ring',
    description: 'Write recording does not record the device\'s writes to used rings: after pre-copy the destination\'s used ring pages differ from the source\'s.',
    targets: ['wr.start-records-writes-in-range'],
    apply(device) {
      eachMember(device, (m) => {
        const inUsedRing = (addr: bigint) => m.queues.some((q) => q.enabled && addr >= q.device && addr < q.device + BigInt(usedRingSize(q.size)));
        patch(m.recorder, 'onWrite', (original) => (addr: bigint, len: number) => {
          if (!inUsedRing(addr)) original(addr, len);
        });
      });
    },
  },
  {
    name: 'flows-dev-cfg-not-restored',
    description: 'A written context\'s VIRTIO_DEV_CTX_DEV_CFG is checked but never applied: the destination keeps its own device configuration (block writeback).',
    targets: ['ctx-format.context-sufficient-to-resume'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'restoreDeviceConfig', () => () => undefined);
      });
    },
  },
  {
    name: 'flows-applies-first-written-context',
    description: 'When several complete contexts are written in one Freeze, the device keeps the first: after pre-copy the destination resumes from the stale context read while the source was Active.',
    targets: ['ctx-write.last-written-context-used'],
    apply(device) {
      const original = device.handlers.DEV_CTX_WRITE as MemberHandler;
      type Pending = { pendingPlan?: unknown };
      device.handlers.DEV_CTX_WRITE = async (c) => {
        const before = (c.member.writeStream as unknown as Pending | undefined)?.pendingPlan;
        const reply = await original(c);
        const after = c.member.writeStream as unknown as Pending | undefined;
        if (before !== undefined && after && after.pendingPlan !== before) after.pendingPlan = before;
        return reply;
      };
    },
  },
  {
    name: 'flows-discard-drops-complete-context',
    description: 'DEV_CTX_DISCARD of a partial write also drops the complete context written before it: a destination whose retransmission was cut short and discarded comes back reset.',
    targets: ['ctx-discard.discards-partial-write'],
    apply(device) {
      const original = device.handlers.DEV_CTX_DISCARD as MemberHandler;
      device.handlers.DEV_CTX_DISCARD = async (c) => {
        const reply = await original(c);
        c.member.writeStream = undefined;
        return reply;
      };
    },
  },
  {
    name: 'flows-ctx-dropped-on-freeze-to-stop',
    description: 'A context written in Freeze takes effect only on Freeze -> Active; on Freeze -> Stop it is dropped, so a destination resumed through Stop comes back reset.',
    targets: ['ctx-write.effective-on-leaving-freeze'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'enterMode', (original) => async (mode: number) => {
          if (m.mode === DeviceMode.FREEZE && mode === DeviceMode.STOP) m.writeStream = undefined;
          return original(mode);
        });
      });
    },
  },
];
