import { PciCapId, PciCfg, PCI_STATUS_CAP_LIST, VirtioPciCap } from './pci.ts';

/** Reads configuration space at exact width (a PciFunction, a MemberPort, an owner port). */
export type ConfigReader = (offset: number, width: 1 | 2 | 4) => Promise<number>;

/** The reader of anything with `pciConfigRead` (MemberPort, OwnerPort). */
export function configReaderOf(p: { pciConfigRead(offset: number, width: 1 | 2 | 4): Promise<number> }): ConfigReader {
  return (offset, width) => p.pciConfigRead(offset, width);
}

/** One capability of the standard list (0x40..0xff) or the PCIe extended list (0x100..). */
export interface PciCapability {
  at: number;
  id: number;
  /** Extended capabilities only: the capability version (bits 19:16 of the header). */
  version?: number;
  /** Virtio vendor capabilities (id 0x09) only: cfg_type. */
  cfgType?: number;
}

export interface CapabilityWalk {
  caps: PciCapability[];
  /** Why the walk stopped early: a loop, a pointer out of bounds or misaligned. Empty for a sound list. */
  problems: string[];
}

const STD_FIRST = 0x40;
const EXT_FIRST = 0x100;

/**
 * Walks the standard capability list from the Capabilities Pointer. The two low bits of every pointer
 * are reserved and masked (PCI 3.0 6.7: software must mask them). Safe against a list that loops, that
 * points below 0x40, or whose entry reads all ones (ID 0xff: nothing answers there): the walk stops
 * and says why. A function without the Capabilities List status bit has no list.
 */
export async function walkCapabilities(read: ConfigReader): Promise<CapabilityWalk> {
  const out: CapabilityWalk = { caps: [], problems: [] };
  const status = await read(PciCfg.STATUS, 2);
  if (status === 0xffff) {
    // What a function that does not answer (in reset, removed) returns for every read.
    out.problems.push('the Status register reads all ones: the function does not answer configuration reads');
    return out;
  }
  if ((status & PCI_STATUS_CAP_LIST) === 0) return out;
  const seen = new Set<number>();
  let ptr = await read(PciCfg.CAPABILITY_LIST, 1);
  while (ptr !== 0) {
    const at = ptr & 0xfc;
    if (at < STD_FIRST) {
      out.problems.push(`capability pointer 0x${ptr.toString(16)} is below 0x40 (inside the configuration header)`);
      break;
    }
    if (seen.has(at)) {
      out.problems.push(`the capability list loops back to 0x${at.toString(16)}`);
      break;
    }
    seen.add(at);
    const id = await read(at, 1);
    if (id === 0xff) {
      out.problems.push(`the capability at 0x${at.toString(16)} reads all ones (ID 0xff)`);
      break;
    }
    const cap: PciCapability = { at, id };
    if (id === PciCapId.VENDOR) cap.cfgType = await read(at + VirtioPciCap.CFG_TYPE, 1);
    out.caps.push(cap);
    ptr = await read(at + 1, 1);
  }
  return out;
}

/**
 * Walks the PCIe extended capability list from 0x100. A header of 0 or all ones means no extended
 * capabilities; loops and pointers below 0x100 or past `configSize` stop the walk. The two low bits of
 * a Next Capability Offset are reserved: they are masked, as for the standard list (Linux
 * PCI_EXT_CAP_NEXT does the same), so a device that sets them still has its list read.
 */
export async function walkExtendedCapabilities(read: ConfigReader, configSize = 4096): Promise<CapabilityWalk> {
  const out: CapabilityWalk = { caps: [], problems: [] };
  if (configSize <= EXT_FIRST) return out;
  const seen = new Set<number>();
  let at = EXT_FIRST;
  for (;;) {
    if (at < EXT_FIRST || at + 4 > configSize) {
      out.problems.push(`extended capability pointer 0x${at.toString(16)} is outside 0x100..0x${(configSize - 4).toString(16)}`);
      break;
    }
    if (seen.has(at)) {
      out.problems.push(`the extended capability list loops back to 0x${at.toString(16)}`);
      break;
    }
    seen.add(at);
    const hdr = await read(at, 4);
    if (hdr === 0 || hdr === 0xffffffff) break;
    out.caps.push({ at, id: hdr & 0xffff, version: (hdr >>> 16) & 0xf });
    const next = (hdr >>> 20) & 0xffc;
    if (next === 0) break;
    at = next;
  }
  return out;
}

/** The first capability with `id` (and, for virtio vendor capabilities, `cfgType`), or undefined. */
export async function findCapability(read: ConfigReader, id: number, cfgType?: number): Promise<number | undefined> {
  const { caps } = await walkCapabilities(read);
  return caps.find((c) => c.id === id && (cfgType === undefined || c.cfgType === cfgType))?.at;
}

export async function findExtendedCapability(read: ConfigReader, id: number, configSize = 4096): Promise<number | undefined> {
  const { caps } = await walkExtendedCapabilities(read, configSize);
  return caps.find((c) => c.id === id)?.at;
}
