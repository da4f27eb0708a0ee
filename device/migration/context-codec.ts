import type { VirtioAdminCmdDevCtxSupportedField } from '../../protocol/commands.ts';
import {
  decodeDevFeatures,
  decodePciCommonCfg,
  decodePciVqCfg,
  decodeVqSplitDevDescs,
  decodeVqSplitRuntime,
  type DevCtxPciCommonCfg,
  encodeDevFeatures,
  encodePciCommonCfg,
  encodePciVqCfg,
  encodeVqSplitDevDescs,
  encodeVqSplitRuntime,
  SPLIT_RUNTIME_SIZE,
  type VirtioDevCtxPciVqCfg,
  type VirtioDevCtxVqSplitDevDescs,
  type VirtioDevCtxVqSplitRuntime,
} from '../../protocol/dev-ctx-fields.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import { DevCtxType, devCtxTypeName, encodedDevCtxSize, TLV_HEADER_SIZE, type VirtioDevCtx, type VirtioDevCtxFieldTlv } from '../../protocol/device-context.ts';
import { alignUp } from '../../protocol/bytes.ts';
import { COMMON_CFG_SIZE } from '../../protocol/pci-common-cfg.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import type { VirtioMember } from '../member/virtio-member.ts';

/**
 * The reference device's device context: what it puts in a context (patch 3/8, with E9/E12/E13/E14
 * and the suite readings S1/S2), how long each field is, how it checks a written field (SD15) and
 * how it restores one.
 *
 * Field order: PCI_COMMON_CFG, DEV_FEATURES, then per virtqueue PCI_VQ_CFG and VQ_SPLIT_RUNTIME_CFG,
 * then VQ_SPLIT_DEV_OWN_DESC for each queue with device-owned descriptors, then DEV_CFG if the device
 * type has a configuration.
 */

/** DEV_FEATURES carries two le64 words: feature bits 0..127. */
const FEATURE_WORDS = 2;

function pciVqCfgLength(wire: WireOptions): number {
  return wire.pciVqCfgLayout === 'packed' ? 30 : 32;
}

export function commonCfgOf(m: VirtioMember): DevCtxPciCommonCfg {
  const q = m.queues[m.queueSelect];
  return {
    deviceFeatureSelect: m.deviceFeatureSelect,
    deviceFeature: Number((m.deviceFeatures >> BigInt(32 * m.deviceFeatureSelect)) & 0xffffffffn),
    driverFeatureSelect: m.driverFeatureSelect,
    driverFeature: Number((m.driverFeatures >> BigInt(32 * m.driverFeatureSelect)) & 0xffffffffn),
    configMsixVector: m.configMsixVector,
    numQueues: m.numQueues,
    deviceStatus: m.deviceStatus,
    configGeneration: m.configGeneration,
    queueSelect: m.queueSelect,
    queueSize: q?.size ?? 0,
    queueMsixVector: q?.msixVector ?? 0xffff,
    queueEnable: q?.enabled ? 1 : 0,
    queueNotifyOff: q?.index ?? 0,
    queueDesc: q?.desc ?? 0n,
    queueDriver: q?.driver ?? 0n,
    queueDevice: q?.device ?? 0n,
    queueNotifConfigData: 0,
    queueReset: 0,
    adminQueueIndex: 0,
    adminQueueNum: 0,
  };
}

/** Device-owned descriptors per queue, in the order the device took them. */
function ownedByQueue(m: VirtioMember): Map<number, number[]> {
  const owned = new Map<number, number[]>();
  for (const f of m.inFlight) {
    const list = owned.get(f.queue) ?? [];
    list.push(f.head);
    owned.set(f.queue, list);
  }
  return owned;
}

export function buildContext(m: VirtioMember, wire: WireOptions): VirtioDevCtx {
  const fields: VirtioDevCtxFieldTlv[] = [
    { type: DevCtxType.PCI_COMMON_CFG, value: encodePciCommonCfg(commonCfgOf(m), wire.pciCommonCfgLength) },
    { type: DevCtxType.DEV_FEATURES, value: encodeDevFeatures(m.driverFeatures, FEATURE_WORDS) },
  ];
  for (const q of m.queues) {
    fields.push({
      type: DevCtxType.PCI_VQ_CFG,
      value: encodePciVqCfg({ vqIndex: q.index, queueSize: q.size, queueMsixVector: q.msixVector, queueDesc: q.desc, queueDriver: q.driver, queueDevice: q.device }, wire.pciVqCfgLayout),
    });
    fields.push({ type: DevCtxType.VQ_SPLIT_RUNTIME_CFG, value: encodeVqSplitRuntime({ vqIndex: q.index, devAvailIdx: q.lastAvailIdx, enabled: q.enabled ? 1 : 0 }) });
  }
  for (const [vqIndex, descIdx] of ownedByQueue(m)) fields.push({ type: DevCtxType.VQ_SPLIT_DEV_OWN_DESC, value: encodeVqSplitDevDescs({ vqIndex, descIdx }) });
  const cfg = m.deviceConfigBytes();
  if (cfg.length) fields.push({ type: DevCtxType.DEV_CFG, value: cfg.slice() });
  return { fields };
}

/** Size in bytes of the context buildContext would produce now, without building it (SIZE_GET). */
export function contextSize(m: VirtioMember, wire: WireOptions): number {
  const tlv = (valueLen: number) => (wire.ctxStreamAlignment === 'packed' ? TLV_HEADER_SIZE + valueLen : alignUp(TLV_HEADER_SIZE + valueLen, 8));
  let n = encodedDevCtxSize({ fields: [] }, wire.ctxStreamAlignment);
  n += tlv(wire.pciCommonCfgLength) + tlv(FEATURE_WORDS * 8);
  n += m.numQueues * (tlv(pciVqCfgLength(wire)) + tlv(SPLIT_RUNTIME_SIZE));
  for (const heads of ownedByQueue(m).values()) n += tlv(4 + 2 * heads.length);
  const cfg = m.deviceConfigLength;
  if (cfg) n += tlv(cfg);
  return n;
}

/** FIELDS_QUERY: every type the device supports, with its length (E37: 0 where the length varies). */
export function supportedFields(m: VirtioMember, wire: WireOptions): VirtioAdminCmdDevCtxSupportedField[] {
  const out: VirtioAdminCmdDevCtxSupportedField[] = [
    { type: DevCtxType.PCI_COMMON_CFG, length: BigInt(wire.pciCommonCfgLength) },
    { type: DevCtxType.DEV_FEATURES, length: BigInt(FEATURE_WORDS * 8) },
    { type: DevCtxType.PCI_VQ_CFG, length: BigInt(pciVqCfgLength(wire)) },
    { type: DevCtxType.VQ_SPLIT_RUNTIME_CFG, length: BigInt(SPLIT_RUNTIME_SIZE) },
    { type: DevCtxType.VQ_SPLIT_DEV_OWN_DESC, length: 0n },
  ];
  if (m.deviceConfigLength) out.push({ type: DevCtxType.DEV_CFG, length: BigInt(m.deviceConfigLength) });
  return out;
}

/** A written context, decoded and checked, ready to restore when the member leaves Freeze. */
export interface ContextPlan {
  common?: DevCtxPciCommonCfg;
  features?: bigint;
  vqCfg: Map<number, VirtioDevCtxPciVqCfg>;
  runtime: Map<number, VirtioDevCtxVqSplitRuntime>;
  owned: Map<number, VirtioDevCtxVqSplitDevDescs>;
  deviceCfg?: Uint8Array;
}

export function emptyPlan(): ContextPlan {
  return { vqCfg: new Map(), runtime: new Map(), owned: new Map() };
}

/**
 * Checks one written field against the device and adds it to the plan. Returns the reason it is
 * refused: a length that differs from the device's own (SD15), a value the device cannot take, a
 * second entry for one virtqueue, or a type it does not support (E34: the reference refuses it).
 */
export function addField(m: VirtioMember, plan: ContextPlan, f: VirtioDevCtxFieldTlv, wire: WireOptions): string | undefined {
  const name = devCtxTypeName(f.type);
  const len = f.value.length;
  const expectLength = (n: number) => (len === n ? undefined : `${name} length ${len} differs from the device's ${n}`);
  try {
    switch (f.type) {
      case DevCtxType.PCI_COMMON_CFG: {
        const bad = expectLength(wire.pciCommonCfgLength);
        if (bad) return bad;
        if (plan.common) return `${name} appears twice`;
        const c = decodePciCommonCfg(f.value);
        if (c.numQueues !== m.numQueues) return `${name} num_queues ${c.numQueues} differs from the device's ${m.numQueues}`;
        plan.common = c;
        return undefined;
      }
      case DevCtxType.DEV_FEATURES: {
        const bad = expectLength(FEATURE_WORDS * 8);
        if (bad) return bad;
        if (plan.features !== undefined) return `${name} appears twice`;
        const features = decodeDevFeatures(f.value);
        const extra = features & ~m.deviceFeatures;
        if (extra) return `${name} has bits the device does not offer (0x${extra.toString(16)})`;
        plan.features = features;
        return undefined;
      }
      case DevCtxType.PCI_VQ_CFG: {
        const bad = expectLength(pciVqCfgLength(wire));
        if (bad) return bad;
        const q = decodePciVqCfg(f.value);
        if (q.vqIndex >= m.numQueues) return `${name} vq_index ${q.vqIndex} beyond the device's ${m.numQueues} queues`;
        if (plan.vqCfg.has(q.vqIndex)) return `${name} for vq_index ${q.vqIndex} appears twice`;
        if (q.queueSize === 0 || q.queueSize > m.queueSizeMax || (q.queueSize & (q.queueSize - 1)) !== 0) {
          return `${name} queue_size ${q.queueSize} of vq ${q.vqIndex} is not a power of two up to ${m.queueSizeMax}`;
        }
        plan.vqCfg.set(q.vqIndex, q);
        return undefined;
      }
      case DevCtxType.VQ_SPLIT_RUNTIME_CFG: {
        const bad = expectLength(SPLIT_RUNTIME_SIZE);
        if (bad) return bad;
        const r = decodeVqSplitRuntime(f.value);
        if (r.vqIndex >= m.numQueues) return `${name} vq_index ${r.vqIndex} beyond the device's ${m.numQueues} queues`;
        if (plan.runtime.has(r.vqIndex)) return `${name} for vq_index ${r.vqIndex} appears twice`;
        if (r.enabled > 1) return `${name} enabled ${r.enabled} of vq ${r.vqIndex} is not 0 or 1`;
        plan.runtime.set(r.vqIndex, r);
        return undefined;
      }
      case DevCtxType.VQ_SPLIT_DEV_OWN_DESC: {
        const d = decodeVqSplitDevDescs(f.value);
        if (d.vqIndex >= m.numQueues) return `${name} vq_index ${d.vqIndex} beyond the device's ${m.numQueues} queues`;
        if (plan.owned.has(d.vqIndex)) return `${name} for vq_index ${d.vqIndex} appears twice`;
        if (d.descIdx.length > m.queueSizeMax || d.descIdx.some((i) => i >= m.queueSizeMax)) return `${name} of vq ${d.vqIndex} names descriptors outside the queue`;
        plan.owned.set(d.vqIndex, d);
        return undefined;
      }
      case DevCtxType.DEV_CFG: {
        const bad = expectLength(m.deviceConfigLength);
        if (bad) return bad;
        if (plan.deviceCfg) return `${name} appears twice`;
        plan.deviceCfg = f.value.slice();
        return undefined;
      }
      default:
        return `${name} is not a field type this device supports`;
    }
  } catch (e) {
    if (e instanceof DecodeError) return `${name}: ${e.detail}`;
    throw e;
  }
}

/** Cross-field checks once the whole context is in. */
export function checkPlan(m: VirtioMember, plan: ContextPlan): string | undefined {
  for (const [vq, d] of plan.owned) {
    const size = plan.vqCfg.get(vq)?.queueSize ?? m.queueSizeMax;
    if (d.descIdx.some((i) => i >= size)) return `VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC of vq ${vq} names descriptors beyond queue_size ${size}`;
  }
  if (plan.deviceCfg) {
    const bad = m.checkDeviceConfig(plan.deviceCfg);
    if (bad) return `VIRTIO_DEV_CTX_DEV_CFG: ${bad}`;
  }
  return undefined;
}

/** Restores the member from a checked plan (the written context "takes effect" on leaving Freeze). */
export function applyPlan(m: VirtioMember, plan: ContextPlan): void {
  if (plan.common) {
    const c = plan.common;
    m.deviceFeatureSelect = c.deviceFeatureSelect;
    m.driverFeatureSelect = c.driverFeatureSelect;
    m.configMsixVector = c.configMsixVector;
    m.deviceStatus = c.deviceStatus;
    m.queueSelect = c.queueSelect;
  }
  if (plan.features !== undefined) m.driverFeatures = plan.features;
  m.inFlight = [];
  m.pendingKicks.clear();
  m.resumeQueues.clear();
  for (const q of m.queues) {
    const cfg = plan.vqCfg.get(q.index);
    const rt = plan.runtime.get(q.index);
    if (!cfg && !rt) continue;
    q.reset();
    if (cfg) {
      q.size = cfg.queueSize;
      q.msixVector = cfg.queueMsixVector;
      q.desc = cfg.queueDesc;
      q.driver = cfg.queueDriver;
      q.device = cfg.queueDevice;
    }
    if (rt) {
      q.lastAvailIdx = rt.devAvailIdx;
      q.enabled = rt.enabled === 1;
    }
    if (q.enabled) m.resumeQueues.add(q.index);
  }
  for (const [queue, d] of plan.owned) for (const head of d.descIdx) m.inFlight.push({ queue, head });
  if (plan.deviceCfg) m.restoreDeviceConfig(plan.deviceCfg);
}
