import { CommonCfg, DeviceStatus, Feature, VIRTIO_MSI_NO_VECTOR } from '../../protocol/pci-common-cfg.ts';
import { isPowerOfTwo } from '../../protocol/split-ring.ts';
import { SplitVirtqueue } from '../virtqueue.ts';

type FieldName = keyof typeof CommonCfg;

/** A common-config field and, for the 64-bit queue addresses, which 32-bit half. */
export interface CommonCfgField {
  name: FieldName;
  high: boolean;
}

const FIELDS = new Map<number, { name: FieldName; width: number; high: boolean }>();
for (const [name, f] of Object.entries(CommonCfg) as [FieldName, { offset: number; size: number }][]) {
  if (f.size === 8) {
    FIELDS.set(f.offset, { name, width: 4, high: false });
    FIELDS.set(f.offset + 4, { name, width: 4, high: true });
  } else FIELDS.set(f.offset, { name, width: f.size, high: false });
}

/**
 * The field an access names, or undefined when the access is not one the transport defines: a field
 * read or written at its own offset and width, 64-bit fields as two aligned 32-bit halves (virtio 1.3
 * 4.1.3.1). Such undefined accesses read 0 and are ignored on write by both PCI models.
 */
export function commonCfgField(offset: number, width: number): CommonCfgField | undefined {
  const f = FIELDS.get(offset);
  return f && f.width === width ? { name: f.name, high: f.high } : undefined;
}

/** Where the owner's queues are and how large they may be; read live so conformance mutants of the PF carry over. */
export interface QueueLayout {
  numQueues(): number;
  adminQueueIndex(): number;
  adminQueueNum(): number;
  /** Largest size of a regular queue and of an admin queue (0: the queue is not available). */
  regularQueueMax: number;
  adminQueueMax: number;
}

/** What a common-config write asks of the function beyond storing a value. */
export type CommonCfgEffect = 'reset' | 'driver-ok' | 'queue-enabled' | undefined;

/**
 * The owner PF's struct virtio_pci_common_cfg: feature words by select, the status handshake
 * (FEATURES_OK refused for features not offered or without VERSION_1), and the per-queue registers of
 * its regular queue(s) and admin queue(s) at admin_queue_index..+admin_queue_num-1. Queue registers are
 * latched when the queue is enabled (later writes to its size and addresses are ignored). An MSI-X
 * vector the function does not have reads back as NO_VECTOR (the mapping failed).
 */
export class PfCommonCfg {
  deviceFeatureSelect = 0;
  driverFeatureSelect = 0;
  driverFeatures = 0n;
  configMsixVector = VIRTIO_MSI_NO_VECTOR;
  deviceStatus = 0;
  configGeneration = 0;
  queueSelect = 0;
  private readonly queues = new Map<number, SplitVirtqueue>();

  constructor(
    readonly deviceFeatures: bigint,
    readonly layout: QueueLayout,
    private readonly msixVectors: number,
  ) {}

  isAdminQueue(index: number): boolean {
    const first = this.layout.adminQueueIndex();
    return index >= first && index < first + this.layout.adminQueueNum();
  }

  /** Queue `index` if the function has it (a regular queue or an admin queue of non-zero size). */
  queue(index: number): SplitVirtqueue | undefined {
    const max = index < this.layout.numQueues() ? this.layout.regularQueueMax : this.isAdminQueue(index) ? this.layout.adminQueueMax : 0;
    if (max === 0 || index > 0xffff) return undefined;
    let q = this.queues.get(index);
    if (!q) this.queues.set(index, (q = new SplitVirtqueue(index, max)));
    return q;
  }

  /** Every queue a driver has touched. */
  knownQueues(): SplitVirtqueue[] {
    return [...this.queues.values()];
  }

  negotiated(bit: number): boolean {
    return ((this.driverFeatures >> BigInt(bit)) & 1n) === 1n;
  }

  /** Virtio reset: every register back to its reset value, queues included. */
  reset(): void {
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.driverFeatures = 0n;
    this.configMsixVector = VIRTIO_MSI_NO_VECTOR;
    this.deviceStatus = 0;
    this.queueSelect = 0;
    this.queues.clear();
  }

  private vector(v: number): number {
    return v < this.msixVectors ? v : VIRTIO_MSI_NO_VECTOR;
  }

  read(offset: number, width: number): number {
    const f = commonCfgField(offset, width);
    if (!f) return 0;
    const q = this.queue(this.queueSelect);
    const half = (v: bigint) => Number((f.high ? v >> 32n : v) & 0xffffffffn);
    const word = (v: bigint, select: number) => (select < 64 ? Number((v >> BigInt(32 * select)) & 0xffffffffn) : 0);
    switch (f.name) {
      case 'DEVICE_FEATURE_SELECT': return this.deviceFeatureSelect;
      case 'DEVICE_FEATURE': return word(this.deviceFeatures, this.deviceFeatureSelect);
      case 'DRIVER_FEATURE_SELECT': return this.driverFeatureSelect;
      case 'DRIVER_FEATURE': return word(this.driverFeatures, this.driverFeatureSelect);
      case 'CONFIG_MSIX_VECTOR': return this.configMsixVector;
      case 'NUM_QUEUES': return this.layout.numQueues() & 0xffff;
      case 'DEVICE_STATUS': return this.deviceStatus;
      case 'CONFIG_GENERATION': return this.configGeneration;
      case 'QUEUE_SELECT': return this.queueSelect;
      case 'QUEUE_SIZE': return q ? q.size : 0;
      case 'QUEUE_MSIX_VECTOR': return q ? q.msixVector : VIRTIO_MSI_NO_VECTOR;
      case 'QUEUE_ENABLE': return q?.enabled ? 1 : 0;
      case 'QUEUE_NOTIFY_OFF': return q ? q.index : 0;
      case 'QUEUE_DESC': return q ? half(q.desc) : 0;
      case 'QUEUE_DRIVER': return q ? half(q.driver) : 0;
      case 'QUEUE_DEVICE': return q ? half(q.device) : 0;
      case 'ADMIN_QUEUE_INDEX': return this.layout.adminQueueIndex() & 0xffff;
      case 'ADMIN_QUEUE_NUM': return this.layout.adminQueueNum() & 0xffff;
      default: return 0; // QUEUE_NOTIF_CONFIG_DATA, QUEUE_RESET: features not offered
    }
  }

  write(offset: number, width: number, value: number): CommonCfgEffect {
    const f = commonCfgField(offset, width);
    if (!f) return undefined;
    // Queue registers are latched once the queue is enabled: `open` is the selected queue while it is not.
    const q = this.queue(this.queueSelect);
    const open = q && !q.enabled ? q : undefined;
    const setHalf = (old: bigint) => (f.high ? (old & 0xffffffffn) | (BigInt(value >>> 0) << 32n) : (old & ~0xffffffffn) | BigInt(value >>> 0));
    switch (f.name) {
      case 'DEVICE_FEATURE_SELECT': this.deviceFeatureSelect = value >>> 0; break;
      case 'DRIVER_FEATURE_SELECT': this.driverFeatureSelect = value >>> 0; break;
      case 'DRIVER_FEATURE': {
        if (this.deviceStatus & DeviceStatus.FEATURES_OK || this.driverFeatureSelect >= 64) break;
        const shift = BigInt(32 * this.driverFeatureSelect);
        this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(value >>> 0) << shift);
        break;
      }
      case 'CONFIG_MSIX_VECTOR': this.configMsixVector = this.vector(value & 0xffff); break;
      case 'DEVICE_STATUS': return this.writeStatus(value & 0xff);
      case 'QUEUE_SELECT': this.queueSelect = value & 0xffff; break;
      case 'QUEUE_SIZE':
        // Split ring: a power of two no larger than the maximum; anything else leaves the size as it was.
        if (open && isPowerOfTwo(value & 0xffff) && (value & 0xffff) <= open.maxSize) open.size = value & 0xffff;
        break;
      case 'QUEUE_MSIX_VECTOR': if (q) q.msixVector = this.vector(value & 0xffff); break;
      case 'QUEUE_ENABLE':
        if (open && (value & 0xffff) === 1) {
          open.enabled = true;
          return 'queue-enabled';
        }
        break;
      case 'QUEUE_DESC': if (open) open.desc = setHalf(open.desc); break;
      case 'QUEUE_DRIVER': if (open) open.driver = setHalf(open.driver); break;
      case 'QUEUE_DEVICE': if (open) open.device = setHalf(open.device); break;
      default: break; // read-only fields
    }
    return undefined;
  }

  /** Status bits are only ever added (0 resets); FEATURES_OK stays clear for a feature set the device refuses. */
  private writeStatus(v: number): CommonCfgEffect {
    if (v === 0) return 'reset';
    const before = this.deviceStatus;
    let next = before | v;
    if (v & DeviceStatus.FEATURES_OK && !(before & DeviceStatus.FEATURES_OK)) {
      const offered = (this.driverFeatures & ~this.deviceFeatures) === 0n;
      if (!offered || !this.negotiated(Feature.VERSION_1)) next &= ~DeviceStatus.FEATURES_OK;
    }
    this.deviceStatus = next;
    return next & DeviceStatus.DRIVER_OK && !(before & DeviceStatus.DRIVER_OK) ? 'driver-ok' : undefined;
  }
}
