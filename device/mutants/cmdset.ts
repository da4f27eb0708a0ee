import type { VirtioAdminCmd } from '../../protocol/admin-frame.ts';
import { decodeOpcodeBitmap, encodeOpcodeBitmap } from '../../protocol/commands.ts';
import { GroupType, Qualifier, Status } from '../../protocol/status.ts';
import type { AdminReply } from '../admin/reply.ts';
import type { ReferenceDevice } from '../reference-device.ts';
import { setSupported, wrapExecute } from './admin.ts';
import { patch, type Mutant } from './mutant.ts';

/** An opcode no table assigns: what a renumbered device answers for numbers it does not use. */
const NOWHERE = 0x7ffe;

/**
 * Makes the device speak other opcode numbers on the wire than the reference uses inside: `wire`
 * maps a wire opcode to the internal one (undefined: unsupported on the wire); internal opcodes with
 * no wire number are hidden from LIST_QUERY.
 */
function renumber(device: ReferenceDevice, wire: Map<number, number | undefined>): void {
  const toWire = new Map<number, number>();
  for (const [w, i] of wire) if (i !== undefined) toWire.set(i, w);
  const hidden = (i: number) => [...wire.values()].includes(i) === false && wire.has(i);
  const inward = (op: number) => (wire.has(op) ? (wire.get(op) ?? NOWHERE) : op);
  const outward = (op: number): number | undefined => (toWire.has(op) ? toWire.get(op) : hidden(op) ? undefined : op);
  wrapExecute(device, (orig) => (cmd, cap) => orig({ ...cmd, opcode: inward(cmd.opcode) }, cap));
  patch(device, 'listQuery', (orig) => () => {
    const r = orig() as AdminReply;
    const ops = new Set<number>();
    for (const i of decodeOpcodeBitmap(r.result ?? new Uint8Array(0))) {
      const w = outward(i);
      if (w !== undefined) ops.add(w);
    }
    return { ...r, result: encodeOpcodeBitmap(ops) };
  });
  patch(device, 'listUse', (orig) => (cmd: VirtioAdminCmd) => orig({ ...cmd, data: encodeOpcodeBitmap([...decodeOpcodeBitmap(cmd.data)].map(inward)) }));
}

/** Seeded-bug variants for the command-set requirements (all-or-none groups, opcode values, group type). */
export const CMDSET_MUTANTS: Mutant[] = [
  {
    name: 'context-group-without-write',
    description: 'A migration-source-only device: it implements the mode and context commands except DEV_CTX_WRITE (0xb), and LIST_QUERY says so.',
    targets: ['cmdset.context-group-all-or-none'],
    apply(device) {
      const s = new Set(device.supported);
      s.delete(device.options.wire.opcodes.DEV_CTX_WRITE);
      setSupported(device, s);
    },
  },
  {
    name: 'write-record-group-without-cap-query',
    description: 'The device implements START, STOP and READ of the write-record commands but not DEV_WRITE_RECORD_CAP_QUERY (the command the theory list forgets, E4).',
    targets: ['cmdset.write-record-group-all-or-none'],
    apply(device) {
      const s = new Set(device.supported);
      s.delete(device.options.wire.opcodes.DEV_WRITE_RECORD_CAP_QUERY);
      setSupported(device, s);
    },
  },
  {
    name: 'fields-query-discard-swapped',
    description: 'DEV_CTX_FIELDS_QUERY and DEV_CTX_DISCARD trade opcodes: DISCARD answers at 0xc and FIELDS_QUERY at 0xd (v1 numbering mixed with v2).',
    targets: ['cmdset.context-opcodes'],
    apply(device) {
      const o = device.options.wire.opcodes;
      renumber(device, new Map([[o.DEV_CTX_FIELDS_QUERY, o.DEV_CTX_DISCARD], [o.DEV_CTX_DISCARD, o.DEV_CTX_FIELDS_QUERY]]));
    },
  },
  {
    name: 'cap-query-answers-as-stop',
    description: 'Opcode 0xf runs DEV_WRITE_RECORDS_STOP (its meaning in the paragraph text, E1) instead of DEV_WRITE_RECORD_CAP_QUERY.',
    targets: ['cmdset.write-record-opcodes'],
    apply(device) {
      const o = device.options.wire.opcodes;
      if (o.DEV_WRITE_RECORD_CAP_QUERY !== 0xf) return; // table numbering only
      wrapExecute(device, (orig) => (cmd, cap) => orig(cmd.opcode === 0xf ? { ...cmd, opcode: o.DEV_WRITE_RECORDS_STOP } : cmd, cap));
    },
  },
  {
    name: 'reports-opcode-0xe',
    description: 'LIST_QUERY also reports opcode 0xe (DEV_WRITE_RECORDS_START of the paragraph-text numbering) on a table-numbered device.',
    targets: ['cmdset.opcode-0xe-unassigned'],
    apply(device) {
      patch(device, 'listQuery', (orig) => () => {
        const r = orig() as AdminReply;
        const ops = decodeOpcodeBitmap(r.result ?? new Uint8Array(0));
        ops.add(0xe);
        return { ...r, result: encodeOpcodeBitmap(ops) };
      });
    },
  },
  {
    name: 'opcode-0xe-executes-start',
    description: 'Opcode 0xe is accepted as an alias of DEV_WRITE_RECORDS_START (paragraph-text numbering) although LIST_QUERY does not report it.',
    targets: ['cmdset.opcode-0xe-unassigned'],
    apply(device) {
      const o = device.options.wire.opcodes;
      wrapExecute(device, (orig) => async (cmd, cap) => {
        if (cmd.opcode !== 0xe || o.DEV_WRITE_RECORDS_START === 0xe) return orig(cmd, cap);
        const r = await orig({ ...cmd, opcode: o.DEV_WRITE_RECORDS_START }, cap);
        return r.status === Status.EINVAL && r.qualifier === Qualifier.INVALID_OPCODE ? r : { ...r, status: Status.EINVAL, qualifier: Qualifier.INVALID_FIELD };
      });
    },
  },
  {
    name: 'accepts-self-group',
    description: 'group_type 0 (the 1.4 self group) is taken as SR-IOV: migration commands sent with it are executed.',
    targets: ['cmdset.sr-iov-group-type-only', 'admin.gd1a-invalid-group-qualifier'],
    apply(device) {
      wrapExecute(device, (orig) => (cmd, cap) => orig(cmd.groupType === GroupType.SELF ? { ...cmd, groupType: GroupType.SRIOV } : cmd, cap));
    },
  },
];
