import type { Syscalls } from '../sys/syscalls.ts';
import { SysError } from '../sys/syscalls.ts';

/** A PCI address as the kernel prints it: DDDD:BB:DD.F, lower case. */
export const BDF_RE = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/;

export function normalizeBdf(s: string): string {
  const b = s.trim().toLowerCase();
  return /^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(b) ? `0000:${b}` : b;
}

export const SYS_PCI = '/sys/bus/pci';

export function devicePath(bdf: string): string {
  return `${SYS_PCI}/devices/${bdf}`;
}

function base(link: string | undefined): string | undefined {
  return link?.split('/').filter(Boolean).pop();
}

/** What sysfs says about one function; reading only. */
export class SysfsPci {
  constructor(private readonly sys: Syscalls) {}

  exists(bdf: string): boolean {
    return this.sys.exists(devicePath(bdf));
  }

  attr(bdf: string, name: string): string | undefined {
    try {
      return this.sys.readText(`${devicePath(bdf)}/${name}`).trim();
    } catch (e) {
      if (e instanceof SysError) return undefined;
      throw e;
    }
  }

  hex(bdf: string, name: string): number | undefined {
    const v = this.attr(bdf, name);
    return v === undefined ? undefined : parseInt(v, 16);
  }

  int(bdf: string, name: string): number | undefined {
    const v = this.attr(bdf, name);
    return v === undefined || !/^\d+$/.test(v) ? undefined : Number(v);
  }

  /** The bound driver's name, or undefined when none. */
  driver(bdf: string): string | undefined {
    return base(this.sys.readlink(`${devicePath(bdf)}/driver`));
  }

  /** driver_override, or undefined when unset ("(null)"). */
  driverOverride(bdf: string): string | undefined {
    const v = this.attr(bdf, 'driver_override');
    return v === undefined || v === '(null)' || v === '' ? undefined : v;
  }

  iommuGroup(bdf: string): number | undefined {
    const g = base(this.sys.readlink(`${devicePath(bdf)}/iommu_group`));
    return g === undefined ? undefined : Number(g);
  }

  groupMembers(group: number): string[] {
    return this.sys.readdir(`/sys/kernel/iommu_groups/${group}/devices`);
  }

  /** The PF of a VF (physfn link), or undefined for a PF. */
  physfn(bdf: string): string | undefined {
    return base(this.sys.readlink(`${devicePath(bdf)}/physfn`));
  }

  /** The VFs of a PF, in VF order (virtfn0, virtfn1, ...). */
  virtfns(bdf: string): string[] {
    const links = this.sys.readdir(devicePath(bdf)).filter((n) => /^virtfn\d+$/.test(n));
    links.sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)));
    return links.map((l) => base(this.sys.readlink(`${devicePath(bdf)}/${l}`))!).filter(Boolean);
  }

  /** The vfio cdev name (vfioX) of a function bound to vfio-pci on a cdev kernel. */
  vfioCdev(bdf: string): string | undefined {
    return this.sys.readdir(`${devicePath(bdf)}/vfio-dev`).find((n) => /^vfio\d+$/.test(n));
  }
}
