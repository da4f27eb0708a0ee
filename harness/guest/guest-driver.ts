import type { GuestMemory } from '../../protocol/guest-memory.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { CommonCfg, DeviceStatus, Feature, VIRTIO_MSI_NO_VECTOR } from '../../protocol/pci-common-cfg.ts';
import { PCI_COMMAND_MASTER, PciCapId, PciCfg } from '../../protocol/pci.ts';
import { configReaderOf, findCapability } from '../../protocol/pci-capabilities.ts';
import { waitForDevice } from '../wait.ts';
import { GuestArena } from './guest-arena.ts';
import { type Completion, type GuestBuffer, GuestQueue, type PostedRequest } from './guest-queue.ts';

export interface GuestDriverInit {
  /** Device-type features to accept on top of VERSION_1 (only those offered are taken). */
  features?: bigint;
  /** How many request queues to set up (from queue 0). Default 1. */
  queues?: number;
  /** Queue size to program (a power of two no larger than the device offers). Default: the device's. */
  queueSize?: number;
  /** Give each queue MSI-X vector q+1 and config vector 0 (and enable MSI-X). Default true. */
  msix?: boolean;
}

/** The member device failed initialization (refused features, no queues, ...). */
export class GuestInitError extends Error {
  override name = 'GuestInitError';
}

/**
 * The member's guest virtio driver, written once against MemberPort (virtio 1.3 init sequence: reset,
 * ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues, DRIVER_OK). Its state is plain data, so after
 * migration it is rebound to the destination member and continues.
 */
export class GuestDriver {
  port: MemberPort;
  arena!: GuestArena;
  queues: GuestQueue[] = [];
  features = 0n;
  private msix = true;

  constructor(port: MemberPort) {
    this.port = port;
  }

  get memory(): GuestMemory {
    return this.port.memory;
  }

  async readFeatures(): Promise<bigint> {
    return readFeatureBits(this.port, 'device');
  }

  /** Writes 0 to device_status and waits until it reads back 0 (the driver-side end of a reset). */
  async reset(timeoutMs = this.port.timing.resetMs): Promise<void> {
    await this.port.commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, 0);
    if (!(await waitForReset(this.port, timeoutMs))) throw new GuestInitError(`device_status did not read 0 within ${timeoutMs} ms of a reset`);
  }

  async status(): Promise<number> {
    return this.port.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
  }

  private async setStatus(bits: number): Promise<void> {
    const cur = await this.status();
    await this.port.commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, cur | bits);
  }

  async init(o: GuestDriverInit = {}): Promise<this> {
    const p = this.port;
    await this.enableBusMaster();
    await this.reset();
    await this.setStatus(DeviceStatus.ACKNOWLEDGE);
    await this.setStatus(DeviceStatus.DRIVER);
    const offered = await this.readFeatures();
    if (!((offered >> BigInt(Feature.VERSION_1)) & 1n)) throw new GuestInitError('the device does not offer VIRTIO_F_VERSION_1');
    this.features = ((1n << BigInt(Feature.VERSION_1)) | (o.features ?? 0n)) & offered;
    for (let w = 0; w < 4; w++) {
      await p.commonCfgWrite(CommonCfg.DRIVER_FEATURE_SELECT.offset, 4, w);
      await p.commonCfgWrite(CommonCfg.DRIVER_FEATURE.offset, 4, Number((this.features >> BigInt(32 * w)) & 0xffffffffn));
    }
    await this.setStatus(DeviceStatus.FEATURES_OK);
    if (!((await this.status()) & DeviceStatus.FEATURES_OK)) throw new GuestInitError('the device refused the feature set (FEATURES_OK did not stick)');
    const numQueues = await p.commonCfgRead(CommonCfg.NUM_QUEUES.offset, 2);
    const want = o.queues ?? 1;
    if (numQueues < want) throw new GuestInitError(`the device has ${numQueues} queues, ${want} needed`);
    this.arena = new GuestArena(this.memory);
    const msix = o.msix ?? true;
    this.msix = msix;
    if (msix) await this.enableMsix();
    await p.commonCfgWrite(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2, msix ? 0 : VIRTIO_MSI_NO_VECTOR);
    this.queues = [];
    for (let q = 0; q < want; q++) {
      await p.commonCfgWrite(CommonCfg.QUEUE_SELECT.offset, 2, q);
      const max = await p.commonCfgRead(CommonCfg.QUEUE_SIZE.offset, 2);
      if (max === 0) throw new GuestInitError(`queue ${q} is not available (queue_size 0)`);
      const size = Math.min(o.queueSize ?? max, max);
      await p.commonCfgWrite(CommonCfg.QUEUE_SIZE.offset, 2, size);
      const gq = new GuestQueue(q, size, this.arena);
      await writeAddr(p, CommonCfg.QUEUE_DESC.offset, gq.desc);
      await writeAddr(p, CommonCfg.QUEUE_DRIVER.offset, gq.driver);
      await writeAddr(p, CommonCfg.QUEUE_DEVICE.offset, gq.device);
      await p.commonCfgWrite(CommonCfg.QUEUE_MSIX_VECTOR.offset, 2, msix ? q + 1 : VIRTIO_MSI_NO_VECTOR);
      await p.commonCfgWrite(CommonCfg.QUEUE_ENABLE.offset, 2, 1);
      this.queues.push(gq);
    }
    await this.setStatus(DeviceStatus.DRIVER_OK);
    return this;
  }

  async enableBusMaster(): Promise<void> {
    const cmd = await this.port.pciConfigRead(PciCfg.COMMAND, 2);
    await this.port.pciConfigWrite(PciCfg.COMMAND, 2, cmd | PCI_COMMAND_MASTER);
  }

  async enableMsix(): Promise<void> {
    const at = await findCapability(configReaderOf(this.port), PciCapId.MSIX);
    if (at === undefined) return;
    const ctl = await this.port.pciConfigRead(at + 2, 2);
    await this.port.pciConfigWrite(at + 2, 2, ctl | 0x8000);
  }

  /** Makes a request available on a queue (no kick). */
  post(queue: number, buffers: GuestBuffer[], tag = 0): PostedRequest {
    return this.queues[queue].post(this.memory, this.arena, buffers, tag);
  }

  async kick(queue: number): Promise<void> {
    await this.port.notify(queue);
  }

  /** Completions already in the used ring, with device-written data read back; buffers are recycled. */
  reap(queue: number): (Completion & { data: Uint8Array[] })[] {
    return this.queues[queue].reap(this.memory).map((c) => {
      const data = c.request.buffers.filter((b) => b.writable).map((b) => this.memory.read(b.addr, b.len));
      for (const b of c.request.buffers) this.arena.release(b.addr, Math.max(b.len, 1));
      return { ...c, data };
    });
  }

  /** Collects completions until `count` have arrived or the time is up (default: the completion time the transport declares). */
  async poll(queue: number, count: number, timeoutMs = this.port.timing.completionMs): Promise<(Completion & { data: Uint8Array[] })[]> {
    const out: (Completion & { data: Uint8Array[] })[] = [];
    await waitForDevice(
      this.port,
      () => {
        out.push(...this.reap(queue));
        return out.length >= count;
      },
      timeoutMs,
    );
    return out;
  }

  /**
   * After migration: drive the destination member with the same rings and buffers. PCI configuration
   * space is not part of the device context (patch 3/8 "Assumptions"): the hypervisor restores it,
   * so the guest's bus mastering and MSI-X enable are set on the destination here.
   */
  async rebind(port: MemberPort): Promise<void> {
    this.port = port;
    await this.enableBusMaster();
    if (this.msix) await this.enableMsix();
  }
}

/**
 * The offered (`device`) or accepted (`driver`) feature bits, `words` 32-bit words from select 0,
 * read through the select/value register pair of struct virtio_pci_common_cfg.
 */
export async function readFeatureBits(port: MemberPort, which: 'device' | 'driver', words = 4): Promise<bigint> {
  const [select, value] = which === 'device' ? [CommonCfg.DEVICE_FEATURE_SELECT, CommonCfg.DEVICE_FEATURE] : [CommonCfg.DRIVER_FEATURE_SELECT, CommonCfg.DRIVER_FEATURE];
  let f = 0n;
  for (let w = 0; w < words; w++) {
    await port.commonCfgWrite(select.offset, 4, w);
    f |= BigInt(await port.commonCfgRead(value.offset, 4)) << BigInt(32 * w);
  }
  return f;
}

/** Waits until device_status reads 0 (a reset is complete, virtio 1.3 4.1.4.3.1); false when it does not within `timeoutMs`. */
export function waitForReset(port: MemberPort, timeoutMs = port.timing.resetMs): Promise<boolean> {
  return waitForDevice(port, async () => (await port.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1)) === 0, timeoutMs);
}

async function writeAddr(p: MemberPort, offset: number, v: bigint): Promise<void> {
  await p.commonCfgWrite(offset, 4, Number(v & 0xffffffffn));
  await p.commonCfgWrite(offset + 4, 4, Number(v >> 32n));
}

/** Copies the guest's memory from one member to another, as a hypervisor does when it migrates a VM. */
export function copyGuestMemory(from: GuestMemory, to: GuestMemory, pages: bigint[], pageSize = 4096): void {
  for (const p of pages) to.write(p, from.read(p, pageSize));
}
