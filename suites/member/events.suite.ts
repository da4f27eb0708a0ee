/**
 * Device-initiated events outside Active: no PME (SD11f, E24) and no configuration change notification
 * (SD12b). Both need a transport that can make the device want to send one (stimuli); each test first
 * shows, in Active, that the stimulus does produce the event, or its silence would prove nothing.
 */
import { conformanceTest } from '../../harness/ctest.ts';
import { DeviceMode, modeName } from '../../protocol/commands.ts';
import type { MemberEvent } from '../../protocol/member-port.ts';
import { CommonCfg, VIRTIO_MSI_NO_VECTOR } from '../../protocol/pci-common-cfg.ts';
import { configReaderOf, findCapability } from '../../protocol/pci-capabilities.ts';
import { PciCapId, PM_CTRL, PM_CTRL_PME_ENABLE, PM_CTRL_PME_STATUS, PM_CTRL_STATE_MASK, PowerState } from '../../protocol/pci.ts';
import { describeEvent, listSome, quiet } from './member-helpers.ts';

/** PMC (PM capability + 2) PME_Support bit for D3hot. */
const PMC_PME_D3HOT = 1 << 14;

conformanceTest(
  {
    id: 'member.no-pme-outside-active',
    title: 'A wake event in D3hot with PME_En set raises no PME (no PME message, PME_Status clear) while the member is in Stop or Freeze',
    requirements: ['member.no-pme-outside-active'],
    commandSets: ['context'],
    needs: ['member-port', 'pci-config', 'power-management', 'stimuli'],
  },
  async (t) => {
    const req = 'member.no-pme-outside-active';
    const port = t.port(t.src);
    const stimuli = port.stimuli!;
    const wake = () => stimuli.wake();
    const pmeObserved = port.capabilities.pmeObservation;
    await t.guest(t.src, { queues: 1 });
    const pm = await findCapability(configReaderOf(port), PciCapId.PM);
    if (pm === undefined) return t.notApplicable('the member has no PCI power management capability');
    if (!((await port.pciConfigRead(pm + 2, 2)) & PMC_PME_D3HOT)) t.notApplicable('the member does not support PME from D3hot (PMC PME_Support)');
    const pmcsr = pm + PM_CTRL;
    const pmeStatus = async () => ((await port.pciConfigRead(pmcsr, 2)) & PM_CTRL_PME_STATUS) !== 0;
    const pmes = (events: MemberEvent[]) => events.filter((e) => e.kind === 'pme');
    /** PME_En set and PME_Status cleared (write 1), in the power state the function is in. */
    const armPme = async () => {
      const cur = await port.pciConfigRead(pmcsr, 2);
      await port.pciConfigWrite(pmcsr, 2, (cur & PM_CTRL_STATE_MASK) | PM_CTRL_PME_ENABLE | PM_CTRL_PME_STATUS);
    };
    try {
      await armPme();
      await port.setPowerState('D3hot');
      port.takeEvents();
      // Control: in Active the stimulus raises a PME.
      await wake();
      await quiet(port);
      const control = (pmeObserved && pmes(port.takeEvents()).length > 0) || (await pmeStatus());
      if (!control) t.notTested('the wake stimulus raised no PME in Active either, so its absence outside Active would prove nothing');
      await armPme();
      if (await pmeStatus()) t.notTested('PME_Status does not clear when written with 1');
      port.takeEvents();
      for (const mode of [DeviceMode.STOP, DeviceMode.FREEZE]) {
        await t.admin.modeSetOk(t.src, mode);
        await wake();
        await quiet(port);
        if (pmeObserved) {
          const seen = pmes(port.takeEvents());
          t.check(req, seen.length === 0, `a wake event in D3hot with PME_En set raised ${seen.length} PME message(s) while the member was in ${modeName(mode)}`);
        }
        t.check(req, !(await pmeStatus()), `PME_Status was set (with PME_En set: a PME) by a wake event while the member was in ${modeName(mode)}`);
      }
      await t.admin.modeSetOk(t.src, DeviceMode.ACTIVE);
      await quiet(port);
      const late = (pmeObserved && pmes(port.takeEvents()).length > 0) || (await pmeStatus());
      t.finding(late ? 'the wake events of Stop and Freeze raised a PME once the member was Active again' : 'the wake events of Stop and Freeze were not signalled after the return to Active (the draft does not say whether they should be)');
    } finally {
      // Leave the function in D0 with PME disabled and PME_Status clear (best effort).
      try {
        const mode = await t.admin.modeGet(t.src);
        if (mode.status === 0 && mode.result[0] !== DeviceMode.ACTIVE) await t.admin.modeSet(t.src, DeviceMode.ACTIVE);
        await port.setPowerState('D0');
        await port.pciConfigWrite(pmcsr, 2, PowerState.D0 | PM_CTRL_PME_STATUS);
      } catch {
        // The baseline of the next test restores what it needs.
      }
    }
  },
);

conformanceTest(
  {
    id: 'member.no-config-change-notification-outside-active',
    title: 'A device configuration change while the member is in Stop or Freeze raises no configuration change notification',
    requirements: ['member.no-config-change-notification-outside-active'],
    commandSets: ['context'],
    needs: ['member-port', 'interrupt-observation', 'stimuli'],
  },
  async (t) => {
    const req = 'member.no-config-change-notification-outside-active';
    const port = t.port(t.src);
    const stimuli = port.stimuli!;
    const configChange = () => stimuli.configChange();
    await t.guest(t.src, { queues: 1 });
    const vector = await port.commonCfgRead(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2);
    /** A configuration change notification: MSI-X on config_msix_vector, or INTx (no queue work is pending). */
    const isConfigNotification = (e: MemberEvent) => (e.kind === 'msix' && e.vector === vector && vector !== VIRTIO_MSI_NO_VECTOR) || e.kind === 'intx';
    port.takeEvents();
    // Control: in Active the stimulus is notified.
    await configChange();
    await quiet(port);
    if (!port.takeEvents().some(isConfigNotification)) t.notTested('the configuration change stimulus raised no notification in Active either, so its absence outside Active would prove nothing');
    for (const mode of [DeviceMode.STOP, DeviceMode.FREEZE]) {
      await t.admin.modeSetOk(t.src, mode);
      port.takeEvents();
      await configChange();
      await quiet(port);
      const events = port.takeEvents();
      const notes = events.filter(isConfigNotification);
      t.check(req, notes.length === 0, `a configuration change while the member was in ${modeName(mode)} was notified: ${listSome(notes, describeEvent)}`);
      const other = events.filter((e) => e.kind === 'msix' && !isConfigNotification(e));
      if (other.length) t.finding(`in ${modeName(mode)} the member also sent ${listSome(other, describeEvent)} (not on the configuration vector)`);
    }
    await t.admin.modeSetOk(t.src, DeviceMode.ACTIVE);
    await quiet(port);
    const late = port.takeEvents().some(isConfigNotification);
    t.finding(late ? 'the configuration changes of Stop and Freeze were notified once the member was Active again' : 'the configuration changes of Stop and Freeze were not notified after the return to Active (the draft does not say whether they should be)');
  },
);
