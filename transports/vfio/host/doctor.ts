import os from 'node:os';
import type { Syscalls } from '../sys/syscalls.ts';
import { O_CLOEXEC, O_NONBLOCK, O_RDONLY, SysError } from '../sys/syscalls.ts';
import { type LockRecord, lockPath, LOCK_DIR } from './device-lock.ts';
import { ENABLE_SRIOV } from './host-journal.ts';
import { checkHost } from './safety.ts';
import { SysfsPci } from './sysfs-pci.ts';

export type CheckStatus = 'ok' | 'warn' | 'block';

/** One finding of `vmcts doctor`: what was checked, what was found, and what to do about it. */
export interface DoctorCheck {
  scope: 'host' | 'device';
  what: string;
  status: CheckStatus;
  found: string;
  fix?: string;
}

export interface DoctorOptions {
  pf?: string;
  /** Effective user id (0: root). */
  uid?: number;
  kernelRelease?: string;
  lockDir?: string;
}

function read(sys: Syscalls, path: string): string | undefined {
  try {
    return sys.readText(path);
  } catch (e) {
    if (e instanceof SysError) return undefined;
    throw e;
  }
}

const MIN_MEMLOCK = 64 * 1024 * 1024;

/**
 * Checks this host and the named PF for a vfio run, reading only (nothing is bound, reset or
 * written): IOMMU, vfio-pci, the VFIO interfaces, privileges, locked-memory limit, the kernel log
 * (for IOMMU fault observation), and for the PF every safety rule of a run, its driver, its IOMMU
 * group and any lock left on it. Each problem comes with the command or setting that fixes it.
 */
export function runDoctor(sys: Syscalls, opts: DoctorOptions = {}): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const host = (what: string, status: CheckStatus, found: string, fix?: string) => out.push({ scope: 'host', what, status, found, ...(fix ? { fix } : {}) });
  const dev = (what: string, status: CheckStatus, found: string, fix?: string) => out.push({ scope: 'device', what, status, found, ...(fix ? { fix } : {}) });
  const cmdline = (read(sys, '/proc/cmdline') ?? '').trim();
  const release = opts.kernelRelease ?? os.release();
  const uid = opts.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);

  const iommus = sys.readdir('/sys/class/iommu');
  const groups = sys.readdir('/sys/kernel/iommu_groups');
  if (iommus.length && groups.length) host('IOMMU', 'ok', `${iommus.join(', ')} active, ${groups.length} IOMMU group(s)`);
  else {
    const vendorArg = /intel_iommu=on|amd_iommu=on/.test(cmdline) ? '' : ' Add intel_iommu=on (Intel) or amd_iommu=on (AMD) to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub, and reboot.';
    host('IOMMU', 'block', `no IOMMU is active (/sys/class/iommu is empty); kernel command line: ${cmdline.length > 160 ? cmdline.slice(0, 160) + " ..." : cmdline || "(unreadable)"}`, `Enable VT-d / AMD-Vi (IOMMU) in the firmware setup.${vendorArg}`);
  }
  if (sys.exists('/sys/module/vfio/parameters/enable_unsafe_noiommu_mode') && /^[Y1]/.test((read(sys, '/sys/module/vfio/parameters/enable_unsafe_noiommu_mode') ?? '').trim())) {
    host('noiommu mode', 'warn', 'vfio is in unsafe noiommu mode; the suite refuses to run without an IOMMU', 'echo N > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode (and remove vfio.enable_unsafe_noiommu_mode=1 from the kernel command line)');
  }
  if (sys.exists('/sys/bus/pci/drivers/vfio-pci')) host('vfio-pci', 'ok', 'the vfio-pci driver is loaded');
  else {
    const builtin = read(sys, `/lib/modules/${release}/modules.builtin`) ?? '';
    const dep = read(sys, `/lib/modules/${release}/modules.dep`) ?? '';
    if (/vfio-pci\.ko|vfio_pci\.ko/.test(dep) || /vfio-pci|vfio_pci/.test(builtin)) host('vfio-pci', 'block', 'vfio-pci is available but not loaded', 'modprobe vfio-pci enable_sriov=1');
    else host('vfio-pci', 'block', `this kernel (${release}) has no vfio-pci module`, 'boot a kernel built with CONFIG_VFIO, CONFIG_VFIO_PCI and CONFIG_PCI_IOV (every distribution kernel has them)');
  }
  const group = sys.exists('/dev/vfio/vfio');
  const cdev = sys.exists('/dev/iommu');
  if (group || cdev) host('VFIO interface', 'ok', [group ? 'container/group (/dev/vfio/vfio)' : '', cdev ? 'iommufd with device cdevs (/dev/iommu)' : ''].filter(Boolean).join(' and '));
  else host('VFIO interface', 'block', 'neither /dev/vfio/vfio nor /dev/iommu exists', 'modprobe vfio-pci (it loads vfio and the IOMMU backend)');
  const sriovParam = read(sys, ENABLE_SRIOV)?.trim();
  if (sriovParam !== undefined) {
    host('vfio-pci SR-IOV', /^[Y1]/.test(sriovParam) ? 'ok' : 'warn', `enable_sriov=${sriovParam}${/^[Y1]/.test(sriovParam) ? '' : ' (the run sets it to Y and restores it)'}`);
  }
  if (uid === 0) host('privileges', 'ok', 'running as root');
  else host('privileges', 'block', `running as uid ${uid}; binding the card to vfio-pci and creating VFs write to sysfs, which needs root`, 'run vmcts as root (sudo -E node bin/vmcts.mjs ...)');
  const limits = read(sys, '/proc/self/limits') ?? '';
  const m = /Max locked memory\s+(\S+)/.exec(limits);
  const soft = m?.[1];
  if (soft === 'unlimited' || uid === 0) host('locked memory', 'ok', `RLIMIT_MEMLOCK ${soft ?? 'unknown'}${uid === 0 ? ' (root has CAP_IPC_LOCK)' : ''}`);
  else if (soft && Number(soft) >= MIN_MEMLOCK) host('locked memory', 'ok', `RLIMIT_MEMLOCK ${Number(soft) >> 20} MiB`);
  else host('locked memory', 'warn', `RLIMIT_MEMLOCK ${soft ?? 'unknown'} bytes is below 64 MiB: DMA mappings pin memory`, 'ulimit -l unlimited (or a memlock line in /etc/security/limits.conf)');
  try {
    sys.close(sys.open('/dev/kmsg', O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    host('kernel log', 'ok', '/dev/kmsg is readable: IOMMU faults of the card are seen');
  } catch (e) {
    host('kernel log', 'warn', `/dev/kmsg cannot be read (${e instanceof SysError ? e.code : String(e)}): device accesses in no-access windows are seen in AER status only`, 'run as root, or sysctl kernel.dmesg_restrict=0');
  }

  if (!opts.pf) return out;
  const pf = opts.pf;
  const pci = new SysfsPci(sys);
  const refusals = checkHost(sys, { pf });
  for (const r of refusals) {
    if (r.rule === 'no-iommu' || r.rule === 'no-vfio-pci') continue; // said above, for the host
    dev(`${r.bdf} (${r.rule})`, r.forceable ? 'warn' : 'block', r.message, r.forceable ? `${r.fix ? r.fix + '; or ' : ''}set transport.allowUnbind: true` : r.fix);
  }
  if (!pci.exists(pf)) return out;
  const vendor = pci.hex(pf, 'vendor');
  const device = pci.hex(pf, 'device');
  if (!refusals.some((r) => r.rule === 'ids')) dev('device ids', 'ok', `${vendor?.toString(16).padStart(4, '0')}:${device?.toString(16).padStart(4, '0')} (virtio device type ${(device ?? 0x1040) - 0x1040})`);
  const total = pci.int(pf, 'sriov_totalvfs');
  if (total) dev('SR-IOV', 'ok', `up to ${total} VFs (now ${pci.int(pf, 'sriov_numvfs') ?? 0}); VF device id ${pci.attr(pf, 'sriov_vf_device') ?? '?'}`);
  const drv = pci.driver(pf);
  dev('driver', 'ok', drv === 'vfio-pci' ? 'bound to vfio-pci already' : `bound to ${drv ?? 'no driver'}; the run binds it to vfio-pci and restores ${drv ?? 'no driver'} at the end`);
  const g = pci.iommuGroup(pf);
  if (g !== undefined) {
    const members = pci.groupMembers(g);
    dev('IOMMU group', 'ok', `group ${g}: ${members.map((b) => `${b} (${pci.driver(b) ?? 'no driver'})`).join(', ')}`);
  }
  const lock = lockPath(pf, opts.lockDir ?? LOCK_DIR);
  const held = read(sys, lock);
  if (held !== undefined) {
    let rec: LockRecord | undefined;
    try {
      rec = JSON.parse(held) as LockRecord;
    } catch {
      rec = undefined;
    }
    if (rec && sys.processAlive(rec.pid)) dev('lock', 'block', `a vmcts run (pid ${rec.pid}, since ${rec.startedAt}) holds ${pf}`, `wait for it, or stop it (kill ${rec.pid}); it restores the host on SIGTERM`);
    else dev('lock', 'warn', `a run died holding ${pf} (lock file ${lock}); the original driver was ${rec?.journal.pf.driver ?? 'unknown'}`, `the next run restores it first; by hand: echo ${pf} > /sys/bus/pci/drivers/vfio-pci/unbind; echo > /sys/bus/pci/devices/${pf}/driver_override; ${rec?.journal.pf.driver ? `echo ${pf} > /sys/bus/pci/drivers/${rec.journal.pf.driver}/bind; ` : ''}rm ${lock}`);
  }
  return out;
}

/** The report as the CLI prints it; the last line says whether something blocks a run. */
export function formatDoctor(checks: readonly DoctorCheck[]): string {
  const lines: string[] = [];
  for (const scope of ['host', 'device'] as const) {
    const cs = checks.filter((c) => c.scope === scope);
    if (!cs.length) continue;
    lines.push(scope === 'host' ? 'Host' : 'Device');
    for (const c of cs) {
      lines.push(`  ${c.status === 'ok' ? 'ok   ' : c.status === 'warn' ? 'WARN ' : 'BLOCK'} ${c.what}: ${c.found}`);
      if (c.fix && c.status !== 'ok') lines.push(`        fix: ${c.fix}`);
    }
  }
  const blocks = checks.filter((c) => c.status === 'block').length;
  lines.push(blocks ? `${blocks} problem(s) block a vfio run.` : 'Nothing blocks a vfio run.');
  return lines.join('\n');
}
