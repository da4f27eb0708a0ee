import type { Syscalls } from '../sys/syscalls.ts';
import { usesOf } from './in-use.ts';
import { BDF_RE, SysfsPci } from './sysfs-pci.ts';

/** Drivers vfio tolerates in an IOMMU group (they do not claim DMA ownership). */
const TOLERATED = new Set(['vfio-pci', 'pcieport', 'pci-stub']);

/** One reason the run will not touch the host, and what would change it. */
export interface Refusal {
  bdf: string;
  rule: 'named-only' | 'not-found' | 'ids' | 'no-sriov' | 'no-iommu' | 'no-vfio-pci' | 'in-use' | 'group-member' | 'existing-vfs' | 'locked';
  message: string;
  /** A command or config change that removes the refusal. */
  fix?: string;
  /** `allowUnbind: true` in the config overrides this refusal. */
  forceable: boolean;
}

export class HostRefusedError extends Error {
  override name = 'HostRefusedError';
  constructor(readonly refusals: Refusal[]) {
    super(
      `the vfio transport will not touch the host:\n` +
        refusals.map((r) => `  - ${r.bdf}: ${r.message}${r.fix ? `\n    fix: ${r.fix}` : ''}${r.forceable ? '\n    (or set transport.allowUnbind: true to take it anyway)' : ''}`).join('\n'),
    );
  }
}

export interface NamedDevices {
  pf: string;
  vfs?: string[];
  /** Device ids accepted besides the modern virtio range (1af4:1040-107f). */
  ids?: { vendor: number; device: number }[];
  allowUnbind?: boolean;
}

/**
 * The safety rules, checked before anything is written: only functions the config names are acted
 * on; each must be what the config says (a virtio SR-IOV PF); nothing in use by the host is taken
 * (mounted or held block devices, swap, routed interfaces; the root filesystem never); no IOMMU group
 * member the config does not name is touched; existing VFs on other drivers are left alone; an IOMMU
 * and vfio-pci are required. Returns every refusal, forceable ones included (the caller decides).
 */
export function checkHost(sys: Syscalls, named: NamedDevices): Refusal[] {
  const pci = new SysfsPci(sys);
  const out: Refusal[] = [];
  const { pf } = named;
  for (const b of [pf, ...(named.vfs ?? [])]) {
    if (!BDF_RE.test(b)) out.push({ bdf: b, rule: 'named-only', message: `"${b}" is not a PCI address of the form DDDD:BB:DD.F`, forceable: false });
  }
  if (out.length) return out;
  if (!pci.exists(pf)) return [{ bdf: pf, rule: 'not-found', message: 'no such PCI function on this host', fix: 'lspci -D to list the functions; set transport.pf to the card\'s PF', forceable: false }];
  const vendor = pci.hex(pf, 'vendor');
  const device = pci.hex(pf, 'device');
  const virtio = vendor === 0x1af4 && device !== undefined && device >= 0x1040 && device <= 0x107f;
  if (!virtio && !named.ids?.some((i) => i.vendor === vendor && i.device === device)) {
    out.push({ bdf: pf, rule: 'ids', message: `${vendor?.toString(16)}:${device?.toString(16)} is not a modern virtio device (1af4:1040-107f)`, fix: 'name the card\'s ids in transport.ids if it uses others', forceable: false });
  }
  if (!((pci.int(pf, 'sriov_totalvfs') ?? 0) >= 1)) {
    out.push({ bdf: pf, rule: 'no-sriov', message: 'the function has no SR-IOV capability (sriov_totalvfs missing or 0): it is not an owner device', fix: 'check that transport.pf names the PF, and that the kernel has CONFIG_PCI_IOV', forceable: false });
  }
  if (!sys.readdir('/sys/class/iommu').length || pci.iommuGroup(pf) === undefined) {
    out.push({ bdf: pf, rule: 'no-iommu', message: 'no IOMMU is active (/sys/class/iommu is empty or the function has no IOMMU group); the suite needs it to keep the card off host memory and to observe no-access windows', fix: 'enable VT-d / AMD-Vi in the firmware and boot with intel_iommu=on (Intel) or amd_iommu=on', forceable: false });
  }
  if (!sys.exists('/sys/bus/pci/drivers/vfio-pci')) {
    out.push({ bdf: pf, rule: 'no-vfio-pci', message: 'the vfio-pci driver is not loaded', fix: 'modprobe vfio-pci enable_sriov=1', forceable: false });
  }

  // Named VFs that exist now must be VFs of this PF.
  for (const vf of named.vfs ?? []) {
    if (!pci.exists(vf)) continue;
    const parent = pci.physfn(vf);
    if (parent !== pf) out.push({ bdf: vf, rule: 'named-only', message: parent ? `is a VF of ${parent}, not of ${pf}` : `is not a VF (no physfn link)`, forceable: false });
  }

  // What the host uses: the PF, its VFs as they are, and the rest of its IOMMU group.
  const existingVfs = pci.virtfns(pf);
  const group = pci.iommuGroup(pf);
  const members = group === undefined ? [] : pci.groupMembers(group);
  for (const b of new Set([pf, ...existingVfs, ...members])) {
    for (const u of usesOf(sys, b)) {
      out.push({ bdf: b, rule: 'in-use', message: u.critical ? `${u.what}: this is the host's own root filesystem and is never taken` : u.what, forceable: !u.critical });
    }
  }
  for (const m of members) {
    if (m === pf || existingVfs.includes(m)) continue;
    const drv = pci.driver(m);
    if (drv && !TOLERATED.has(drv)) {
      out.push({ bdf: m, rule: 'group-member', message: `shares IOMMU group ${group} with ${pf} and is bound to ${drv}; the run would have to take it, and it is not named in the config`, fix: 'move the card to a slot with its own IOMMU group (or enable ACS); the suite never unbinds devices it was not given', forceable: false });
    }
  }
  for (const vf of existingVfs) {
    const drv = pci.driver(vf);
    if (drv && drv !== 'vfio-pci') {
      out.push({ bdf: vf, rule: 'existing-vfs', message: `the PF already has VFs and this one is bound to ${drv}; existing VFs are left alone`, fix: `echo 0 > /sys/bus/pci/devices/${pf}/sriov_numvfs (once nothing uses them)`, forceable: true });
    }
  }
  return out;
}
