import { DeviceStatus } from '../../protocol/pci-common-cfg.ts';
import type { CommonConfig } from './common-cfg.ts';
import { VirtioPciError } from './errors.ts';

export interface HandshakeSteps {
  /** The accepted subset of the offered features (throws to refuse the device). */
  accept(offered: bigint): bigint;
  /** Device-specific setup between FEATURES_OK and DRIVER_OK (queues). */
  setup(accepted: bigint): Promise<void>;
}

/**
 * Device initialization (virtio 1.3 3.1.1): reset and wait for device_status to read 0, ACKNOWLEDGE,
 * DRIVER, features, FEATURES_OK read back, setup, DRIVER_OK. A failed step sets FAILED and throws.
 * Returns the accepted features.
 */
export async function statusHandshake(common: CommonConfig, resetMs: number, steps: HandshakeSteps): Promise<bigint> {
  await common.reset(resetMs);
  try {
    await common.addStatus(DeviceStatus.ACKNOWLEDGE);
    await common.addStatus(DeviceStatus.DRIVER);
    const offered = await common.features('device');
    const accepted = steps.accept(offered);
    await common.acceptFeatures(accepted);
    await common.addStatus(DeviceStatus.FEATURES_OK);
    const status = await common.status();
    if (!(status & DeviceStatus.FEATURES_OK)) {
      throw new VirtioPciError(common.fnName, `the device refused the feature set 0x${accepted.toString(16)} (FEATURES_OK did not stay set; device_status reads 0x${status.toString(16)})`);
    }
    await steps.setup(accepted);
    await common.addStatus(DeviceStatus.DRIVER_OK);
    const after = await common.status();
    if (after & DeviceStatus.DEVICE_NEEDS_RESET) throw new VirtioPciError(common.fnName, `the device set DEVICE_NEEDS_RESET during initialization (device_status 0x${after.toString(16)})`);
    return accepted;
  } catch (e) {
    await common.fail();
    throw e;
  }
}
