import { READABLE_HEADER_SIZE } from '../../protocol/admin-frame.ts';
import { decodeCtxReadOutput, DeviceMode } from '../../protocol/commands.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import { einval } from '../admin/reply.ts';
import type { ReferenceDevice } from '../reference-device.ts';
import { wrapExecute, wrapHandler } from './admin.ts';
import { patch, type Mutant } from './mutant.ts';

type Completion = { writable: Uint8Array; usedLength: number };

/** Wraps ReferenceDevice.submit (one descriptor chain in, writable bytes and used length out). */
function wrapSubmit(device: ReferenceDevice, make: (orig: (readable: Uint8Array, writableLength: number) => Promise<Completion>) => (readable: Uint8Array, writableLength: number) => Promise<Completion>): void {
  patch(device, 'submit', make);
}

const opcodeOf = (readable: Uint8Array) => (readable.length >= 2 ? readable[0] | (readable[1] << 8) : 0);
const statusOf = (c: Completion) => (c.usedLength >= 2 ? c.writable[0] | (c.writable[1] << 8) : 0);

function commonCfgOverride(device: ReferenceDevice, values: Record<number, number>): void {
  patch(device.pf, 'commonCfgRead', (orig) => (offset: number, width: 1 | 2 | 4) => (offset in values ? values[offset] : orig(offset, width)));
}

/** Seeded-bug variants for the admin virtqueue requirements (VD1..VD9, admin queue discovery). */
export const AVQ_MUTANTS: Mutant[] = [
  {
    name: 'short-readable-garbage',
    description: 'Header bytes missing from a readable part shorter than 24 bytes are read as 0xff (stale buffer) instead of zero.',
    targets: ['avq.vd1a-short-readable-reads-zero'],
    apply(device) {
      wrapSubmit(device, (orig) => (readable, wl) => {
        if (readable.length >= READABLE_HEADER_SIZE) return orig(readable, wl);
        const r = new Uint8Array(READABLE_HEADER_SIZE).fill(0xff);
        r.set(readable);
        return orig(r, wl);
      });
    },
  },
  {
    name: 'truncation-not-honoured',
    description: 'A writable part shorter than 16 bytes is written as if it were 16 bytes long: the used length can exceed the buffer.',
    targets: ['avq.vd1b-short-writable-truncated'],
    apply(device) {
      wrapSubmit(device, (orig) => (readable, wl) => orig(readable, Math.max(wl, 16)));
    },
  },
  {
    name: 'short-writable-skipped',
    description: 'A command whose writable part cannot hold the 8-byte status header is dropped unexecuted (used length 0).',
    targets: ['avq.vd1b-short-writable-truncated'],
    apply(device) {
      wrapSubmit(device, (orig) => async (readable, wl) => (wl < 8 ? { writable: new Uint8Array(wl), usedLength: 0 } : orig(readable, wl)));
    },
  },
  {
    name: 'long-data-refused',
    description: 'LIST_QUERY, DEV_MODE_SET and DEV_CTX_SIZE_GET carrying more data than their structure (past the 8-byte padding) fail with EINVAL/INVALID_FIELD.',
    targets: ['avq.vd2a-long-readable-ignored', 'avq.vd4-no-failure-for-buffer-size'],
    apply(device) {
      const ops = device.options.wire.opcodes;
      wrapExecute(device, (orig) => async (cmd, cap) => {
        const limit = cmd.opcode === ops.LIST_QUERY ? 0 : cmd.opcode === ops.DEV_MODE_SET || cmd.opcode === ops.DEV_CTX_SIZE_GET ? 8 : Infinity;
        return cmd.data.length > limit ? einval(Qualifier.INVALID_FIELD, 'mutant: data too long') : orig(cmd, cap);
      });
    },
  },
  {
    name: 'used-length-whole-buffer',
    description: 'DEV_MODE_GET, DEV_CTX_SIZE_GET and DEV_WRITE_RECORD_CAP_QUERY report the whole writable buffer as the used length.',
    targets: ['avq.vd2b-long-writable-used-length'],
    apply(device) {
      const ops = device.options.wire.opcodes;
      const fill = new Set([ops.DEV_MODE_GET, ops.DEV_CTX_SIZE_GET, ops.DEV_WRITE_RECORD_CAP_QUERY]);
      wrapSubmit(device, (orig) => async (readable, wl) => {
        const c = await orig(readable, wl);
        return fill.has(opcodeOf(readable)) && statusOf(c) === Status.OK ? { ...c, usedLength: c.writable.length } : c;
      });
    },
  },
  {
    name: 'failed-used-length-4',
    description: 'A failed command writes only status and status_qualifier: used length 4, command_specific_output left uninitialized.',
    targets: ['avq.vd3-initialize-writable'],
    expect: 'WARN',
    apply(device) {
      wrapSubmit(device, (orig) => async (readable, wl) => {
        const c = await orig(readable, wl);
        return statusOf(c) !== Status.OK && c.usedLength > 4 ? { ...c, usedLength: 4 } : c;
      });
    },
  },
  {
    name: 'status-not-written',
    description: 'A successful DEV_MODE_SET or DEV_CTX_DISCARD completes with used length 0: status and status_qualifier are not written.',
    targets: ['avq.vd6-status-initialized'],
    apply(device) {
      const ops = device.options.wire.opcodes;
      wrapSubmit(device, (orig) => async (readable, wl) => {
        const c = await orig(readable, wl);
        const op = opcodeOf(readable);
        return (op === ops.DEV_MODE_SET || op === ops.DEV_CTX_DISCARD) && statusOf(c) === Status.OK ? { writable: new Uint8Array(c.writable.length), usedLength: 0 } : c;
      });
    },
  },
  {
    name: 'used-length-unpadded',
    description: 'DEV_MODE_GET and DEV_CTX_READ report the exact reply length as used length (9 for MODE_GET), not whole 8-byte units.',
    targets: ['avq.vd5-writable-multiple-of-8'],
    // avq.vd5 is a MUST whose catalog entry makes a used length off the 8-byte grid a WARN, not a failure.
    expect: 'WARN',
    apply(device) {
      const ops = device.options.wire.opcodes;
      wrapSubmit(device, (orig) => async (readable, wl) => {
        const c = await orig(readable, wl);
        if (statusOf(c) !== Status.OK || c.usedLength <= 8) return c;
        const op = opcodeOf(readable);
        if (op === ops.DEV_MODE_GET) return { ...c, usedLength: 9 };
        if (op === ops.DEV_CTX_READ) return { ...c, usedLength: Math.min(c.usedLength, 8 + decodeCtxReadOutput(c.writable.subarray(4, 8))) };
        return c;
      });
    },
  },
  {
    name: 'commands-run-concurrently',
    description: 'Queued commands are processed concurrently: a DEV_MODE_SET takes effect after a DEV_MODE_GET queued behind it has already been answered.',
    targets: ['avq.vd7-in-order-processing'],
    apply(device) {
      const ops = device.options.wire.opcodes;
      wrapSubmit(device, () => (readable, wl) => (device as unknown as { process(r: Uint8Array, w: number): Promise<Completion> }).process(readable, wl));
      wrapExecute(device, (orig) => async (cmd, cap) => {
        if (cmd.opcode === ops.DEV_MODE_SET) await new Promise((r) => setImmediate(r));
        return orig(cmd, cap);
      });
    },
  },
  {
    name: 'eagain-after-applying',
    description: 'DEV_MODE_SET from Stop to Freeze puts the member in Freeze and then answers EAGAIN/TRYAGAIN (a retry is not side-effect free).',
    targets: ['avq.vd9-retry-status-no-side-effects'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) => {
        const before = c.member.mode;
        const r = await orig(c);
        return r.status === Status.OK && before === DeviceMode.STOP && c.member.mode === DeviceMode.FREEZE ? { status: Status.EAGAIN, qualifier: Qualifier.TRYAGAIN } : r;
      });
    },
  },
  {
    name: 'admin-queue-overlaps-regular',
    description: 'The owner reports admin_queue_index 0, the index of its request queue.',
    targets: ['avq.admin-queue-index-after-regular-queues'],
    apply(device) {
      commonCfgOverride(device, { [CommonCfg.ADMIN_QUEUE_INDEX.offset]: 0 });
    },
  },
  {
    name: 'admin-queue-past-16-bit',
    description: 'The owner reports admin_queue_index 0xfff8 with admin_queue_num 16: the last admin queues have no 16-bit index.',
    targets: ['avq.admin-queue-count-fits-16-bit'],
    apply(device) {
      commonCfgOverride(device, { [CommonCfg.ADMIN_QUEUE_INDEX.offset]: 0xfff8, [CommonCfg.ADMIN_QUEUE_NUM.offset]: 16 });
    },
  },
  {
    name: 'no-admin-queue-advertised',
    description: 'The owner answers admin commands but reports admin_queue_num 0.',
    targets: ['avq.admin-queue-present-when-negotiated'],
    apply(device) {
      commonCfgOverride(device, { [CommonCfg.ADMIN_QUEUE_NUM.offset]: 0 });
    },
  },
];
