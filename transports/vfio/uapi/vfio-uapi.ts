/**
 * The Linux VFIO and iommufd user API: ioctl numbers, flags and the argument structs, byte for byte
 * as include/uapi/linux/vfio.h and iommufd.h lay them out (little-endian; _IO numbers, so
 * 0x3B00 | nr on x86_64 and arm64). One encoder and one decoder per struct, used by the transport
 * and by the fake host that plays the kernel in CI.
 */

const IO = (nr: number) => (0x3b << 8) | nr;
const VFIO_BASE = 100;

export const VfioIoctl = {
  GET_API_VERSION: IO(VFIO_BASE + 0),
  CHECK_EXTENSION: IO(VFIO_BASE + 1),
  SET_IOMMU: IO(VFIO_BASE + 2),
  GROUP_GET_STATUS: IO(VFIO_BASE + 3),
  GROUP_SET_CONTAINER: IO(VFIO_BASE + 4),
  GROUP_UNSET_CONTAINER: IO(VFIO_BASE + 5),
  GROUP_GET_DEVICE_FD: IO(VFIO_BASE + 6),
  DEVICE_GET_INFO: IO(VFIO_BASE + 7),
  DEVICE_GET_REGION_INFO: IO(VFIO_BASE + 8),
  DEVICE_GET_IRQ_INFO: IO(VFIO_BASE + 9),
  DEVICE_SET_IRQS: IO(VFIO_BASE + 10),
  DEVICE_RESET: IO(VFIO_BASE + 11),
  DEVICE_GET_PCI_HOT_RESET_INFO: IO(VFIO_BASE + 12),
  DEVICE_PCI_HOT_RESET: IO(VFIO_BASE + 13),
  DEVICE_FEATURE: IO(VFIO_BASE + 17),
  DEVICE_BIND_IOMMUFD: IO(VFIO_BASE + 18),
  DEVICE_ATTACH_IOMMUFD_PT: IO(VFIO_BASE + 19),
  DEVICE_DETACH_IOMMUFD_PT: IO(VFIO_BASE + 20),
  /** Container fd numbers that reuse device-family numbers (the fd type decides). */
  IOMMU_GET_INFO: IO(VFIO_BASE + 12),
  IOMMU_MAP_DMA: IO(VFIO_BASE + 13),
  IOMMU_UNMAP_DMA: IO(VFIO_BASE + 14),
} as const;

export const IommufdIoctl = {
  DESTROY: IO(0x80),
  IOAS_ALLOC: IO(0x81),
  IOAS_ALLOW_IOVAS: IO(0x82),
  IOAS_IOVA_RANGES: IO(0x84),
  IOAS_MAP: IO(0x85),
  IOAS_UNMAP: IO(0x86),
} as const;

export const VFIO_API_VERSION = 0;
/** CHECK_EXTENSION / SET_IOMMU ids. */
export const VfioIommuType = { TYPE1: 1, TYPE1v2: 3, NOIOMMU: 8, UNMAP_ALL: 9 } as const;

export const GROUP_FLAGS_VIABLE = 0x1;
export const GROUP_FLAGS_CONTAINER_SET = 0x2;

export const DEVICE_FLAGS_RESET = 0x1;
export const DEVICE_FLAGS_PCI = 0x2;
export const DEVICE_FLAGS_CAPS = 0x80;

export const REGION_INFO_FLAG_READ = 0x1;
export const REGION_INFO_FLAG_WRITE = 0x2;
export const REGION_INFO_FLAG_MMAP = 0x4;
export const REGION_INFO_FLAG_CAPS = 0x8;
/** vfio-pci region indexes. */
export const VfioPciRegion = { BAR0: 0, BAR5: 5, ROM: 6, CONFIG: 7, VGA: 8, NUM: 9 } as const;
export const VfioPciIrq = { INTX: 0, MSI: 1, MSIX: 2, ERR: 3, REQ: 4, NUM: 5 } as const;

export const IRQ_INFO_EVENTFD = 0x1;
export const IRQ_INFO_MASKABLE = 0x2;
export const IRQ_INFO_AUTOMASKED = 0x4;
export const IRQ_INFO_NORESIZE = 0x8;

export const IRQ_SET_DATA_NONE = 0x1;
export const IRQ_SET_DATA_BOOL = 0x2;
export const IRQ_SET_DATA_EVENTFD = 0x4;
export const IRQ_SET_ACTION_MASK = 0x8;
export const IRQ_SET_ACTION_UNMASK = 0x10;
export const IRQ_SET_ACTION_TRIGGER = 0x20;

export const DEVICE_FEATURE_GET = 0x10000;
export const DEVICE_FEATURE_SET = 0x20000;
export const DEVICE_FEATURE_PROBE = 0x40000;
export const DEVICE_FEATURE_PCI_VF_TOKEN = 0;

export const DMA_MAP_FLAG_READ = 0x1;
export const DMA_MAP_FLAG_WRITE = 0x2;
export const DMA_UNMAP_FLAG_ALL = 0x2;
export const IOMMU_INFO_PGSIZES = 0x1;
export const IOMMU_INFO_CAPS = 0x2;
export const IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;

export const BIND_FLAG_TOKEN = 0x1;
export const IOMMU_IOAS_MAP_FIXED_IOVA = 0x1;
export const IOMMU_IOAS_MAP_WRITEABLE = 0x2;
export const IOMMU_IOAS_MAP_READABLE = 0x4;

// ---- helpers ---------------------------------------------------------------------------------------

function buf(size: number): { b: Uint8Array; v: DataView } {
  const b = new Uint8Array(size);
  return { b, v: new DataView(b.buffer) };
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** argsz (or iommufd's size) of an argument buffer the kernel received. */
export function argsz(b: Uint8Array): number {
  return b.length >= 4 ? view(b).getUint32(0, true) : 0;
}

// ---- group and container ---------------------------------------------------------------------------

export const groupStatus = {
  size: 8,
  encode(): Uint8Array {
    const { b, v } = buf(8);
    v.setUint32(0, 8, true);
    return b;
  },
  flags: (b: Uint8Array) => view(b).getUint32(4, true),
};

/** VFIO_GROUP_SET_CONTAINER: a pointer to an s32 holding the container fd. */
export function containerFdArg(fd: number): Uint8Array {
  const { b, v } = buf(4);
  v.setInt32(0, fd, true);
  return b;
}

/** VFIO_GROUP_GET_DEVICE_FD: "DDDD:BB:DD.F" or "DDDD:BB:DD.F vf_token=<uuid>", NUL-terminated. */
export function deviceNameArg(bdf: string, vfToken?: string): Uint8Array {
  const s = vfToken ? `${bdf} vf_token=${vfToken}` : bdf;
  const b = new Uint8Array(s.length + 1);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

export function decodeCString(b: Uint8Array): string {
  let end = b.indexOf(0);
  if (end < 0) end = b.length;
  return String.fromCharCode(...b.subarray(0, end));
}

/** One capability of an INFO chain: id, version, and where its body starts in the info buffer. */
export interface InfoCap {
  id: number;
  version: number;
  at: number;
}

/** Walks an INFO capability chain (offsets from the start of the whole buffer; next 0 ends it), loop-safe. */
export function infoCaps(b: Uint8Array, first: number): InfoCap[] {
  const out: InfoCap[] = [];
  const seen = new Set<number>();
  const v = view(b);
  for (let at = first; at && at + 8 <= b.length && !seen.has(at); ) {
    seen.add(at);
    out.push({ id: v.getUint16(at, true), version: v.getUint16(at + 2, true), at });
    at = v.getUint32(at + 4, true);
  }
  return out;
}

export interface IommuType1Info {
  flags: number;
  pgsizes: bigint;
  /** Valid IOVA ranges, `end` inclusive (IOVA_RANGE cap); empty when the kernel reported none. */
  ranges: { start: bigint; end: bigint }[];
  /** argsz the kernel asked for when the buffer was too small for its capabilities. */
  needed: number;
}

export const iommuType1Info = {
  size: 24,
  encode(size = 24): Uint8Array {
    const { b, v } = buf(size);
    v.setUint32(0, size, true);
    return b;
  },
  decode(b: Uint8Array): IommuType1Info {
    const v = view(b);
    const flags = v.getUint32(4, true);
    const needed = v.getUint32(0, true);
    const ranges: { start: bigint; end: bigint }[] = [];
    const capOffset = v.getUint32(16, true);
    if (flags & IOMMU_INFO_CAPS && capOffset) {
      for (const cap of infoCaps(b, capOffset)) {
        if (cap.id !== IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) continue;
        const n = v.getUint32(cap.at + 8, true);
        for (let i = 0; i < n && cap.at + 16 + 16 * (i + 1) <= b.length; i++) {
          ranges.push({ start: v.getBigUint64(cap.at + 16 + 16 * i, true), end: v.getBigUint64(cap.at + 24 + 16 * i, true) });
        }
      }
    }
    return { flags, pgsizes: v.getBigUint64(8, true), ranges, needed };
  },
};

export interface DmaMap {
  flags: number;
  vaddr: bigint;
  iova: bigint;
  size: bigint;
}

export const dmaMap = {
  size: 32,
  encode(m: DmaMap): Uint8Array {
    const { b, v } = buf(32);
    v.setUint32(0, 32, true);
    v.setUint32(4, m.flags, true);
    v.setBigUint64(8, m.vaddr, true);
    v.setBigUint64(16, m.iova, true);
    v.setBigUint64(24, m.size, true);
    return b;
  },
  decode(b: Uint8Array): DmaMap {
    const v = view(b);
    return { flags: v.getUint32(4, true), vaddr: v.getBigUint64(8, true), iova: v.getBigUint64(16, true), size: v.getBigUint64(24, true) };
  },
};

export const dmaUnmap = {
  size: 24,
  encode(iova: bigint, size: bigint, flags = 0): Uint8Array {
    const { b, v } = buf(24);
    v.setUint32(0, 24, true);
    v.setUint32(4, flags, true);
    v.setBigUint64(8, iova, true);
    v.setBigUint64(16, size, true);
    return b;
  },
  decode(b: Uint8Array): { flags: number; iova: bigint; size: bigint } {
    const v = view(b);
    return { flags: v.getUint32(4, true), iova: v.getBigUint64(8, true), size: v.getBigUint64(16, true) };
  },
  /** Bytes the kernel unmapped (written back into size). */
  unmapped: (b: Uint8Array) => view(b).getBigUint64(16, true),
};

// ---- device ----------------------------------------------------------------------------------------

export interface DeviceInfo {
  flags: number;
  numRegions: number;
  numIrqs: number;
}

export const deviceInfo = {
  size: 24,
  encode(): Uint8Array {
    const { b, v } = buf(24);
    v.setUint32(0, 24, true);
    return b;
  },
  decode(b: Uint8Array): DeviceInfo {
    const v = view(b);
    return { flags: v.getUint32(4, true), numRegions: v.getUint32(8, true), numIrqs: v.getUint32(12, true) };
  },
  fill(b: Uint8Array, i: DeviceInfo): void {
    const v = view(b);
    v.setUint32(4, i.flags, true);
    v.setUint32(8, i.numRegions, true);
    v.setUint32(12, i.numIrqs, true);
  },
};

export interface RegionInfo {
  index: number;
  flags: number;
  size: bigint;
  offset: bigint;
  /** SPARSE_MMAP areas, when the kernel listed them. */
  sparse?: { offset: bigint; size: bigint }[];
  needed: number;
}

export const REGION_CAP_SPARSE_MMAP = 1;
export const REGION_CAP_TYPE = 2;
export const REGION_CAP_MSIX_MAPPABLE = 3;

export const regionInfo = {
  size: 32,
  encode(index: number, size = 32): Uint8Array {
    const { b, v } = buf(size);
    v.setUint32(0, size, true);
    v.setUint32(8, index, true);
    return b;
  },
  index: (b: Uint8Array) => view(b).getUint32(8, true),
  decode(b: Uint8Array): RegionInfo {
    const v = view(b);
    const out: RegionInfo = { index: v.getUint32(8, true), flags: v.getUint32(4, true), size: v.getBigUint64(16, true), offset: v.getBigUint64(24, true), needed: v.getUint32(0, true) };
    const capOffset = v.getUint32(12, true);
    if (out.flags & REGION_INFO_FLAG_CAPS && capOffset) {
      for (const cap of infoCaps(b, capOffset)) {
        if (cap.id !== REGION_CAP_SPARSE_MMAP) continue;
        const n = v.getUint32(cap.at + 8, true);
        out.sparse = [];
        for (let i = 0; i < n && cap.at + 16 + 16 * (i + 1) <= b.length; i++) {
          out.sparse.push({ offset: v.getBigUint64(cap.at + 16 + 16 * i, true), size: v.getBigUint64(cap.at + 24 + 16 * i, true) });
        }
      }
    }
    return out;
  },
  fill(b: Uint8Array, r: { flags: number; size: bigint; offset: bigint }): void {
    const v = view(b);
    v.setUint32(4, r.flags, true);
    v.setUint32(12, 0, true);
    v.setBigUint64(16, r.size, true);
    v.setBigUint64(24, r.offset, true);
  },
};

export interface IrqInfo {
  index: number;
  flags: number;
  count: number;
}

export const irqInfo = {
  size: 16,
  encode(index: number): Uint8Array {
    const { b, v } = buf(16);
    v.setUint32(0, 16, true);
    v.setUint32(8, index, true);
    return b;
  },
  index: (b: Uint8Array) => view(b).getUint32(8, true),
  decode(b: Uint8Array): IrqInfo {
    const v = view(b);
    return { index: v.getUint32(8, true), flags: v.getUint32(4, true), count: v.getUint32(12, true) };
  },
  fill(b: Uint8Array, flags: number, count: number): void {
    const v = view(b);
    v.setUint32(4, flags, true);
    v.setUint32(12, count, true);
  },
};

export interface IrqSet {
  flags: number;
  index: number;
  start: number;
  count: number;
  /** DATA_EVENTFD payload (-1: unassigned), or DATA_BOOL payload. */
  fds?: number[];
  bools?: boolean[];
}

export const irqSet = {
  header: 20,
  encode(s: IrqSet): Uint8Array {
    const payload = s.fds ? 4 * s.fds.length : s.bools ? s.bools.length : 0;
    const { b, v } = buf(20 + payload);
    v.setUint32(0, 20 + payload, true);
    v.setUint32(4, s.flags, true);
    v.setUint32(8, s.index, true);
    v.setUint32(12, s.start, true);
    v.setUint32(16, s.count, true);
    s.fds?.forEach((fd, i) => v.setInt32(20 + 4 * i, fd, true));
    s.bools?.forEach((x, i) => v.setUint8(20 + i, x ? 1 : 0));
    return b;
  },
  decode(b: Uint8Array): IrqSet {
    const v = view(b);
    const s: IrqSet = { flags: v.getUint32(4, true), index: v.getUint32(8, true), start: v.getUint32(12, true), count: v.getUint32(16, true) };
    if (s.flags & IRQ_SET_DATA_EVENTFD) {
      s.fds = [];
      for (let i = 0; i < s.count && 20 + 4 * (i + 1) <= b.length; i++) s.fds.push(v.getInt32(20 + 4 * i, true));
    } else if (s.flags & IRQ_SET_DATA_BOOL) {
      s.bools = [];
      for (let i = 0; i < s.count && 20 + i < b.length; i++) s.bools.push(v.getUint8(20 + i) !== 0);
    }
    return s;
  },
};

/** VFIO_DEVICE_FEATURE with PCI_VF_TOKEN: SET with 16 raw UUID bytes (PROBE|SET to ask for support). */
export function vfTokenFeature(uuid: string, probe = false): Uint8Array {
  const { b, v } = buf(24);
  v.setUint32(0, 24, true);
  v.setUint32(4, DEVICE_FEATURE_SET | (probe ? DEVICE_FEATURE_PROBE : 0) | DEVICE_FEATURE_PCI_VF_TOKEN, true);
  b.set(uuidBytes(uuid), 8);
  return b;
}

export const deviceFeature = {
  flags: (b: Uint8Array) => view(b).getUint32(4, true),
  data: (b: Uint8Array) => b.subarray(8),
};

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

export function uuidBytes(uuid: string): Uint8Array {
  if (!isUuid(uuid)) throw new RangeError(`"${uuid}" is not a UUID (8-4-4-4-12 hex digits)`);
  const hex = uuid.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function uuidString(b: Uint8Array): string {
  const h = [...b.subarray(0, 16)].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---- cdev and iommufd ------------------------------------------------------------------------------

export const bindIommufd = {
  size: 24,
  encode(iommufd: number, tokenPtr?: bigint): Uint8Array {
    const { b, v } = buf(24);
    v.setUint32(0, 24, true);
    v.setUint32(4, tokenPtr !== undefined ? BIND_FLAG_TOKEN : 0, true);
    v.setInt32(8, iommufd, true);
    if (tokenPtr !== undefined) v.setBigUint64(16, tokenPtr, true);
    return b;
  },
  decode(b: Uint8Array): { flags: number; iommufd: number; tokenPtr: bigint } {
    const v = view(b);
    return { flags: v.getUint32(4, true), iommufd: v.getInt32(8, true), tokenPtr: b.length >= 24 ? v.getBigUint64(16, true) : 0n };
  },
  devid: (b: Uint8Array) => view(b).getUint32(12, true),
  setDevid: (b: Uint8Array, id: number) => view(b).setUint32(12, id, true),
};

export const attachIommufdPt = {
  size: 16,
  encode(ptId: number): Uint8Array {
    const { b, v } = buf(16);
    v.setUint32(0, 16, true);
    v.setUint32(8, ptId, true);
    return b;
  },
  ptId: (b: Uint8Array) => view(b).getUint32(8, true),
};

export const detachIommufdPt = {
  encode(): Uint8Array {
    const { b, v } = buf(12);
    v.setUint32(0, 12, true);
    return b;
  },
};

export const ioasAlloc = {
  size: 12,
  encode(): Uint8Array {
    const { b, v } = buf(12);
    v.setUint32(0, 12, true);
    return b;
  },
  id: (b: Uint8Array) => view(b).getUint32(8, true),
  setId: (b: Uint8Array, id: number) => view(b).setUint32(8, id, true),
};

export interface IoasMap {
  flags: number;
  ioasId: number;
  userVa: bigint;
  length: bigint;
  iova: bigint;
}

export const ioasMap = {
  size: 40,
  encode(m: IoasMap): Uint8Array {
    const { b, v } = buf(40);
    v.setUint32(0, 40, true);
    v.setUint32(4, m.flags, true);
    v.setUint32(8, m.ioasId, true);
    v.setBigUint64(16, m.userVa, true);
    v.setBigUint64(24, m.length, true);
    v.setBigUint64(32, m.iova, true);
    return b;
  },
  decode(b: Uint8Array): IoasMap {
    const v = view(b);
    return { flags: v.getUint32(4, true), ioasId: v.getUint32(8, true), userVa: v.getBigUint64(16, true), length: v.getBigUint64(24, true), iova: v.getBigUint64(32, true) };
  },
  iova: (b: Uint8Array) => view(b).getBigUint64(32, true),
  setIova: (b: Uint8Array, iova: bigint) => view(b).setBigUint64(32, iova, true),
};

export const ioasUnmap = {
  size: 24,
  encode(ioasId: number, iova: bigint, length: bigint): Uint8Array {
    const { b, v } = buf(24);
    v.setUint32(0, 24, true);
    v.setUint32(4, ioasId, true);
    v.setBigUint64(8, iova, true);
    v.setBigUint64(16, length, true);
    return b;
  },
  decode(b: Uint8Array): { ioasId: number; iova: bigint; length: bigint } {
    const v = view(b);
    return { ioasId: v.getUint32(4, true), iova: v.getBigUint64(8, true), length: v.getBigUint64(16, true) };
  },
  setLength: (b: Uint8Array, n: bigint) => view(b).setBigUint64(16, n, true),
  length: (b: Uint8Array) => view(b).getBigUint64(16, true),
};

export const ioasIovaRanges = {
  size: 32,
  encode(ioasId: number, numIovas: number, arrayPtr: bigint): Uint8Array {
    const { b, v } = buf(32);
    v.setUint32(0, 32, true);
    v.setUint32(4, ioasId, true);
    v.setUint32(8, numIovas, true);
    v.setBigUint64(16, arrayPtr, true);
    return b;
  },
  decode(b: Uint8Array): { ioasId: number; numIovas: number; arrayPtr: bigint; alignment: bigint } {
    const v = view(b);
    return { ioasId: v.getUint32(4, true), numIovas: v.getUint32(8, true), arrayPtr: v.getBigUint64(16, true), alignment: v.getBigUint64(24, true) };
  },
  setOut(b: Uint8Array, numIovas: number, alignment: bigint): void {
    const v = view(b);
    v.setUint32(8, numIovas, true);
    v.setBigUint64(24, alignment, true);
  },
};

export const iommuDestroy = {
  encode(id: number): Uint8Array {
    const { b, v } = buf(8);
    v.setUint32(0, 8, true);
    v.setUint32(4, id, true);
    return b;
  },
};
