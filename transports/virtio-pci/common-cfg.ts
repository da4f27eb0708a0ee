import { CommonCfg, DeviceStatus } from '../../protocol/pci-common-cfg.ts';
import type { BarWidth } from '../../protocol/pci-function.ts';
import { VirtioPciError } from './errors.ts';
import { pollUntil } from '../shared/poll.ts';
import type { RegionIo } from './region.ts';

export type CommonCfgField = (typeof CommonCfg)[keyof typeof CommonCfg];

/** Feature words read and written: 1.3 stops at bit 63, the 1.4 draft goes past it (virtio-pci.md 3). */
export const FEATURE_WORDS = 4;

/**
 * struct virtio_pci_common_cfg of one function, each field at its own width; 64-bit fields as two
 * 32-bit halves, low half first (the access rules of virtio 1.3 4.1.3.1).
 */
export class CommonConfig {
  constructor(readonly io: RegionIo) {}

  get fnName(): string {
    return this.io.fn.address;
  }

  read(f: CommonCfgField): Promise<number> {
    return this.io.read(f.offset, f.size as BarWidth);
  }

  write(f: CommonCfgField, value: number): Promise<void> {
    return this.io.write(f.offset, f.size as BarWidth, value);
  }

  async write64(f: CommonCfgField, value: bigint): Promise<void> {
    await this.io.write(f.offset, 4, Number(value & 0xffffffffn));
    await this.io.write(f.offset + 4, 4, Number((value >> 32n) & 0xffffffffn));
  }

  async read64(f: CommonCfgField): Promise<bigint> {
    const lo = await this.io.read(f.offset, 4);
    const hi = await this.io.read(f.offset + 4, 4);
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }

  /** Offered (`device`) or accepted (`driver`) features, through the select/value pair. */
  async features(which: 'device' | 'driver'): Promise<bigint> {
    const [select, value] = which === 'device' ? [CommonCfg.DEVICE_FEATURE_SELECT, CommonCfg.DEVICE_FEATURE] : [CommonCfg.DRIVER_FEATURE_SELECT, CommonCfg.DRIVER_FEATURE];
    let bits = 0n;
    for (let w = 0; w < FEATURE_WORDS; w++) {
      await this.write(select, w);
      bits |= BigInt((await this.read(value)) >>> 0) << BigInt(32 * w);
    }
    return bits;
  }

  async acceptFeatures(bits: bigint): Promise<void> {
    for (let w = 0; w < FEATURE_WORDS; w++) {
      await this.write(CommonCfg.DRIVER_FEATURE_SELECT, w);
      await this.write(CommonCfg.DRIVER_FEATURE, Number((bits >> BigInt(32 * w)) & 0xffffffffn));
    }
  }

  status(): Promise<number> {
    return this.read(CommonCfg.DEVICE_STATUS);
  }

  /** Sets status bits; the driver never clears one except by reset. */
  async addStatus(bits: number): Promise<void> {
    await this.write(CommonCfg.DEVICE_STATUS, (await this.status()) | bits);
  }

  /** Writes 0 to device_status and waits until it reads 0 (virtio 1.3 4.1.4.3.2), at most `timeoutMs`. */
  async reset(timeoutMs: number): Promise<void> {
    await this.write(CommonCfg.DEVICE_STATUS, 0);
    if (!(await pollUntil(async () => (await this.status()) === 0, timeoutMs))) {
      throw new VirtioPciError(this.fnName, `device_status did not read 0 within ${timeoutMs} ms of a reset (it reads 0x${(await this.status()).toString(16)})`);
    }
  }

  /** Gives up on the device (virtio 1.3 3.1.1: the driver SHOULD set FAILED when a step fails); never throws. */
  async fail(): Promise<void> {
    try {
      await this.addStatus(DeviceStatus.FAILED);
    } catch {
      // The device is already unreachable; the error that brought us here says so.
    }
  }
}
