import type { VirtioAdminCmd } from '../../protocol/admin-frame.ts';
import { decodeOpcodeBitmap, DeviceMode, encodeOpcodeBitmap } from '../../protocol/commands.ts';
import { type CommandName, commandName } from '../../protocol/opcodes.ts';
import { GroupType, Qualifier, Status } from '../../protocol/status.ts';
import { SriovReg, SRIOV_CTRL_VFE } from '../../protocol/pci.ts';
import type { MemberHandler } from '../admin/handler.ts';
import { type AdminReply, einval } from '../admin/reply.ts';
import { PF_SRIOV_CAP } from '../owner/pf-function.ts';
import type { ReferenceDevice } from '../reference-device.ts';
import { patch, type Mutant } from './mutant.ts';

// ---- helpers shared by the admin, avq, cmdset and mode mutants --------------------------------------

/** Replaces a command handler with one built from the original. */
export function wrapHandler(device: ReferenceDevice, name: CommandName, make: (orig: MemberHandler) => MemberHandler): void {
  const orig = device.handlers[name];
  if (!orig) throw new Error(`no handler for ${name}`);
  device.handlers[name] = make(orig);
}

type Execute = (cmd: VirtioAdminCmd, cap: number) => Promise<AdminReply>;

/** Wraps ReferenceDevice.execute (header checks, dispatch). */
export function wrapExecute(device: ReferenceDevice, make: (orig: Execute) => Execute): void {
  patch(device, 'execute', make);
}

/** The device's in-use list (private to ReferenceDevice). */
export function inUseOf(device: ReferenceDevice): Set<number> {
  return (device as unknown as { inUse: Set<number> }).inUse;
}

export function setInUse(device: ReferenceDevice, s: Set<number>): void {
  (device as unknown as { inUse: Set<number> }).inUse = s;
}

export function setSupported(device: ReferenceDevice, s: Set<number>): void {
  (device as unknown as { supported: ReadonlySet<number> }).supported = s;
}

export function nameOf(device: ReferenceDevice, opcode: number): CommandName | undefined {
  return commandName(device.options.wire.opcodes, opcode);
}

const isMemberCommand = (device: ReferenceDevice, opcode: number) => {
  const n = nameOf(device, opcode);
  return n !== undefined && n !== 'LIST_QUERY' && n !== 'LIST_USE';
};

function memberInRange(device: ReferenceDevice, id: bigint): boolean {
  return id >= 1n && id <= BigInt(Math.min(device.pf.numVfs, device.members.size));
}

/** Marks the device fresh after an owner reset until the next successful LIST_USE. */
function trackReset(device: ReferenceDevice): { fresh: boolean } {
  const s = { fresh: false };
  patch(device, 'resetOwner', (orig) => () => {
    orig();
    s.fresh = true;
  });
  return s;
}

/** Seeded-bug variants for the admin requirements (base rules GD1..GD13, command structure). */
export const ADMIN_MUTANTS: Mutant[] = [
  {
    name: 'header-errors-reserved-status',
    description: 'An invalid group_type or group_member_id fails with reserved status 1 (with the right qualifier) instead of EINVAL.',
    targets: ['admin.gd1-check-header-fields'],
    apply(device) {
      wrapExecute(device, (orig) => async (cmd, cap) => {
        const r = await orig(cmd, cap);
        return r.status === Status.EINVAL && (r.qualifier === Qualifier.INVALID_GROUP || r.qualifier === Qualifier.INVALID_MEMBER) ? { ...r, status: 1 } : r;
      });
    },
  },
  {
    name: 'unknown-opcode-status-ok',
    description: 'A command with an unsupported opcode completes with status OK and only the qualifier INVALID_OPCODE set.',
    targets: ['admin.gd3-failure-status-not-ok', 'admin.gd1-check-header-fields'],
    apply(device) {
      wrapExecute(device, (orig) => async (cmd, cap) => {
        const r = await orig(cmd, cap);
        return r.status === Status.EINVAL && r.qualifier === Qualifier.INVALID_OPCODE && !device.supported.has(cmd.opcode) ? { ...r, status: Status.OK } : r;
      });
    },
  },
  {
    name: 'member-checked-before-group',
    description: 'A member command with an invalid group_type and an out-of-range group_member_id fails with INVALID_MEMBER (member checked before group type).',
    targets: ['admin.gd1a-invalid-group-qualifier'],
    apply(device) {
      wrapExecute(device, (orig) => async (cmd, cap) => {
        if (cmd.groupType !== GroupType.SRIOV && isMemberCommand(device, cmd.opcode) && !memberInRange(device, cmd.memberId)) {
          return einval(Qualifier.INVALID_MEMBER, 'mutant: member checked first');
        }
        return orig(cmd, cap);
      });
    },
  },
  {
    name: 'unknown-opcode-invalid-command',
    description: 'An opcode the device does not support fails with EINVAL/INVALID_COMMAND instead of INVALID_OPCODE.',
    targets: ['admin.gd1b-invalid-opcode-qualifier'],
    apply(device) {
      wrapExecute(device, (orig) => async (cmd, cap) => {
        const r = await orig(cmd, cap);
        return r.status === Status.EINVAL && r.qualifier === Qualifier.INVALID_OPCODE && !device.supported.has(cmd.opcode) ? { ...r, qualifier: Qualifier.INVALID_COMMAND } : r;
      });
    },
  },
  {
    name: 'member-checked-before-opcode',
    description: 'With a valid group_type, an out-of-range group_member_id is reported (INVALID_MEMBER) before an unsupported opcode.',
    targets: ['admin.gd1b-invalid-opcode-qualifier'],
    apply(device) {
      wrapExecute(device, (orig) => async (cmd, cap) => {
        if (cmd.groupType === GroupType.SRIOV && device.pf.vfEnabled && !device.supported.has(cmd.opcode) && !memberInRange(device, cmd.memberId)) {
          return einval(Qualifier.INVALID_MEMBER, 'mutant: member checked before opcode');
        }
        return orig(cmd, cap);
      });
    },
  },
  {
    name: 'member-id-32-bit',
    description: 'group_member_id is compared as its low 32 bits, so 2^32 + n addresses member n.',
    targets: ['admin.gd1c-invalid-member-qualifier', 'admin.gd13-member-out-of-range'],
    apply(device) {
      wrapExecute(device, (orig) => (cmd, cap) => orig({ ...cmd, memberId: cmd.memberId & 0xffffffffn }, cap));
    },
  },
  {
    name: 'ignores-in-use-list',
    description: 'Every supported command is executed whether or not the last LIST_USE named it (GD10 check missing).',
    targets: ['admin.gd10-check-in-use-list', 'admin.gd10-unlisted-opcode-invalid-opcode'],
    apply(device) {
      wrapExecute(device, (orig) => async (cmd, cap) => {
        const inUse = inUseOf(device);
        if (inUse.has(cmd.opcode) || !device.supported.has(cmd.opcode)) return orig(cmd, cap);
        inUse.add(cmd.opcode);
        try {
          return await orig(cmd, cap);
        } finally {
          inUse.delete(cmd.opcode);
        }
      });
    },
  },
  {
    name: 'list-use-16-bit-bitmap',
    description: 'LIST_USE reads the opcode bitmap as a le16, so opcodes 0x10 and above never become in use.',
    targets: ['admin.gd9-list-use-sets-in-use'],
    apply(device) {
      patch(device, 'listUse', (orig) => (cmd: VirtioAdminCmd) => {
        const r = orig(cmd) as AdminReply;
        if (r.status === Status.OK) setInUse(device, new Set([...inUseOf(device)].filter((o) => o < 0x10)));
        return r;
      });
    },
  },
  {
    name: 'list-query-echoes-list-use',
    description: 'The first LIST_QUERY after a LIST_USE answers the list that LIST_USE carried (a stale buffer), not the supported list: after a smaller LIST_USE it shrinks.',
    targets: ['admin.gd11-supported-list-never-shrinks'],
    apply(device) {
      let echo = false;
      patch(device, 'listUse', (orig) => (cmd: VirtioAdminCmd) => {
        const r = orig(cmd) as AdminReply;
        if (r.status === Status.OK) echo = true;
        return r;
      });
      patch(device, 'listQuery', (orig) => () => {
        const r = orig() as AdminReply;
        if (!echo) return r;
        echo = false;
        return { ...r, result: encodeOpcodeBitmap(inUseOf(device)) };
      });
    },
  },
  {
    name: 'list-query-one-word-empty',
    description: 'LIST_QUERY with a one-word (8-byte) result buffer answers a zero word: bits 0 (LIST_QUERY) and 1 (LIST_USE) are clear.',
    targets: ['admin.list-query-reports-list-commands'],
    apply(device) {
      const ops = device.options.wire.opcodes;
      wrapExecute(device, (orig) => async (cmd, cap) => {
        const r = await orig(cmd, cap);
        return cmd.opcode === ops.LIST_QUERY && r.status === Status.OK && cap <= 8 ? { ...r, result: new Uint8Array(8) } : r;
      });
    },
  },
  {
    name: 'failed-list-use-clears-in-use',
    description: 'LIST_USE naming an unsupported opcode resets the in-use list to LIST_QUERY and LIST_USE before it fails with INVALID_FIELD.',
    targets: ['admin.gd4-einval-no-side-effects'],
    apply(device) {
      patch(device, 'listUse', (orig) => (cmd: VirtioAdminCmd) => {
        const r = orig(cmd) as AdminReply;
        if (r.status !== Status.OK) setInUse(device, new Set([device.options.wire.opcodes.LIST_QUERY, device.options.wire.opcodes.LIST_USE]));
        return r;
      });
    },
  },
  {
    name: 'failed-command-executes',
    description: 'A member command with an invalid group_type is executed on the member it names before it fails with INVALID_GROUP.',
    targets: ['admin.gd4-einval-no-side-effects'],
    apply(device) {
      wrapExecute(device, (orig) => async (cmd, cap) => {
        if (cmd.groupType !== GroupType.SRIOV && isMemberCommand(device, cmd.opcode) && inUseOf(device).has(cmd.opcode) && memberInRange(device, cmd.memberId)) {
          await orig({ ...cmd, groupType: GroupType.SRIOV }, cap);
        }
        return orig(cmd, cap);
      });
    },
  },
  {
    name: 'failure-reserved-status-side-effect',
    description: "DEV_CTX_SIZE_GET with freeze_mode above 1 fails with a reserved status (5) and restarts the member's context read stream.",
    targets: ['admin.gd5-failure-no-side-effects'],
    expect: 'WARN',
    apply(device) {
      wrapHandler(device, 'DEV_CTX_SIZE_GET', (orig) => async (c) => {
        const r = await orig(c);
        if (r.status === Status.EINVAL && r.qualifier === Qualifier.INVALID_FIELD) {
          c.member.readStream.reset();
          return { ...r, status: 5, qualifier: Qualifier.INVALID_COMMAND };
        }
        return r;
      });
    },
  },
  {
    name: 'success-reserved-status',
    description: 'DEV_MODE_SET from Active to Stop completes with reserved status 1 although the member is in Stop.',
    targets: ['admin.gd2-success-status-ok'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) => {
        const before = c.member.mode;
        const r = await orig(c);
        return r.status === Status.OK && before === DeviceMode.ACTIVE && c.member.mode === DeviceMode.STOP ? { ...r, status: 1 } : r;
      });
    },
  },
  {
    name: 'ok-qualifier-nonzero',
    description: 'A successful DEV_MODE_GET carries status_qualifier 7 (a stale TRYAGAIN) with status OK.',
    targets: ['admin.ok-qualifier-zero'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_GET', (orig) => async (c) => {
        const r = await orig(c);
        return r.status === Status.OK ? { ...r, qualifier: Qualifier.TRYAGAIN } : r;
      });
    },
  },
  {
    name: 'stale-command-output',
    description: 'Commands other than DEV_CTX_READ and WRITE_RECORDS_READ leave stale bytes (de ad be ef) in command_specific_output.',
    targets: ['admin.unused-output-zero'],
    expect: 'WARN',
    apply(device) {
      const ops = device.options.wire.opcodes;
      wrapExecute(device, (orig) => async (cmd, cap) => {
        const r = await orig(cmd, cap);
        if (cmd.opcode === ops.DEV_CTX_READ || cmd.opcode === ops.DEV_WRITE_RECORDS_READ) return r;
        return { ...r, output: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) };
      });
    },
  },
  {
    name: 'mode-get-rejects-data',
    description: 'DEV_MODE_GET carrying any non-zero data byte fails with EINVAL/INVALID_FIELD.',
    targets: ['admin.no-data-commands-ignore-data'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_GET', (orig) => async (c) => (c.cmd.data.some((b) => b !== 0) ? einval(Qualifier.INVALID_FIELD, 'mutant: data on MODE_GET') : orig(c)));
    },
  },
  {
    name: 'no-result-commands-write-result',
    description: 'DEV_MODE_SET, DEV_CTX_DISCARD and the other result-less commands write 8 zero bytes of result (used length 16).',
    targets: ['admin.no-result-commands-write-header-only'],
    apply(device) {
      for (const n of ['DEV_MODE_SET', 'DEV_CTX_WRITE', 'DEV_CTX_DISCARD', 'DEV_WRITE_RECORDS_START', 'DEV_WRITE_RECORDS_STOP'] as const) {
        wrapHandler(device, n, (orig) => async (c) => {
          const r = await orig(c);
          return r.status === Status.OK ? { ...r, result: new Uint8Array(8) } : r;
        });
      }
    },
  },
  {
    name: 'mode-set-all-members',
    description: 'DEV_MODE_SET puts every member in the new mode, not only the one in group_member_id.',
    targets: ['admin.migration-cmd-targets-named-member'],
    apply(device) {
      wrapHandler(device, 'DEV_MODE_SET', (orig) => async (c) => {
        const r = await orig(c);
        if (r.status === Status.OK) for (const m of device.members.values()) if (m !== c.member && m.mode !== c.member.mode) await m.enterMode(c.member.mode);
        return r;
      });
    },
  },
  {
    name: 'ignores-vf-enable',
    description: 'The device does not look at VF Enable: SR-IOV group commands keep working while it is clear.',
    targets: ['admin.gd13-vf-disabled-invalid-group'],
    apply(device) {
      const ctrl = PF_SRIOV_CAP + SriovReg.CTRL;
      wrapExecute(device, (orig) => async (cmd, cap) => {
        if (device.pf.vfEnabled) return orig(cmd, cap);
        device.pf.config[ctrl] |= SRIOV_CTRL_VFE;
        try {
          return await orig(cmd, cap);
        } finally {
          device.pf.config[ctrl] &= ~SRIOV_CTRL_VFE;
        }
      });
    },
  },
  {
    name: 'member-range-total-vfs',
    description: 'group_member_id is checked against TotalVFs, not NumVFs, so VFs above NumVFs are still addressed.',
    targets: ['admin.gd13-member-out-of-range'],
    apply(device) {
      Object.defineProperty(device.pf, 'numVfs', { get: () => device.pf.totalVfs });
    },
  },
  {
    name: 'not-ready-before-list-use',
    description: 'After an owner reset and before LIST_USE, commands other than LIST_QUERY and LIST_USE fail with EINVAL/INVALID_COMMAND ("not ready") instead of INVALID_OPCODE.',
    targets: ['admin.gd8-initial-in-use-list'],
    apply(device) {
      const reset = trackReset(device);
      const ops = device.options.wire.opcodes;
      patch(device, 'listUse', (orig) => (cmd: VirtioAdminCmd) => {
        const r = orig(cmd) as AdminReply;
        if (r.status === Status.OK) reset.fresh = false;
        return r;
      });
      wrapExecute(device, (orig) => async (cmd, cap) =>
        reset.fresh && cmd.groupType === GroupType.SRIOV && cmd.opcode !== ops.LIST_QUERY && cmd.opcode !== ops.LIST_USE ? einval(Qualifier.INVALID_COMMAND, 'mutant: not ready') : orig(cmd, cap),
      );
    },
  },
  {
    name: 'first-list-use-after-reset-refused',
    description: 'The first LIST_USE after an owner reset fails with EINVAL/INVALID_FIELD whatever its list (it is compared with a list cleared by the reset).',
    targets: ['admin.gd12-no-failure-because-of-list'],
    apply(device) {
      const reset = trackReset(device);
      patch(device, 'listUse', (orig) => (cmd: VirtioAdminCmd) => {
        if (reset.fresh) {
          reset.fresh = false;
          return einval(Qualifier.INVALID_FIELD, 'mutant: list differs from the cleared one');
        }
        return orig(cmd);
      });
    },
  },
  {
    name: 'first-list-use-after-reset-eagain',
    description: 'The first LIST_USE after an owner reset fails with EAGAIN/TRYAGAIN (the device is still busy resetting).',
    targets: ['admin.gd12-same-list-after-reset'],
    expect: 'WARN',
    apply(device) {
      const reset = trackReset(device);
      patch(device, 'listUse', (orig) => (cmd: VirtioAdminCmd) => {
        if (reset.fresh) {
          reset.fresh = false;
          return { status: Status.EAGAIN, qualifier: Qualifier.TRYAGAIN, reason: 'mutant: busy' };
        }
        return orig(cmd);
      });
    },
  },
  {
    name: 'list-use-refusal-invalid-command',
    description: 'LIST_USE of a list without DEV_MODE_GET is refused (a dependency of the device, GD6) but with EINVAL/INVALID_COMMAND instead of INVALID_FIELD.',
    targets: ['admin.gd6-list-use-may-fail-on-dependencies'],
    apply(device) {
      const ops = device.options.wire.opcodes;
      patch(device, 'listUse', (orig) => (cmd: VirtioAdminCmd) => {
        const want = decodeOpcodeBitmap(cmd.data);
        if (device.supported.has(ops.DEV_MODE_GET) && !want.has(ops.DEV_MODE_GET)) return einval(Qualifier.INVALID_COMMAND, 'mutant: MODE_GET required');
        return orig(cmd);
      });
    },
  },
];
