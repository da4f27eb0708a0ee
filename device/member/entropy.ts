import { Feature, VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import type { RegisterWidth } from '../../protocol/member-port.ts';
import { modernDeviceId, PCI_VENDOR_ID_REDHAT_QUMRANET } from '../../protocol/pci.ts';
import { Rng } from '../../protocol/random.ts';
import type { DescChain } from '../virtqueue.ts';
import { type MemberInit, VirtioMember } from './virtio-member.ts';
import type { PciIdentity } from './pci-config.ts';

/**
 * Entropy device (virtio type 4): one request queue; the device fills every device-writable buffer
 * with bytes from its seeded generator. No device configuration.
 */
export class EntropyMember extends VirtioMember {
  readonly virtioType = VirtioDeviceType.ENTROPY;
  readonly deviceFeatures = 1n << BigInt(Feature.VERSION_1);
  readonly pciIdentity: PciIdentity;
  private rng: Rng;

  constructor(
    init: MemberInit,
    private readonly seed: number,
  ) {
    super(init);
    this.rng = new Rng(seed);
    this.pciIdentity = {
      vendorId: 0xffff, // a VF's own ID registers read all ones (PCIe); the IDs come from the PF.
      deviceId: 0xffff,
      revision: 1,
      classCode: 0x00ff00,
      subsystemVendorId: PCI_VENDOR_ID_REDHAT_QUMRANET,
      subsystemId: 0x0040 + VirtioDeviceType.ENTROPY,
    };
    void modernDeviceId;
  }

  deviceConfigBytes(): Uint8Array {
    return new Uint8Array(0);
  }

  protected deviceConfigWrite(_offset: number, _width: RegisterWidth, _value: number): void {}

  checkDeviceConfig(bytes: Uint8Array): string | undefined {
    return bytes.length === 0 ? undefined : 'the entropy device has no configuration';
  }

  restoreDeviceConfig(_bytes: Uint8Array): void {}

  protected async startRequest(_queue: number, _chain: DescChain): Promise<unknown> {
    return undefined;
  }

  protected async completeRequest(_queue: number, chain: DescChain): Promise<number> {
    let written = 0;
    for (const b of chain.writable) {
      await this.dma.write(b.addr, this.rng.fill(new Uint8Array(b.len)));
      written += b.len;
    }
    return written;
  }

  protected resetDeviceType(): void {
    this.rng = new Rng(this.seed);
  }
}
