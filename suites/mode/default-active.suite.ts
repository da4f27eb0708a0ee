import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import { DeviceMode, modeName } from '../../protocol/commands.ts';
import { Status } from '../../protocol/status.ts';
import { describeStatus, retryEagain, withVfDisabled } from '../admin/helpers.ts';

/**
 * "Active is the default mode after instantiation of the member device." Every test starts from a
 * baseline that sets Active, and a member FLR or reset keeps the mode the owner set (E22), so the
 * default is only observable on a member that was just instantiated: the test sets the members under
 * test to Stop and Freeze, clears and sets VF Enable (the VFs go away and come back as new
 * instances) and reads every member's mode before any DEV_MODE_SET reaches it.
 */
conformanceTest(
  {
    id: 'mode.default-active-after-instantiation',
    title: 'A member instantiated by setting VF Enable is in Active mode before any DEV_MODE_SET',
    requirements: ['mode.default-active'],
    commandSets: ['context'],
    needs: ['sriov-control'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    await a.modeSetOk(t.src, DeviceMode.STOP);
    if (t.members.length > 1) await a.modeSetOk(t.members[1], DeviceMode.FREEZE);
    const n = await withVfDisabled(t, async (s) => s.numVfs);
    // Enabled again: the in-use list is the owner's, not the members'; LIST_USE again all the same.
    await a.enableAll();
    for (let m = 1; m <= n; m++) {
      const r = await retryEagain(t, () => a.modeGet(m));
      if (!t.check('mode.default-active', r.status === Status.OK && r.result.length >= 1, `member ${m}: DEV_MODE_GET right after VF Enable was set: ${describeStatus(r)}`)) continue;
      const was = m === t.src ? ' (Stop before VF Enable was cleared)' : m === t.members[1] ? ' (Freeze before VF Enable was cleared)' : '';
      t.check('mode.default-active', r.result[0] === DeviceMode.ACTIVE, `member ${m} reads ${modeName(r.result[0])} right after it was instantiated${was}; the default mode is Active`);
    }
  },
);
