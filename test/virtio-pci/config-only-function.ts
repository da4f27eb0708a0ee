import type { PciBarInfo, PciFunction } from '../../protocol/pci-function.ts';
import { PCI_STATUS_CAP_LIST, PciCapId, PciCfg } from '../../protocol/pci.ts';

/**
 * A function that is nothing but a configuration space and a BAR list, for discovery tests that need
 * layouts no device model offers (reserved cfg_type, duplicates, long cap_len). BARs read 0.
 */
export class ConfigOnlyFunction implements PciFunction {
  readonly address = 'test/config-only';
  readonly configSize = 4096;
  readonly bytes = new Uint8Array(4096);
  private last = 0;

  constructor(readonly bars: PciBarInfo[] = [{ index: 0, size: 0x10000n, kind: 'memory', is64: true, prefetchable: false }]) {
    this.bytes[PciCfg.STATUS] = PCI_STATUS_CAP_LIST;
  }

  /** Appends a capability to the standard list at `at` with the given body (from byte 2 on). */
  cap(at: number, id: number, body: number[]): this {
    if (this.last === 0) this.bytes[PciCfg.CAPABILITY_LIST] = at;
    else this.bytes[this.last + 1] = at;
    this.bytes[at] = id;
    this.bytes[at + 1] = 0;
    this.bytes.set(body, at + 2);
    this.last = at;
    return this;
  }

  /** A virtio vendor capability (struct virtio_pci_cap, `extra` appended as le32 when given). */
  virtio(at: number, o: { cfgType: number; bar?: number; offset?: number; length?: number; capLen?: number; extra?: number }): this {
    const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    const len = o.capLen ?? (o.extra !== undefined ? 20 : 16);
    const body = [len, o.cfgType, o.bar ?? 0, 0, 0, 0, ...le32(o.offset ?? 0), ...le32(o.length ?? 0x100)];
    if (o.extra !== undefined) body.push(...le32(o.extra));
    this.cap(at, PciCapId.VENDOR, body);
    return this;
  }

  async configRead(offset: number, width: 1 | 2 | 4): Promise<number> {
    let v = 0;
    for (let i = 0; i < width; i++) v |= (this.bytes[offset + i] ?? 0xff) << (8 * i);
    return v >>> 0;
  }

  async configWrite(): Promise<void> {}
  async barRead(): Promise<number> {
    return 0;
  }
  async barRead64(): Promise<bigint> {
    return 0n;
  }
  async barWrite(): Promise<void> {}
  async barWrite64(): Promise<void> {}
  async reset(): Promise<void> {}
  async close(): Promise<void> {}
}
