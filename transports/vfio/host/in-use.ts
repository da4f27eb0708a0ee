import type { Syscalls } from '../sys/syscalls.ts';
import { SysError } from '../sys/syscalls.ts';

/** One reason a function must not be taken from its driver. */
export interface Use {
  bdf: string;
  what: string;
  /** The root filesystem (or what holds it): never forceable. */
  critical: boolean;
}

function readOr(sys: Syscalls, path: string, fallback = ''): string {
  try {
    return sys.readText(path);
  } catch (e) {
    if (e instanceof SysError) return fallback;
    throw e;
  }
}

/** The BDF a /sys/class/net/X/device or /sys/block/X/device link points at. */
function linkedBdf(sys: Syscalls, link: string): string | undefined {
  const t = sys.readlink(link);
  return t?.split('/').filter(Boolean).pop();
}

/**
 * What the host uses a function for, as DPDK's devbind and SPDK's setup.sh look for it: block devices
 * on it that are mounted (the root filesystem above all), held (LVM, md, dm) or used as swap, and
 * network interfaces on it that carry routes.
 */
export function usesOf(sys: Syscalls, bdf: string): Use[] {
  const out: Use[] = [];
  const mounts = readOr(sys, '/proc/mounts')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length >= 2);
  const swaps = readOr(sys, '/proc/swaps').split('\n').slice(1).map((l) => l.split(/\s+/)[0]).filter(Boolean);
  for (const blk of sys.readdir('/sys/block')) {
    if (linkedBdf(sys, `/sys/block/${blk}/device`) !== bdf) continue;
    // The disk and its partitions (vda, vda1, nvme0n1p2, ...).
    const isPart = (dev: string) => dev === `/dev/${blk}` || (dev.startsWith(`/dev/${blk}`) && /^p?\d+$/.test(dev.slice(5 + blk.length)));
    for (const [dev, at] of mounts) {
      if (!isPart(dev)) continue;
      out.push({ bdf, what: `block device ${blk} is mounted at ${at} (${dev})`, critical: at === '/' });
    }
    const holders = sys.readdir(`/sys/block/${blk}/holders`);
    if (holders.length) out.push({ bdf, what: `block device ${blk} is held by ${holders.join(', ')} (LVM, md or dm)`, critical: false });
    for (const s of swaps) if (isPart(s)) out.push({ bdf, what: `block device ${blk} is swap (${s})`, critical: false });
  }
  const routes = readOr(sys, '/proc/net/route')
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t')[0])
    .filter(Boolean);
  for (const ifc of sys.readdir('/sys/class/net')) {
    if (linkedBdf(sys, `/sys/class/net/${ifc}/device`) !== bdf) continue;
    if (routes.includes(ifc)) out.push({ bdf, what: `network interface ${ifc} carries routes`, critical: false });
  }
  return out;
}
