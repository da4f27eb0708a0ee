/**
 * The member's PCI side across modes: reads valid in Stop (SD11d), PCI-architected interfaces the
 * same in every mode (SD11e), and the VIRTIO_PCI_CAP_PCI_CFG window: writes ignored in Freeze, reads
 * the same in every mode (SD14b).
 */
import { conformanceTest } from '../../harness/ctest.ts';
import { DeviceMode, modeName } from '../../protocol/commands.ts';
import type { RegisterWidth } from '../../protocol/member-port.ts';
import { CommonCfg, PciCapType } from '../../protocol/pci-common-cfg.ts';
import { COMMON_CFG_READS, commonCfgSnapshot, configSnapshot, listSome, PciCfgWindow, pciWriteBehaviour, snapshotDiff, virtioStructure } from './member-helpers.ts';

const hex = (v: number) => `0x${(v >>> 0).toString(16)}`;

conformanceTest(
  {
    id: 'member.stop-pci-reads-valid',
    title: 'In Stop, reads of the configuration space and of the common configuration return the values they return in Active',
    requirements: ['member.stop-pci-reads-valid'],
    commandSets: ['context'],
    needs: ['member-port', 'pci-config'],
  },
  async (t) => {
    const req = 'member.stop-pci-reads-valid';
    const port = t.port(t.src);
    await t.guest(t.src, { queues: 1 });
    const cfg = await configSnapshot(port, 'all');
    const bar = await commonCfgSnapshot(port);
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    const cfgStop = await configSnapshot(port, 'all');
    const barStop = await commonCfgSnapshot(port);
    const diff = snapshotDiff(cfg, cfgStop);
    t.check(req, diff.length === 0, `configuration space reads in Stop differ from Active (offset: Active -> Stop): ${listSome(diff, (d) => d, 10)}`);
    const barDiff = COMMON_CFG_READS.flatMap((r, i) => (bar[i] === barStop[i] ? [] : [`${r.name}: ${hex(bar[i])} -> ${hex(barStop[i])}`]));
    t.check(req, barDiff.length === 0, `common configuration reads (BAR) in Stop differ from Active: ${barDiff.join(', ')}`);
  },
);

conformanceTest(
  {
    id: 'member.pci-architected-same-in-every-mode',
    title: 'The configuration header and PCI capabilities read the same, and writes to Command, PMCSR and MSI-X control behave the same, in Active, Stop and Freeze',
    requirements: ['member.pci-architected-interfaces-unchanged'],
    commandSets: ['context'],
    needs: ['member-port', 'pci-config'],
  },
  async (t) => {
    const req = 'member.pci-architected-interfaces-unchanged';
    const port = t.port(t.src);
    await t.guest(t.src, { queues: 1 });
    // Virtio vendor capabilities are read only up to their next pointer: their bodies are the virtio
    // interface, which nothing touches in Freeze; the rule is about PCI-architected registers.
    const snap = await configSnapshot(port, 'header');
    const writes = await pciWriteBehaviour(port);
    for (const mode of [DeviceMode.STOP, DeviceMode.FREEZE]) {
      await t.admin.modeSetOk(t.src, mode);
      const diff = snapshotDiff(snap, await configSnapshot(port, 'header'));
      t.check(req, diff.length === 0, `configuration reads in ${modeName(mode)} differ from Active (offset: Active -> ${modeName(mode)}): ${listSome(diff, (d) => d, 10)}`);
      const w = await pciWriteBehaviour(port);
      for (const [i, a] of writes.entries()) {
        const b = w[i];
        t.check(
          req,
          b !== undefined && b.changed === a.changed && b.restored === a.restored,
          `${a.what}: a write in ${modeName(mode)} reads back ${b ? `${hex(b.changed)}, restored ${hex(b.restored)}` : '(capability gone)'}; in Active ${hex(a.changed)}, restored ${hex(a.restored)}`,
        );
      }
    }
  },
);

/** A register of the common configuration to aim the window at. */
interface Target {
  name: string;
  offset: number;
  width: RegisterWidth;
}

const READ_TARGETS: Target[] = [
  { name: 'num_queues', offset: CommonCfg.NUM_QUEUES.offset, width: 2 },
  { name: 'queue_size', offset: CommonCfg.QUEUE_SIZE.offset, width: 2 },
  { name: 'device_feature', offset: CommonCfg.DEVICE_FEATURE.offset, width: 4 },
];

conformanceTest(
  {
    id: 'member.pci-cfg-window-writes-ignored-in-freeze',
    title: 'In Freeze, writes to the PCI_CFG window (bar, offset, length and pci_cfg_data) change nothing: after Active the window and its targets are as before',
    requirements: ['member.pci-cfg-writes-ignored-in-freeze'],
    commandSets: ['context'],
    needs: ['member-port', 'pci-config'],
    breaks: ['driver.member-no-pci-cfg-write-in-freeze', 'driver.member-no-virtio-access-in-freeze'],
  },
  async (t) => {
    const req = 'member.pci-cfg-writes-ignored-in-freeze';
    const port = t.port(t.src);
    await t.guest(t.src, { queues: 1 });
    const win = await PciCfgWindow.find(port);
    if (!win) return t.notApplicable('the member has no VIRTIO_PCI_CAP_PCI_CFG capability (virtio-pci requires one; not judged here)');
    const common = await virtioStructure(port, PciCapType.COMMON_CFG);
    if (!common) return t.notApplicable('the member has no VIRTIO_PCI_CAP_COMMON_CFG capability');
    const vecOff = CommonCfg.CONFIG_MSIX_VECTOR.offset;
    const qselOff = CommonCfg.QUEUE_SELECT.offset;
    await win.program(common.bar, common.offset + vecOff, 2);
    const regs = await win.registers();
    const vec = await port.commonCfgRead(vecOff, 2);
    const qsel = await port.commonCfgRead(qselOff, 2);
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    await t.admin.modeSetOk(t.src, DeviceMode.FREEZE);
    // Probe (negative, device-side): writes through the window in Freeze break
    // driver.member-no-pci-cfg-write-in-freeze on purpose.
    await win.write(2, (vec ^ 1) & 0xffff);
    await win.program(common.bar, common.offset + qselOff, 2);
    await win.write(2, (qsel ^ 1) & 0xffff);
    await t.admin.modeSetOk(t.src, DeviceMode.ACTIVE);
    const after = await win.registers();
    t.check(
      req,
      after.bar === regs.bar && after.offset === regs.offset && after.length === regs.length,
      `writes to the window's bar/offset/length in Freeze took effect: before bar ${regs.bar} offset ${hex(regs.offset)} length ${regs.length}, after bar ${after.bar} offset ${hex(after.offset)} length ${after.length}`,
    );
    const vecAfter = await port.commonCfgRead(vecOff, 2);
    t.check(req, vecAfter === vec, `a pci_cfg_data write in Freeze reached config_msix_vector: ${hex(vec)} before, ${hex(vecAfter)} after`);
    const qselAfter = await port.commonCfgRead(qselOff, 2);
    t.check(req, qselAfter === qsel, `a pci_cfg_data write in Freeze (after reprogramming the window) reached queue_select: ${hex(qsel)} before, ${hex(qselAfter)} after`);
  },
);

conformanceTest(
  {
    id: 'member.pci-cfg-window-reads-same-in-every-mode',
    title: 'Reads through the PCI_CFG window of common configuration registers, and of the window registers, return the same in Active, Stop and Freeze',
    requirements: ['member.pci-cfg-reads-same-in-every-mode'],
    commandSets: ['context'],
    needs: ['member-port', 'pci-config'],
    breaks: ['driver.member-no-virtio-access-in-freeze'],
  },
  async (t) => {
    const req = 'member.pci-cfg-reads-same-in-every-mode';
    const port = t.port(t.src);
    await t.guest(t.src, { queues: 1 });
    const win = await PciCfgWindow.find(port);
    if (!win) return t.notApplicable('the member has no VIRTIO_PCI_CAP_PCI_CFG capability (virtio-pci requires one; not judged here)');
    const common = await virtioStructure(port, PciCapType.COMMON_CFG);
    if (!common) return t.notApplicable('the member has no VIRTIO_PCI_CAP_COMMON_CFG capability');
    for (const target of READ_TARGETS) {
      // The window is programmed in Active (no window writes in Freeze, SR5) and read in each mode.
      await win.program(common.bar, common.offset + target.offset, target.width);
      const regs = await win.registers();
      const active = await win.read(target.width);
      const direct = await port.commonCfgRead(target.offset, target.width);
      if (active !== direct) t.finding(`in Active the window read of ${target.name} gave ${hex(active)}, a direct read ${hex(direct)}`);
      for (const mode of [DeviceMode.STOP, DeviceMode.FREEZE]) {
        await t.admin.modeSetOk(t.src, mode);
        const v = await win.read(target.width);
        t.check(req, v === active, `a window read of ${target.name} in ${modeName(mode)} returned ${hex(v)}; in Active ${hex(active)}`);
        const r = await win.registers();
        t.check(
          req,
          r.bar === regs.bar && r.offset === regs.offset && r.length === regs.length,
          `the window registers read in ${modeName(mode)} as bar ${r.bar} offset ${hex(r.offset)} length ${r.length}; in Active bar ${regs.bar} offset ${hex(regs.offset)} length ${regs.length}`,
        );
      }
      await t.admin.modeSetOk(t.src, DeviceMode.ACTIVE);
    }
  },
);
