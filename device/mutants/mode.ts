import { decodeModeSetData, DeviceMode, encodeModeGetResult, isValidMode } from '../../protocol/commands.ts';
import { Status } from '../../protocol/status.ts';
import { ok, refused } from '../admin/reply.ts';
import { wrapHandler } from './admin.ts';
import { patch, type Mutant } from './mutant.ts';

/** Seeded-bug variants for the mode requirements (patch 1/8 mode table, SD2..SD5, SD11g). */
export const MODE_MUTANTS: Mutant[] = [
  {
    name: 'mode-changes-on-refused-set',
    description: 'DEV_MODE_SET to Active or Stop with a partial context read or write changes the mode, then reports the refusal.',
    targets: ['mode.set-failure-keeps-mode', 'admin.gd4-einval-no-side-effects'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) => {
        const r = await orig(c);
        const { mode } = decodeModeSetData(c.cmd.data);
        if (r.status !== Status.OK && isValidMode(mode) && mode !== c.member.mode) await c.member.enterMode(mode);
        return r;
      });
    },
  },
  {
    name: 'reserved-mode-accepted',
    description: 'DEV_MODE_SET with a reserved mode (3..255) completes OK and changes nothing.',
    targets: ['mode.set-reserved-mode-fails'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) => (isValidMode(decodeModeSetData(c.cmd.data).mode) ? orig(c) : ok()));
    },
  },
  {
    name: 'reserved-mode-masked',
    description: 'DEV_MODE_SET with a reserved mode fails, but the member first takes mode & 0x3 (4 is Active, 5 Stop, 6 Freeze).',
    targets: ['mode.set-failure-keeps-mode'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) => {
        const r = await orig(c);
        const { mode } = decodeModeSetData(c.cmd.data);
        if (!isValidMode(mode) && isValidMode(mode & 3)) await c.member.enterMode(mode & 3);
        return r;
      });
    },
  },
  {
    name: 'same-mode-refused',
    description: 'DEV_MODE_SET to the mode the member is already in fails with EINVAL/INVALID_COMMAND.',
    targets: ['mode.set-same-mode-succeeds'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) => (decodeModeSetData(c.cmd.data).mode === c.member.mode ? refused('mutant: already in that mode') : orig(c)));
    },
  },
  {
    name: 'partial-read-ignored',
    description: 'DEV_MODE_SET to Active or Stop is allowed while the context is partially read (the partial read is dropped).',
    targets: ['mode.set-fails-while-read-partial'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) => {
        if (c.member.readStream.partial) c.member.readStream.reset();
        return orig(c);
      });
    },
  },
  {
    name: 'partial-write-ignored',
    description: 'DEV_MODE_SET to Active or Stop is allowed while a context write is partial (the partial bytes are dropped).',
    targets: ['mode.set-fails-while-write-partial'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) => {
        const { mode } = decodeModeSetData(c.cmd.data);
        if (mode !== DeviceMode.FREEZE && c.member.writeStream?.partial) c.member.writeStream = undefined;
        return orig(c);
      });
    },
  },
  {
    name: 'freeze-to-stop-refused',
    description: 'The device allows leaving Freeze only to Active: DEV_MODE_SET Stop from Freeze fails with EINVAL/INVALID_COMMAND.',
    targets: ['mode.any-transition-allowed'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) =>
        c.member.mode === DeviceMode.FREEZE && decodeModeSetData(c.cmd.data).mode === DeviceMode.STOP ? refused('mutant: Freeze -> Stop') : orig(c),
      );
    },
  },
  {
    name: 'freeze-to-stop-not-applied',
    description: 'DEV_MODE_SET Stop from Freeze completes OK but the member stays in Freeze.',
    targets: ['mode.set-applies-mode'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) =>
        c.member.mode === DeviceMode.FREEZE && decodeModeSetData(c.cmd.data).mode === DeviceMode.STOP ? ok() : orig(c),
      );
    },
  },
  {
    name: 'mode-get-flags',
    description: 'DEV_MODE_GET in Freeze sets bit 7 of the mode byte (an internal "context valid" flag), reading 0x82.',
    targets: ['mode.get-returns-valid-mode'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_GET', (orig) => async (c) => {
        const r = await orig(c);
        return r.status === Status.OK && c.member.mode === DeviceMode.FREEZE ? { ...r, result: encodeModeGetResult(0x80 | DeviceMode.FREEZE) } : r;
      });
    },
  },
  {
    name: 'new-member-starts-stopped',
    description: 'A member instantiated by setting VF Enable starts in Stop instead of the default Active.',
    targets: ['mode.default-active'],
    apply(device) {
      patch(device, 'releaseMembers', (orig) => () => {
        orig();
        for (const m of device.members.values()) m.mode = DeviceMode.STOP;
      });
    },
  },
  {
    name: 'freeze-context-drifts',
    description: 'In Freeze every other new context read stream has its last byte changed (a counter the device keeps updating).',
    targets: ['mode.freeze-context-unchanged'],
    apply(device) {
      const streams = new Map<number, { off: number; total: number; n: number }>();
      wrapHandler(device, 'DEV_CTX_READ', (orig) => async (c) => {
        const fresh = !c.member.readStream.started;
        const r = await orig(c);
        if (r.status !== Status.OK || c.member.mode !== DeviceMode.FREEZE || !r.result) return r;
        let s = streams.get(c.member.id);
        if (fresh) {
          s = { off: 0, total: r.result.length + (c.member.readStream.remaining ?? 0), n: (s?.n ?? 0) + 1 };
          streams.set(c.member.id, s);
        }
        if (!s) return r;
        const at = s.total - 1 - s.off;
        s.off += r.result.length;
        if (s.n % 2 === 0 && at >= 0 && at < r.result.length) {
          const result = r.result.slice();
          result[at] ^= 0x01;
          return { ...r, result };
        }
        return r;
      });
    },
  },
];
