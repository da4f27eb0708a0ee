import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { GroupType, Qualifier, Status } from '../../protocol/status.ts';
import { describeStatus, memberCommandsInUse, memberText, numVfs, outOfRangeMembers, probeCommand, statusText, unsupportedOpcodes } from './helpers.ts';

/** Group types other than SR-IOV: 0 (the 1.4 self group, not in 1.3) and reserved values. */
const BAD_GROUPS = [GroupType.SELF, 0x2, 0x3, 0x7fff, 0xffff];

/**
 * One refused command: status EINVAL (GD1), not OK (GD3), and the qualifier the precedence of GD1
 * names (GD1a/b/c, given as `qualReq`).
 */
function expectRefusedWith(t: ConformanceContext, r: AdminCommandResponse, qualifier: number, qualReq: string, what: string): void {
  t.check('admin.gd3-failure-status-not-ok', r.status !== Status.OK, `${what}: the command must fail, it completed OK`);
  t.check('admin.gd1-check-header-fields', r.status === Status.EINVAL, `${what}: expected status EINVAL, got ${describeStatus(r)}`);
  if (r.status === Status.EINVAL) t.check(qualReq, r.qualifier === qualifier, `${what}: expected ${statusText(Status.EINVAL, qualifier)}, got ${describeStatus(r)}`);
}

conformanceTest(
  {
    id: 'admin.gd1-header-precedence',
    title: 'Invalid group_type, opcode and group_member_id fail with EINVAL and the qualifier of the first invalid field in GD1 order',
    requirements: [
      'admin.gd1-check-header-fields',
      'admin.gd1a-invalid-group-qualifier',
      'admin.gd1b-invalid-opcode-qualifier',
      'admin.gd1c-invalid-member-qualifier',
      'admin.gd3-failure-status-not-ok',
    ],
    // Probes: out-of-range member ids (GR10) and opcodes outside the in-use list (GR6), on purpose.
    breaks: ['admin.gr10-member-id-in-range', 'admin.gr6-no-command-before-list-use'],
  },
  async (t: ConformanceContext) => {
    const n = await numVfs(t);
    const badMembers = outOfRangeMembers(n, t.src);
    const badOps = unsupportedOpcodes(t);
    const cmds = memberCommandsInUse(t);
    const op = t.opcodes;

    // GD1a: a bad group_type wins over everything else that is wrong.
    for (const g of BAD_GROUPS) {
      const probes: { send: () => Promise<AdminCommandResponse>; what: string }[] = [
        { send: () => t.admin.sendOpcode(op.LIST_QUERY, 0, undefined, { groupType: g, resultCapacity: 64 }), what: 'LIST_QUERY' },
        { send: () => t.admin.sendOpcode(badOps[0], t.src, undefined, { groupType: g, resultCapacity: 64 }), what: `opcode 0x${badOps[0].toString(16)} (unsupported)` },
        {
          send: () => t.admin.sendOpcode(badOps[badOps.length - 1], badMembers[0], undefined, { groupType: g, resultCapacity: 64 }),
          what: `opcode 0x${badOps[badOps.length - 1].toString(16)} (unsupported), member ${memberText(badMembers[0])}`,
        },
      ];
      for (const name of cmds) {
        probes.push({ send: () => probeCommand(t, name, t.src, { groupType: g }), what: `${name} to member ${t.src}` });
        probes.push({ send: () => probeCommand(t, name, badMembers[1] ?? badMembers[0], { groupType: g }), what: `${name} to member ${memberText(badMembers[1] ?? badMembers[0])}` });
      }
      for (const p of probes) {
        const r = await p.send();
        expectRefusedWith(t, r, Qualifier.INVALID_GROUP, 'admin.gd1a-invalid-group-qualifier', `${p.what} with group_type 0x${g.toString(16)}`);
      }
    }

    // GD1b: with the group valid, an unsupported (or reserved, 0x8000+) opcode wins over a bad member.
    for (const o of badOps) {
      for (const m of [BigInt(t.src), 0n, (1n << 64n) - 1n]) {
        const r = await t.admin.sendOpcode(o, m, undefined, { resultCapacity: 64 });
        expectRefusedWith(t, r, Qualifier.INVALID_OPCODE, 'admin.gd1b-invalid-opcode-qualifier', `opcode 0x${o.toString(16)} to member ${memberText(m)}`);
      }
    }

    // GD1c: group and opcode valid, member invalid.
    for (const name of cmds) {
      for (const m of badMembers) {
        const r = await probeCommand(t, name, m);
        expectRefusedWith(t, r, Qualifier.INVALID_MEMBER, 'admin.gd1c-invalid-member-qualifier', `${name} to member ${memberText(m)} (NumVFs ${n})`);
      }
    }
  },
);

conformanceTest(
  {
    id: 'admin.gd13-member-out-of-range',
    title: 'With VFs enabled, every member command addressing group_member_id 0 or above NumVFs fails with EINVAL and Q_INVALID_MEMBER',
    requirements: ['admin.gd13-member-out-of-range'],
    breaks: ['admin.gr10-member-id-in-range'],
  },
  async (t: ConformanceContext) => {
    const n = await numVfs(t);
    const cmds = memberCommandsInUse(t);
    if (!cmds.length) t.notApplicable('the device offers no command that addresses a member');
    for (const name of cmds) {
      for (const m of outOfRangeMembers(n, t.src)) {
        const r = await probeCommand(t, name, m);
        t.expectStatus('admin.gd13-member-out-of-range', r, Status.EINVAL, Qualifier.INVALID_MEMBER, `${name} to member ${memberText(m)} (NumVFs ${n})`);
      }
    }
  },
);
