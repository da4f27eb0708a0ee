import { describe, expect, it } from 'vitest';
import { type ConfigReader, findCapability, findExtendedCapability, walkCapabilities, walkExtendedCapabilities } from '../../protocol/pci-capabilities.ts';
import { PCI_STATUS_CAP_LIST, PciCapId, PciCfg } from '../../protocol/pci.ts';

/** A configuration space of `size` bytes; reads past it return all ones, as a bus does. */
function space(size = 4096): { bytes: Uint8Array; read: ConfigReader } {
  const bytes = new Uint8Array(size);
  const read: ConfigReader = async (offset, width) => {
    if (offset < 0 || offset + width > size) return width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff;
    let v = 0;
    for (let i = 0; i < width; i++) v |= bytes[offset + i] << (8 * i);
    return v >>> 0;
  };
  return { bytes, read };
}

/** A standard list: Capabilities List status bit, the pointer, and [at, id, next] entries (vendor entries get cfg_type). */
function standard(entries: [at: number, id: number, next: number, cfgType?: number][], first = entries[0]?.[0] ?? 0, size = 256) {
  const s = space(size);
  s.bytes[PciCfg.STATUS] = PCI_STATUS_CAP_LIST;
  s.bytes[PciCfg.CAPABILITY_LIST] = first;
  for (const [at, id, next, cfgType] of entries) {
    s.bytes[at] = id;
    s.bytes[at + 1] = next;
    if (cfgType !== undefined) s.bytes[at + 3] = cfgType;
  }
  return s;
}

/** An extended list: [at, id, next] entries, headers with version 1. */
function extended(entries: [at: number, id: number, next: number][], size = 4096) {
  const s = space(size);
  const dv = new DataView(s.bytes.buffer);
  for (const [at, id, next] of entries) dv.setUint32(at, (id | (1 << 16) | (next << 20)) >>> 0, true);
  return s;
}

describe('standard capability list (0x40..0xff)', () => {
  it('lists a sound list in order, with the cfg_type of virtio vendor capabilities', async () => {
    const s = standard([
      [0x40, PciCapId.PM, 0x50],
      [0x50, PciCapId.VENDOR, 0x70, 1],
      [0x70, PciCapId.MSIX, 0x84],
      [0x84, PciCapId.VENDOR, 0, 5],
    ]);
    const w = await walkCapabilities(s.read);
    expect(w.problems).toEqual([]);
    expect(w.caps).toEqual([
      { at: 0x40, id: PciCapId.PM },
      { at: 0x50, id: PciCapId.VENDOR, cfgType: 1 },
      { at: 0x70, id: PciCapId.MSIX },
      { at: 0x84, id: PciCapId.VENDOR, cfgType: 5 },
    ]);
    expect(await findCapability(s.read, PciCapId.VENDOR, 5)).toBe(0x84);
    expect(await findCapability(s.read, PciCapId.VENDOR)).toBe(0x50);
    expect(await findCapability(s.read, PciCapId.EXP)).toBeUndefined();
  });

  it('stops at a loop and says where it loops', async () => {
    const w = await walkCapabilities(standard([[0x40, PciCapId.PM, 0x48], [0x48, PciCapId.EXP, 0x40]]).read);
    expect(w.caps.map((c) => c.at)).toEqual([0x40, 0x48]);
    expect(w.problems).toEqual(['the capability list loops back to 0x40']);
    const self = await walkCapabilities(standard([[0x40, PciCapId.PM, 0x40]]).read);
    expect(self.caps.length).toBe(1);
    expect(self.problems[0]).toMatch(/loops back to 0x40/);
  });

  it('stops at a pointer below 0x40, first or later', async () => {
    const first = await walkCapabilities(standard([], 0x10).read);
    expect(first.caps).toEqual([]);
    expect(first.problems[0]).toMatch(/0x10 is below 0x40/);
    const later = await walkCapabilities(standard([[0x40, PciCapId.PM, 0x3c]]).read);
    expect(later.caps.length).toBe(1);
    expect(later.problems[0]).toMatch(/0x3c is below 0x40/);
  });

  it('masks the two reserved low bits of a pointer (0x41 is 0x40; 0xff is 0xfc, the last dword of the space)', async () => {
    const s = standard([[0x40, PciCapId.PM, 0xff], [0xfc, PciCapId.MSIX, 0]], 0x43);
    const w = await walkCapabilities(s.read);
    expect(w.problems).toEqual([]);
    expect(w.caps.map((c) => c.at)).toEqual([0x40, 0xfc]);
  });

  it('has no list without the Capabilities List status bit, whatever the pointer says', async () => {
    const s = standard([[0x40, PciCapId.PM, 0]]);
    s.bytes[PciCfg.STATUS] = 0;
    expect(await walkCapabilities(s.read)).toEqual({ caps: [], problems: [] });
  });

  it('reports a function that reads all ones, and an entry whose ID reads 0xff', async () => {
    const gone = space(256);
    gone.bytes.fill(0xff);
    const w = await walkCapabilities(gone.read);
    expect(w.caps).toEqual([]);
    expect(w.problems[0]).toMatch(/all ones/);
    const hole = await walkCapabilities(standard([[0x40, PciCapId.PM, 0x80], [0x80, 0xff, 0]]).read);
    expect(hole.caps.map((c) => c.at)).toEqual([0x40]);
    expect(hole.problems[0]).toMatch(/0x80 reads all ones/);
  });
});

describe('PCIe extended capability list (0x100..configSize)', () => {
  it('lists a sound list with the capability versions', async () => {
    const s = extended([[0x100, 0x0001, 0x140], [0x140, 0x0010, 0x200], [0x200, 0x000b, 0]]);
    const w = await walkExtendedCapabilities(s.read);
    expect(w.problems).toEqual([]);
    expect(w.caps).toEqual([
      { at: 0x100, id: 0x0001, version: 1 },
      { at: 0x140, id: 0x0010, version: 1 },
      { at: 0x200, id: 0x000b, version: 1 },
    ]);
    expect(await findExtendedCapability(s.read, 0x0010)).toBe(0x140);
    expect(await findExtendedCapability(s.read, 0x0002)).toBeUndefined();
  });

  it('stops at a loop', async () => {
    const w = await walkExtendedCapabilities(extended([[0x100, 1, 0x140], [0x140, 2, 0x100]]).read);
    expect(w.caps.length).toBe(2);
    expect(w.problems).toEqual(['the extended capability list loops back to 0x100']);
  });

  it('stops at a next pointer below 0x100 or past the configuration space', async () => {
    const low = await walkExtendedCapabilities(extended([[0x100, 1, 0x80]]).read);
    expect(low.caps.length).toBe(1);
    expect(low.problems[0]).toMatch(/0x80 is outside 0x100\.\./);
    const past = await walkExtendedCapabilities(extended([[0x100, 1, 0x800]], 0x800).read, 0x800);
    expect(past.caps.length).toBe(1);
    expect(past.problems[0]).toMatch(/0x800 is outside 0x100\.\.0x7fc/);
  });

  it('masks the reserved low bits of a next pointer', async () => {
    const w = await walkExtendedCapabilities(extended([[0x100, 1, 0x143], [0x140, 2, 0]]).read);
    expect(w.problems).toEqual([]);
    expect(w.caps.map((c) => c.at)).toEqual([0x100, 0x140]);
  });

  it('has no list when the first header reads 0 or all ones, or the space ends at 0x100', async () => {
    expect(await walkExtendedCapabilities(space().read)).toEqual({ caps: [], problems: [] });
    const ones = space();
    ones.bytes.fill(0xff);
    expect(await walkExtendedCapabilities(ones.read)).toEqual({ caps: [], problems: [] });
    expect(await walkExtendedCapabilities(space(256).read, 256)).toEqual({ caps: [], problems: [] });
  });
});
