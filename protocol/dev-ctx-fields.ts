import { Reader, Writer } from './bytes.ts';
import { DecodeError } from './decode-error.ts';
import { DevCtxType, type VirtioDevCtxFieldTlv } from './device-context.ts';
import { COMMON_CFG_SIZE } from './pci-common-cfg.ts';
import type { WireOptions } from './wire-options.ts';

/** Values of the defined device context field types (patch 3/8, with the E9/E12/E13/E14 readings). */

/** VIRTIO_DEV_CTX_PCI_COMMON_CFG: struct virtio_pci_common_cfg (E12). Fields past the value's length are undefined. */
export interface DevCtxPciCommonCfg {
  deviceFeatureSelect: number;
  deviceFeature: number;
  driverFeatureSelect: number;
  driverFeature: number;
  configMsixVector: number;
  numQueues: number;
  deviceStatus: number;
  configGeneration: number;
  queueSelect: number;
  queueSize: number;
  queueMsixVector: number;
  queueEnable: number;
  queueNotifyOff: number;
  queueDesc: bigint;
  queueDriver: bigint;
  queueDevice: bigint;
  queueNotifConfigData?: number;
  queueReset?: number;
  adminQueueIndex?: number;
  adminQueueNum?: number;
}

export const PCI_COMMON_CFG_MIN = 56;

export function encodePciCommonCfg(c: DevCtxPciCommonCfg, length = COMMON_CFG_SIZE): Uint8Array {
  const w = Writer.of(Math.max(length, COMMON_CFG_SIZE));
  w.u32(c.deviceFeatureSelect).u32(c.deviceFeature).u32(c.driverFeatureSelect).u32(c.driverFeature);
  w.u16(c.configMsixVector).u16(c.numQueues).u8(c.deviceStatus).u8(c.configGeneration).u16(c.queueSelect);
  w.u16(c.queueSize).u16(c.queueMsixVector).u16(c.queueEnable).u16(c.queueNotifyOff);
  w.u64(c.queueDesc).u64(c.queueDriver).u64(c.queueDevice);
  w.u16(c.queueNotifConfigData ?? 0).u16(c.queueReset ?? 0).u16(c.adminQueueIndex ?? 0).u16(c.adminQueueNum ?? 0);
  return w.bytes.subarray(0, length);
}

/** Accepts any length of at least 56 bytes (the 1.0 struct) and reads the common prefix (E12). */
export function decodePciCommonCfg(v: Uint8Array): DevCtxPciCommonCfg {
  const r = new Reader(v, 'VIRTIO_DEV_CTX_PCI_COMMON_CFG');
  if (v.length < PCI_COMMON_CFG_MIN) r.fail(`value is ${v.length} bytes, struct virtio_pci_common_cfg has at least ${PCI_COMMON_CFG_MIN}`);
  const c: DevCtxPciCommonCfg = {
    deviceFeatureSelect: r.u32(),
    deviceFeature: r.u32(),
    driverFeatureSelect: r.u32(),
    driverFeature: r.u32(),
    configMsixVector: r.u16(),
    numQueues: r.u16(),
    deviceStatus: r.u8(),
    configGeneration: r.u8(),
    queueSelect: r.u16(),
    queueSize: r.u16(),
    queueMsixVector: r.u16(),
    queueEnable: r.u16(),
    queueNotifyOff: r.u16(),
    queueDesc: r.u64(),
    queueDriver: r.u64(),
    queueDevice: r.u64(),
  };
  if (r.remaining >= 2) c.queueNotifConfigData = r.u16();
  if (r.remaining >= 2) c.queueReset = r.u16();
  if (r.remaining >= 2) c.adminQueueIndex = r.u16();
  if (r.remaining >= 2) c.adminQueueNum = r.u16();
  return c;
}

/** VIRTIO_DEV_CTX_DEV_FEATURES: le64 feature words, word 0 = bits 0..63 (E9). */
export function encodeDevFeatures(features: bigint, words = 2): Uint8Array {
  const w = Writer.of(words * 8);
  for (let i = 0; i < words; i++) w.u64((features >> BigInt(64 * i)) & 0xffff_ffff_ffff_ffffn);
  return w.bytes;
}

/** Largest value whose bits fit a JS bigint (V8 caps a BigInt at 2^30 bits). */
const MAX_FEATURE_BYTES = 1 << 27;

/**
 * Linear in the value length: the words are joined as one hex string, most significant first, and
 * converted once. (OR-ing shifted words into a growing bigint was quadratic: a 256 KiB value took
 * seconds, a few MiB would stall a device parsing a written context.)
 */
export function decodeDevFeatures(v: Uint8Array): bigint {
  const r = new Reader(v, 'VIRTIO_DEV_CTX_DEV_FEATURES');
  if (v.length % 8 !== 0) r.fail(`value is ${v.length} bytes, not a whole number of le64 words`);
  if (v.length > MAX_FEATURE_BYTES) r.fail(`value is ${v.length} bytes, more feature words than a bigint can hold`);
  const words = v.length / 8;
  if (words === 0) return 0n;
  const hexWords = new Array<string>(words);
  for (let i = 0; i < words; i++) {
    const lo = r.u32('feature_bits');
    const hi = r.u32('feature_bits');
    hexWords[words - 1 - i] = hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
  }
  return BigInt('0x' + hexWords.join(''));
}

/** VIRTIO_DEV_CTX_PCI_VQ_CFG: struct virtio_dev_ctx_pci_vq_cfg (E13: 30 bytes packed, 32 natural). */
export interface VirtioDevCtxPciVqCfg {
  vqIndex: number;
  queueSize: number;
  queueMsixVector: number;
  queueDesc: bigint;
  queueDriver: bigint;
  queueDevice: bigint;
}

export function encodePciVqCfg(q: VirtioDevCtxPciVqCfg, layout: WireOptions['pciVqCfgLayout']): Uint8Array {
  const w = Writer.of(layout === 'packed' ? 30 : 32);
  w.u16(q.vqIndex).u16(q.queueSize).u16(q.queueMsixVector);
  if (layout === 'natural') w.zero(2);
  w.u64(q.queueDesc).u64(q.queueDriver).u64(q.queueDevice);
  return w.bytes;
}

/** Tells the two layouts apart by length (30 or 32); anything else is a DecodeError. */
export function decodePciVqCfg(v: Uint8Array): VirtioDevCtxPciVqCfg {
  const r = new Reader(v, 'virtio_dev_ctx_pci_vq_cfg');
  if (v.length !== 30 && v.length !== 32) r.fail(`value is ${v.length} bytes, expected 30 (packed) or 32 (natural)`);
  const vqIndex = r.u16('vq_index');
  const queueSize = r.u16('queue_size');
  const queueMsixVector = r.u16('queue_msix_vector');
  if (v.length === 32) r.skip(2, 'padding');
  return { vqIndex, queueSize, queueMsixVector, queueDesc: r.u64('queue_desc'), queueDriver: r.u64('queue_driver'), queueDevice: r.u64('queue_device') };
}

/** VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG: struct virtio_dev_ctx_vq_split_runtime, 5 bytes (E14). */
export interface VirtioDevCtxVqSplitRuntime {
  vqIndex: number;
  devAvailIdx: number;
  enabled: number;
}

export const SPLIT_RUNTIME_SIZE = 5;

export function encodeVqSplitRuntime(q: VirtioDevCtxVqSplitRuntime): Uint8Array {
  return Writer.of(SPLIT_RUNTIME_SIZE).u16(q.vqIndex).u16(q.devAvailIdx).u8(q.enabled).bytes;
}

/** Reads the 5 defined bytes; a longer value (a future extension, patch 3/8 item 4) is accepted. */
export function decodeVqSplitRuntime(v: Uint8Array): VirtioDevCtxVqSplitRuntime {
  const r = new Reader(v, 'virtio_dev_ctx_vq_split_runtime');
  return { vqIndex: r.u16('vq_index'), devAvailIdx: r.u16('dev_avail_idx'), enabled: r.u8('enabled') };
}

/** VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC: struct virtio_dev_ctx_vq_split_dev_descs (E9). */
export interface VirtioDevCtxVqSplitDevDescs {
  vqIndex: number;
  descIdx: number[];
}

export function encodeVqSplitDevDescs(q: VirtioDevCtxVqSplitDevDescs): Uint8Array {
  const w = Writer.of(4 + 2 * q.descIdx.length).u16(q.vqIndex).u16(q.descIdx.length);
  for (const d of q.descIdx) w.u16(d);
  return w.bytes;
}

/** The length must be exactly 4 + 2 * desc_count. */
export function decodeVqSplitDevDescs(v: Uint8Array): VirtioDevCtxVqSplitDevDescs {
  const r = new Reader(v, 'virtio_dev_ctx_vq_split_dev_descs');
  const vqIndex = r.u16('vq_index');
  const count = r.u16('desc_count');
  if (v.length !== 4 + 2 * count) r.fail(`desc_count ${count} needs a ${4 + 2 * count}-byte value, length is ${v.length}`);
  const descIdx: number[] = new Array(count);
  for (let i = 0; i < count; i++) descIdx[i] = r.u16('desc_idx');
  return { vqIndex, descIdx };
}

/** A context field with its value decoded, for the defined types; reserved types stay raw. */
export type DevCtxEntry =
  | { type: typeof DevCtxType.PCI_COMMON_CFG; value: DevCtxPciCommonCfg }
  | { type: typeof DevCtxType.DEV_FEATURES; value: bigint }
  | { type: typeof DevCtxType.PCI_VQ_CFG; value: VirtioDevCtxPciVqCfg }
  | { type: typeof DevCtxType.VQ_SPLIT_RUNTIME_CFG; value: VirtioDevCtxVqSplitRuntime }
  | { type: typeof DevCtxType.VQ_SPLIT_DEV_OWN_DESC; value: VirtioDevCtxVqSplitDevDescs }
  | { type: typeof DevCtxType.DEV_CFG; value: Uint8Array }
  | { type: number; value: Uint8Array; reserved: true };

export function decodeDevCtxEntry(f: VirtioDevCtxFieldTlv): DevCtxEntry {
  try {
    switch (f.type) {
      case DevCtxType.PCI_COMMON_CFG:
        return { type: f.type, value: decodePciCommonCfg(f.value) };
      case DevCtxType.DEV_FEATURES:
        return { type: f.type, value: decodeDevFeatures(f.value) };
      case DevCtxType.PCI_VQ_CFG:
        return { type: f.type, value: decodePciVqCfg(f.value) };
      case DevCtxType.VQ_SPLIT_RUNTIME_CFG:
        return { type: f.type, value: decodeVqSplitRuntime(f.value) };
      case DevCtxType.VQ_SPLIT_DEV_OWN_DESC:
        return { type: f.type, value: decodeVqSplitDevDescs(f.value) };
      case DevCtxType.DEV_CFG:
        return { type: f.type, value: f.value };
      default:
        return { type: f.type, value: f.value, reserved: true };
    }
  } catch (e) {
    // Re-anchor the error at the field's offset in the stream, so a report names where it is.
    if (e instanceof DecodeError && f.offset !== undefined) throw new DecodeError(e.what, f.offset + 16 + e.offset, e.detail);
    throw e;
  }
}
