import { DeviceMode, modeName } from '../../protocol/commands.ts';
import { conformanceTest } from '../../harness/ctest.ts';

conformanceTest(
  {
    id: 'mode.set-same-mode',
    title: 'DEV_MODE_SET to the mode the member is already in completes successfully',
    requirements: ['mode.set-same-mode-succeeds'],
    commandSets: ['context'],
  },
  async (t) => {
    for (const mode of [DeviceMode.ACTIVE, DeviceMode.STOP, DeviceMode.FREEZE]) {
      await t.admin.modeSetOk(t.src, mode);
      t.expectOk('mode.set-same-mode-succeeds', await t.admin.modeSet(t.src, mode), `DEV_MODE_SET ${modeName(mode)} while in ${modeName(mode)}`);
    }
  },
);
