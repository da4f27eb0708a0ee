import type { Syscalls } from '../sys/syscalls.ts';
import { devicePath, SYS_PCI, SysfsPci } from './sysfs-pci.ts';

/** How one function was before the run changed it. */
export interface FunctionOriginal {
  bdf: string;
  /** The bound driver, or null for none. */
  driver: string | null;
  /** driver_override, or null when unset. */
  override: string | null;
}

/** Everything a run changes on the host, with the value it found; restored in reverse. */
export interface HostJournal {
  pf: FunctionOriginal;
  /** sriov_numvfs and sriov_drivers_autoprobe of the PF as found. */
  sriov: { numVfs: number; autoprobe: string | null };
  /** /sys/module/vfio_pci/parameters/enable_sriov as found (Y/N), when the run changed it. */
  enableSriov: string | null;
  /** Steps done so far, in order (restore undoes exactly these). */
  done: ('numvfs-cleared' | 'enable-sriov' | 'pf-bound' | 'autoprobe' | 'vfs-created')[];
}

export const ENABLE_SRIOV = '/sys/module/vfio_pci/parameters/enable_sriov';

export function recordOriginals(sys: Syscalls, pf: string): HostJournal {
  const pci = new SysfsPci(sys);
  return {
    pf: { bdf: pf, driver: pci.driver(pf) ?? null, override: pci.driverOverride(pf) ?? null },
    sriov: { numVfs: pci.int(pf, 'sriov_numvfs') ?? 0, autoprobe: pci.attr(pf, 'sriov_drivers_autoprobe') ?? null },
    enableSriov: null,
    done: [],
  };
}

/** One restore step that failed, with the command that would finish it by hand. */
export interface RestoreProblem {
  step: string;
  error: string;
  command: string;
}

function attempt(problems: RestoreProblem[], step: string, command: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    problems.push({ step, error: e instanceof Error ? e.message : String(e), command });
  }
}

/**
 * Puts the host back as the journal found it, undoing only the steps that were done, last first:
 * VFs removed, the PF unbound from vfio-pci, its driver_override and original driver back, its VFs
 * recreated if it had some, autoprobe and vfio-pci's enable_sriov as they were. Synchronous (sysfs
 * stores), so it can run in an exit handler. Every step is tried; what failed is returned.
 */
export function restoreHost(sys: Syscalls, j: HostJournal): RestoreProblem[] {
  const problems: RestoreProblem[] = [];
  const pci = new SysfsPci(sys);
  const pf = j.pf.bdf;
  const dir = devicePath(pf);
  const done = new Set(j.done);
  if (done.has('vfs-created') || (done.has('pf-bound') && (pci.int(pf, 'sriov_numvfs') ?? 0) > 0)) {
    attempt(problems, 'remove the VFs the run created', `echo 0 > ${dir}/sriov_numvfs`, () => sys.writeText(`${dir}/sriov_numvfs`, '0'));
  }
  if (done.has('autoprobe') && j.sriov.autoprobe !== null) {
    attempt(problems, 'restore sriov_drivers_autoprobe', `echo ${j.sriov.autoprobe} > ${dir}/sriov_drivers_autoprobe`, () => sys.writeText(`${dir}/sriov_drivers_autoprobe`, j.sriov.autoprobe!));
  }
  if (done.has('pf-bound')) {
    if (pci.driver(pf) === 'vfio-pci' && j.pf.driver !== 'vfio-pci') {
      attempt(problems, 'unbind the PF from vfio-pci', `echo ${pf} > ${SYS_PCI}/drivers/vfio-pci/unbind`, () => sys.writeText(`${SYS_PCI}/drivers/vfio-pci/unbind`, pf));
    }
    const ov = j.pf.override ?? '\n';
    attempt(problems, 'restore driver_override', `echo ${j.pf.override ?? ''} > ${dir}/driver_override`, () => sys.writeText(`${dir}/driver_override`, ov));
    if (j.pf.driver && pci.driver(pf) !== j.pf.driver) {
      attempt(problems, `rebind the PF to ${j.pf.driver}`, `echo ${pf} > ${SYS_PCI}/drivers/${j.pf.driver}/bind`, () => sys.writeText(`${SYS_PCI}/drivers/${j.pf.driver}/bind`, pf));
    }
  }
  if (done.has('numvfs-cleared') && j.sriov.numVfs > 0 && (pci.int(pf, 'sriov_numvfs') ?? 0) !== j.sriov.numVfs) {
    attempt(problems, `recreate the PF's ${j.sriov.numVfs} VFs`, `echo ${j.sriov.numVfs} > ${dir}/sriov_numvfs`, () => sys.writeText(`${dir}/sriov_numvfs`, String(j.sriov.numVfs)));
  }
  if (done.has('enable-sriov') && j.enableSriov !== null) {
    attempt(problems, 'restore vfio-pci enable_sriov', `echo ${j.enableSriov} > ${ENABLE_SRIOV}`, () => sys.writeText(ENABLE_SRIOV, j.enableSriov!));
  }
  return problems;
}
