import type { Syscalls } from '../sys/syscalls.ts';
import { DeviceLock, LOCK_DIR } from './device-lock.ts';
import { ENABLE_SRIOV, type HostJournal, recordOriginals, type RestoreProblem, restoreHost } from './host-journal.ts';
import { checkHost, HostRefusedError, type NamedDevices } from './safety.ts';
import { devicePath, SYS_PCI, SysfsPci } from './sysfs-pci.ts';

export interface VfioHostPlan extends NamedDevices {
  /** Where lock files go (default /run/lock). */
  lockDir?: string;
}

/** The host made ready for a run: the PF on vfio-pci, locked; `undo()` puts everything back. */
export interface PreparedHost {
  pf: string;
  journal: HostJournal;
  /** Whether the lock (and its originals) came from a run that died without restoring. */
  inheritedFrom?: HostJournal;
  /** Restores the host and releases the lock; the problems it could not fix are returned (the lock is then kept, with its journal). */
  undo(): RestoreProblem[];
}

export class HostPreparationError extends Error {
  override name = 'HostPreparationError';
}

/**
 * Host preparation of the vfio transport, run in the CLI process before the tests: the safety rules
 * (safety.ts), the device lock, the originals recorded in the lock file, then the PF bound to vfio-pci
 * through driver_override (VFs removed first, as vfio-pci refuses a PF with VFs; vfio-pci's
 * enable_sriov set so the run can create them). Every step is journaled before it is taken.
 */
export function prepareHost(sys: Syscalls, plan: VfioHostPlan, say: (line: string) => void = () => {}): PreparedHost {
  const refusals = checkHost(sys, plan).filter((r) => !(r.forceable && plan.allowUnbind));
  if (refusals.length) throw new HostRefusedError(refusals);
  const pci = new SysfsPci(sys);
  const pf = plan.pf;
  const lock = DeviceLock.acquire(sys, pf, recordOriginals(sys, pf), plan.lockDir ?? LOCK_DIR);
  const journal = lock.journal;
  if (lock.inherited) say(`vmcts: ${pf}: a previous run died holding it; its recorded originals (driver ${journal.pf.driver ?? 'none'}) will be restored at the end`);
  let undone = false;
  const undo = (): RestoreProblem[] => {
    if (undone) return [];
    undone = true;
    const problems = restoreHost(sys, journal);
    if (!problems.length) lock.release();
    return problems;
  };
  const step = (name: HostJournal['done'][number], f: () => void) => {
    if (!journal.done.includes(name)) journal.done.push(name);
    lock.update(journal);
    f();
  };
  const dir = devicePath(pf);
  try {
    if ((pci.int(pf, 'sriov_numvfs') ?? 0) > 0) step('numvfs-cleared', () => sys.writeText(`${dir}/sriov_numvfs`, '0'));
    if (sys.exists(ENABLE_SRIOV) && !/^[Y1]/.test(sys.readText(ENABLE_SRIOV).trim())) {
      journal.enableSriov ??= sys.readText(ENABLE_SRIOV).trim();
      step('enable-sriov', () => sys.writeText(ENABLE_SRIOV, 'Y'));
    }
    const drv = pci.driver(pf);
    if (drv !== 'vfio-pci') {
      step('pf-bound', () => {
        sys.writeText(`${dir}/driver_override`, 'vfio-pci');
        if (drv) sys.writeText(`${SYS_PCI}/drivers/${drv}/unbind`, pf);
        sys.writeText(`${SYS_PCI}/drivers_probe`, pf);
      });
      const now = pci.driver(pf);
      if (now !== 'vfio-pci') throw new HostPreparationError(`${pf} did not bind to vfio-pci (driver now: ${now ?? 'none'}); is vfio-pci loaded?`);
    }
    if (pci.attr(pf, 'sriov_drivers_autoprobe') === '0') step('autoprobe', () => sys.writeText(`${dir}/sriov_drivers_autoprobe`, '1'));
    say(`vmcts: ${pf} is on vfio-pci for this run (was: ${journal.pf.driver ?? 'no driver'}); it is restored when the run ends`);
  } catch (e) {
    const problems = undo();
    if (problems.length) {
      throw new HostPreparationError(`${e instanceof Error ? e.message : String(e)}; restoring the host also failed:\n${problems.map((p) => `  - ${p.step}: ${p.error}\n    by hand: ${p.command}`).join('\n')}`);
    }
    throw e;
  }
  return { pf, journal, ...(lock.inherited ? { inheritedFrom: lock.inherited } : {}), undo };
}

/** Formats restore problems for the user: each step that failed and the command that finishes it. */
export function describeRestoreProblems(pf: string, problems: readonly RestoreProblem[]): string {
  return `vmcts: ${pf} could not be fully restored (the lock file keeps what is left to do; \`vmcts doctor --pf ${pf}\` shows it):\n${problems.map((p) => `  - ${p.step}: ${p.error}\n    by hand: ${p.command}`).join('\n')}`;
}
