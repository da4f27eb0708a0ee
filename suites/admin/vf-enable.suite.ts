import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import { memberCommandsInUse, probeCommand, unsupportedOpcodes, withVfDisabled } from './helpers.ts';

conformanceTest(
  {
    id: 'admin.gd13-vf-enable',
    title: 'With VF Enable clear every SR-IOV group command fails with EINVAL/INVALID_GROUP; with fewer VFs the ids above NumVFs fail with INVALID_MEMBER',
    requirements: ['admin.gd13-vf-disabled-invalid-group', 'admin.gd13-member-out-of-range'],
    needs: ['sriov-control'],
    // Sends commands while VF Enable is clear, and to member ids above NumVFs, on purpose (GD13 probe).
    breaks: ['admin.gr10-vf-enable-while-outstanding', 'admin.gr10-member-id-in-range', 'admin.gr6-no-command-before-list-use'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const cmds = memberCommandsInUse(t);
    const bad = unsupportedOpcodes(t)[0];
    try {
      await withVfDisabled(t, async (s) => {
        const req = 'admin.gd13-vf-disabled-invalid-group';
        const what = 'with VF Enable clear';
        t.expectStatus(req, await a.send('LIST_QUERY', 0, undefined, { resultCapacity: 64 }), Status.EINVAL, Qualifier.INVALID_GROUP, `LIST_QUERY ${what}`);
        t.expectStatus(req, await a.listUse(t.session.inUse), Status.EINVAL, Qualifier.INVALID_GROUP, `LIST_USE of the session list ${what}`);
        for (const name of cmds) {
          t.expectStatus(req, await probeCommand(t, name, t.src), Status.EINVAL, Qualifier.INVALID_GROUP, `${name} to member ${t.src} ${what}`);
        }
        if (cmds.length) {
          const name = cmds[0];
          t.expectStatus(req, await probeCommand(t, name, 0), Status.EINVAL, Qualifier.INVALID_GROUP, `${name} to member 0 ${what}`);
          t.expectStatus(req, await probeCommand(t, name, s.numVfs + 1), Status.EINVAL, Qualifier.INVALID_GROUP, `${name} to member ${s.numVfs + 1} ${what}`);
        }
        if (bad !== undefined) {
          t.expectStatus(req, await a.sendOpcode(bad, t.src, undefined, { resultCapacity: 8 }), Status.EINVAL, Qualifier.INVALID_GROUP, `unsupported opcode 0x${bad.toString(16)} ${what}`);
        }

        // Fewer VFs: NumVFs bounds the member ids, whatever TotalVFs is.
        if (s.numVfs >= 2 && cmds.length) {
          const fewer = s.numVfs - 1;
          await t.sriov().setNumVfs(fewer);
          const now = await t.sriov().state();
          if (now.numVfs !== fewer || !now.vfEnable) {
            t.finding(`the host did not set ${fewer} VFs (NumVFs reads ${now.numVfs}, VF Enable ${now.vfEnable ? 'set' : 'clear'}); the reduced-NumVFs probe was skipped`);
            return;
          }
          t.requireOk(undefined, await a.listQuery().then(() => a.listUse(t.session.inUse)), 'LIST_USE after VF Enable was set again');
          for (const name of cmds) {
            t.expectStatus(
              'admin.gd13-member-out-of-range',
              await probeCommand(t, name, s.numVfs),
              Status.EINVAL,
              Qualifier.INVALID_MEMBER,
              `${name} to member ${s.numVfs} with NumVFs ${fewer} (TotalVFs ${s.totalVfs})`,
            );
          }
        } else {
          t.finding('fewer than two VFs: the reduced-NumVFs probe of GD13 was skipped');
        }
      });
    } finally {
      await a.enableAll();
    }
  },
);
