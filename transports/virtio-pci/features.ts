import { Feature } from '../../protocol/pci-common-cfg.ts';
import { PCI_EXT_CAP_ID_SRIOV } from '../../protocol/pci.ts';
import { commonCfgHoldsAdminQueue, type VirtioPciLayout } from './capabilities.ts';
import { VirtioPciError } from './errors.ts';

export function bit(n: number): bigint {
  return 1n << BigInt(n);
}

export function has(bits: bigint, n: number): boolean {
  return ((bits >> BigInt(n)) & 1n) === 1n;
}

/**
 * Transport features this driver implements when the device offers them. The admin queue is a plain
 * split ring without indirect descriptors, event index, in-order or notification data, so those are
 * not accepted. ACCESS_PLATFORM and ORDER_PLATFORM only say the device goes through the platform's
 * IOMMU and barriers, which every DmaSpace address does.
 */
const OPTIONAL = [Feature.RING_RESET, Feature.ACCESS_PLATFORM, Feature.ORDER_PLATFORM];

/**
 * The feature set the suite accepts as owner driver: VERSION_1 and ADMIN_VQ (both required: without
 * them there is no admin queue to send the draft's commands on), SR_IOV when the function has the
 * SR-IOV capability (virtio 1.3 6.1: negotiated before VFs are enabled, never without the
 * capability), and the optional transport features above.
 */
export function ownerFeatures(fn: string, offered: bigint, layout: VirtioPciLayout): bigint {
  if (!has(offered, Feature.VERSION_1)) throw new VirtioPciError(fn, `the device does not offer VIRTIO_F_VERSION_1 (bit 32): it is not a modern virtio device (offered 0x${offered.toString(16)})`);
  if (!has(offered, Feature.ADMIN_VQ)) {
    throw new VirtioPciError(fn, `the device does not offer VIRTIO_F_ADMIN_VQ (bit 41): it has no administration virtqueue, so the device-migration commands cannot be sent (offered 0x${offered.toString(16)})`);
  }
  if (!commonCfgHoldsAdminQueue(layout)) {
    throw new VirtioPciError(fn, `VIRTIO_F_ADMIN_VQ is offered but the common configuration capability is ${layout.common.length} bytes, too short to hold admin_queue_num (64)`);
  }
  let accept = bit(Feature.VERSION_1) | bit(Feature.ADMIN_VQ);
  if (has(offered, Feature.SR_IOV) && layout.extended.has(PCI_EXT_CAP_ID_SRIOV)) accept |= bit(Feature.SR_IOV);
  for (const f of OPTIONAL) if (has(offered, f)) accept |= bit(f);
  return accept;
}
