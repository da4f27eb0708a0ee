import { CommonCfg, DeviceStatus, VIRTIO_MSI_NO_VECTOR, VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import type { PciBarInfo } from '../../protocol/pci-function.ts';
import { PCI_VENDOR_ID_REDHAT_QUMRANET, PciCfg, PowerState, SRIOV_CTRL_MSE, SriovReg } from '../../protocol/pci.ts';
import { BlkConfig } from '../../protocol/virtio-blk.ts';
import { type DmaBackend, MemberDma } from '../dma.ts';
import { Bar0 } from '../member/layout.ts';
import { PF_SRIOV_CAP } from '../owner/pf-function.ts';
import type { ReferenceDevice } from '../reference-device.ts';
import type { SplitVirtqueue } from '../virtqueue.ts';
import { AdminQueueEngine } from './admin-queue-engine.ts';
import type { BarDef } from './bar.ts';
import { PfCommonCfg } from './common-cfg.ts';
import { MsixTable } from './msix.ts';
import { PfConfigSpace } from './pf-config-space.ts';
import { allOnes, decodable, type PciModelFunction } from './pci-model.ts';
import type { DeviceScheduler } from './scheduler.ts';

/**
 * The PF's BARs: BAR0 (64-bit memory) holds the virtio structures at the member's offsets
 * (device/member/layout.ts Bar0: common 0x0, ISR 0x1000, device 0x2000, notify 0x10000 with a
 * multiplier of 4); BAR2 (32-bit memory) holds the MSI-X table at 0 and the PBA at 0x1000.
 */
export const PfBar = {
  VIRTIO: 0,
  VIRTIO_SIZE: BigInt(Bar0.SIZE),
  MSIX: 2,
  MSIX_SIZE: 0x2000n,
  MSIX_TABLE: 0x0,
  MSIX_PBA: 0x1000,
} as const;

/** MSI-X vectors of the PF: configuration changes, its request queue, its admin queue, one spare. */
export const PF_MSIX_VECTORS = 4;
/** Largest size of the PF's admin queue(s) and of its own request queue. */
export const PF_ADMIN_QUEUE_MAX = 64;
export const PF_REGULAR_QUEUE_MAX = 256;

export interface PfModelInit {
  device: ReferenceDevice;
  /** The PF's bus-master port into the memory its driver gave it. */
  dma: DmaBackend;
  scheduler: DeviceScheduler;
  /** An interrupt message the PF sends: an MSI-X vector, or an INTx assertion. */
  interrupt(vector: number | 'intx'): void;
  /** VF Enable changed (the VFs were released, or instantiated). */
  onVfEnableChange?(enabled: boolean): void;
}

/** FNV-1a over the serial string: a stable 64-bit Device Serial Number for the model. */
function serialNumber(serial: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const c of new TextEncoder().encode(serial)) h = BigInt.asUintN(64, (h ^ BigInt(c)) * 0x100000001b3n);
  return h;
}

/**
 * The owner PF of the reference device at register level. Configuration space as PfConfigSpace
 * describes; BAR0 with virtio_pci_common_cfg (PfCommonCfg), the notify area, the ISR byte (read
 * clears, INTx follows it) and a device-specific configuration (a block PF has no disk of its own:
 * its virtio_blk_config reads 0); BAR2 with the MSI-X table and PBA. Admin queue notifications feed the
 * AdminQueueEngine; the PF's own request queue can be configured but is never serviced.
 *
 * Accesses the function does not decode: a read of a BAR that is not implemented, with Memory Space
 * disabled, in D3hot or during an FLR, or outside the BAR, or an access that is not 1, 2 or 4 bytes
 * naturally aligned, reads all ones; the same writes are dropped. Inside BAR0, bytes no structure
 * covers, common-config accesses at the wrong width or offset (commonCfgField) and ISR reads wider
 * than a byte read 0. Configuration reads during an FLR read all ones.
 *
 * Device reset (0 written to device_status) is work like any other: the status keeps its value until
 * the reset is done, after the device latency; FLR takes the reference device's flrMs.
 */
export class PfPciModel implements PciModelFunction {
  readonly configSize = 4096;
  readonly config: PfConfigSpace;
  readonly common: PfCommonCfg;
  readonly msix: MsixTable;
  readonly engine: AdminQueueEngine;
  readonly dma: MemberDma;
  readonly deviceCfg: Uint8Array;
  /** Why the device last set DEVICE_NEEDS_RESET (diagnostics). */
  lastError: string | undefined;
  private isr = 0;
  private resetting = false;
  private flrRunning: Promise<void> | undefined;
  private change = deferred();

  constructor(private readonly init: PfModelInit) {
    const { device } = init;
    const deviceId = device.pf.configRead(PciCfg.DEVICE_ID, 2);
    const virtioType = deviceId - 0x1040;
    this.deviceCfg = new Uint8Array(virtioType === VirtioDeviceType.BLOCK ? BlkConfig.SIZE : 0);
    const bars: BarDef[] = [
      { index: PfBar.VIRTIO, size: PfBar.VIRTIO_SIZE, is64: true, prefetchable: false },
      { index: PfBar.MSIX, size: PfBar.MSIX_SIZE, is64: false, prefetchable: false },
    ];
    this.config = new PfConfigSpace({
      identity: {
        vendorId: PCI_VENDOR_ID_REDHAT_QUMRANET,
        deviceId,
        revision: 1,
        classCode: virtioType === VirtioDeviceType.BLOCK ? 0x018000 : 0x00ff00,
        subsystemVendorId: PCI_VENDOR_ID_REDHAT_QUMRANET,
        subsystemId: 0x40 + virtioType,
      },
      deviceCfgLength: this.deviceCfg.length,
      msixVectors: PF_MSIX_VECTORS,
      msix: { bar: PfBar.MSIX, table: PfBar.MSIX_TABLE, pba: PfBar.MSIX_PBA },
      bars,
      vfBars: [{ index: 0, size: BigInt(Bar0.SIZE), is64: true, prefetchable: false }],
      sriov: device.pf,
      serialNumber: serialNumber(device.options.serial),
      intxAsserted: () => this.isr !== 0,
    });
    this.common = new PfCommonCfg(
      device.pf.features,
      {
        // Read through the reference PF's common config so conformance mutants of it carry over.
        numQueues: () => device.pf.commonCfgRead(CommonCfg.NUM_QUEUES.offset, 2),
        adminQueueIndex: () => device.pf.commonCfgRead(CommonCfg.ADMIN_QUEUE_INDEX.offset, 2),
        adminQueueNum: () => device.pf.commonCfgRead(CommonCfg.ADMIN_QUEUE_NUM.offset, 2),
        regularQueueMax: PF_REGULAR_QUEUE_MAX,
        adminQueueMax: PF_ADMIN_QUEUE_MAX,
      },
      PF_MSIX_VECTORS,
    );
    this.msix = new MsixTable(PF_MSIX_VECTORS, () => ({ enabled: this.config.msixEnabled, functionMask: this.config.msixFunctionMask }), (v) => init.interrupt(v));
    this.dma = new MemberDma(init.dma, () => undefined, () => undefined);
    this.engine = new AdminQueueEngine({
      dma: this.dma,
      scheduler: init.scheduler,
      canDma: () => this.canDma(),
      changed: () => this.change.promise,
      submit: (r, w) => device.submit(r, w),
      usedBufferNotification: (q) => this.usedBufferNotification(q),
      needsReset: (reason) => this.needsReset(reason),
    });
  }

  bars(): PciBarInfo[] {
    return this.config.bars.info();
  }

  /** Whether VF `memberId` exists: VF Enable set and the VF within NumVFs. */
  vfPresent(memberId: number): boolean {
    return this.init.device.pf.vfEnabled && memberId >= 1 && memberId <= this.init.device.pf.numVfs;
  }

  get vfMemorySpace(): boolean {
    return (this.init.device.pf.configRead(PF_SRIOV_CAP + SriovReg.CTRL, 2) & SRIOV_CTRL_MSE) !== 0;
  }

  canDma(): boolean {
    return (
      !this.flrRunning &&
      !this.resetting &&
      this.config.busMaster &&
      this.config.powerState === PowerState.D0 &&
      (this.common.deviceStatus & DeviceStatus.DRIVER_OK) !== 0 &&
      (this.common.deviceStatus & DeviceStatus.DEVICE_NEEDS_RESET) === 0
    );
  }

  /** Wakes whatever waits for the function's state to change (the engine waiting to master the bus). */
  private changed(): void {
    const d = this.change;
    this.change = deferred();
    d.resolve();
  }

  // ---- configuration space -------------------------------------------------------------------------

  configRead(offset: number, width: number): number {
    if (this.flrRunning || !decodable(offset, width, this.configSize)) return allOnes(width);
    return this.config.read(offset, width as 1 | 2 | 4, (bar, off, len) => (this.windowDecodes(bar, off, len) ? this.registerRead(bar, off, len) : allOnes(len)));
  }

  configWrite(offset: number, width: number, value: number): void {
    if (this.flrRunning || !decodable(offset, width, this.configSize)) return;
    const vfWas = this.init.device.pf.vfEnabled;
    const effects = this.config.write(offset, width as 1 | 2 | 4, value >>> 0);
    for (const e of effects) {
      if (e.kind === 'flr') this.startFlr();
      else if (e.kind === 'pci-cfg-window' && e.op === 'write' && this.windowDecodes(e.bar, e.offset, e.length)) this.registerWrite(e.bar, e.offset, e.length, e.value ?? 0);
    }
    this.vfEnableCheck(vfWas);
    this.msix.deliverUnmasked();
    this.changed();
  }

  private vfEnableCheck(was: boolean): void {
    const now = this.init.device.pf.vfEnabled;
    if (now !== was) this.init.onVfEnableChange?.(now);
  }

  // ---- BARs ----------------------------------------------------------------------------------------

  private barDecodes(bar: number, offset: number, width: number): boolean {
    if (this.flrRunning || !this.config.memorySpace || this.config.powerState !== PowerState.D0) return false;
    const b = this.config.bars.info().find((x) => x.index === bar);
    return b !== undefined && decodable(offset, width, b.size);
  }

  barRead(bar: number, offset: number, width: number): number {
    return this.barDecodes(bar, offset, width) ? this.registerRead(bar, offset, width) : allOnes(width);
  }

  barWrite(bar: number, offset: number, width: number, value: number): void {
    if (this.barDecodes(bar, offset, width)) this.registerWrite(bar, offset, width, value);
  }

  /**
   * The PCI_CFG window reaches the BAR's registers from inside the function: Memory Space and the
   * power state do not gate it (the bus does not carry it), an FLR and an undecodable access do.
   */
  private windowDecodes(bar: number, offset: number, width: number): boolean {
    const b = this.config.bars.info().find((x) => x.index === bar);
    return !this.flrRunning && b !== undefined && decodable(offset, width, b.size);
  }

  private registerRead(bar: number, offset: number, width: number): number {
    if (bar === PfBar.MSIX) {
      if (offset >= PfBar.MSIX_TABLE && offset < PfBar.MSIX_TABLE + this.msix.tableBytes) return this.msix.tableRead(offset - PfBar.MSIX_TABLE, width);
      if (offset >= PfBar.MSIX_PBA && offset < PfBar.MSIX_PBA + this.msix.pbaBytes) return this.msix.pbaRead(offset - PfBar.MSIX_PBA, width);
      return 0;
    }
    if (offset < Bar0.COMMON + 64) return this.common.read(offset - Bar0.COMMON, width);
    if (offset === Bar0.ISR) return width === 1 ? this.readIsr() : 0;
    if (offset >= Bar0.DEVICE && offset + width <= Bar0.DEVICE + this.deviceCfg.length) {
      let v = 0;
      for (let i = 0; i < width; i++) v |= this.deviceCfg[offset - Bar0.DEVICE + i] << (8 * i);
      return v >>> 0;
    }
    return 0;
  }

  private registerWrite(bar: number, offset: number, width: number, value: number): void {
    if (bar === PfBar.MSIX) {
      if (offset >= PfBar.MSIX_TABLE && offset < PfBar.MSIX_TABLE + this.msix.tableBytes) this.msix.tableWrite(offset - PfBar.MSIX_TABLE, width, value);
      return;
    }
    if (offset < Bar0.COMMON + 64) return this.commonWrite(offset - Bar0.COMMON, width, value);
    if (offset >= Bar0.NOTIFY) return this.notifyWrite(offset - Bar0.NOTIFY, width);
    // ISR and the block PF's device config are read-only.
  }

  private commonWrite(offset: number, width: number, value: number): void {
    if (this.resetting) return; // the driver waits for status 0 before touching anything
    const effect = this.common.write(offset, width, value);
    if (effect === 'reset') this.startReset();
    this.changed();
  }

  /** Queue notify: the address names the queue (queue_notify_off x multiplier); a 16-bit write. */
  private notifyWrite(offset: number, width: number): void {
    if (width !== 2 || offset % Bar0.NOTIFY_MULTIPLIER !== 0) return;
    const index = offset / Bar0.NOTIFY_MULTIPLIER;
    const q = this.common.queue(index);
    // The device MUST NOT consume buffers before DRIVER_OK: an early notification is dropped.
    if (!q || this.resetting || !this.common.isAdminQueue(index) || !(this.common.deviceStatus & DeviceStatus.DRIVER_OK)) return;
    this.engine.notify(q);
  }

  private readIsr(): number {
    const v = this.isr;
    this.isr = 0;
    return v;
  }

  // ---- notifications ---------------------------------------------------------------------------------

  /** ISR bit `bit` set, then the MSI-X vector (NO_VECTOR: none) or, with MSI-X disabled, INTx. */
  private notifyDriver(bit: number, vector: number): void {
    const wasAsserted = this.isr !== 0;
    this.isr |= bit;
    if (this.config.msixEnabled) {
      if (vector !== VIRTIO_MSI_NO_VECTOR) this.msix.signal(vector);
    } else if (!wasAsserted && !this.config.intxDisabled) this.init.interrupt('intx');
  }

  private usedBufferNotification(q: SplitVirtqueue): void {
    this.notifyDriver(1, q.msixVector);
  }

  /** DEVICE_NEEDS_RESET, with a configuration change notification once the driver is live (virtio 1.3 2.1.2). */
  needsReset(reason: string): void {
    this.lastError = reason;
    const live = (this.common.deviceStatus & DeviceStatus.DRIVER_OK) !== 0;
    this.common.deviceStatus |= DeviceStatus.DEVICE_NEEDS_RESET;
    this.common.configGeneration = (this.common.configGeneration + 1) & 0xff;
    if (live) this.notifyDriver(2, this.common.configMsixVector);
    this.changed();
  }

  // ---- resets ----------------------------------------------------------------------------------------

  /** Stops the admin queues at once (no DMA after this) and forgets commands in the reference device. */
  private quiesce(): void {
    this.engine.reset();
    this.init.device.abandonQueue();
  }

  /**
   * Virtio device reset (owner reset: the in-use list goes back to LIST_QUERY and LIST_USE, GD8). It
   * completes after the device latency, except from a status of 0, where reading 0 must already mean done.
   */
  private startReset(): void {
    this.resetting = true;
    this.quiesce();
    const finish = () => {
      this.common.reset();
      this.isr = 0;
      this.lastError = undefined;
      this.init.device.resetOwner();
      this.resetting = false;
      this.changed();
    };
    if (this.common.deviceStatus === 0) finish();
    else this.init.scheduler.after(finish);
  }

  /**
   * PCIe Function Level Reset of the PF: configuration registers (Command, BARs, MSI-X, PM, SR-IOV:
   * VF Enable clear, so the VFs and the group cease to exist) and the virtio state go back to reset
   * values. Configuration reads return all ones until it completes.
   */
  private startFlr(): void {
    if (this.flrRunning) return;
    this.quiesce();
    const vfWas = this.init.device.pf.vfEnabled;
    const run = (async () => {
      await this.init.scheduler.sleep(this.init.device.options.timings.flrMs);
      this.config.resetFunction();
      this.common.reset();
      this.msix.reset();
      this.isr = 0;
      this.resetting = false;
      this.lastError = undefined;
      this.init.device.resetOwner();
    })();
    this.flrRunning = run.finally(() => {
      this.flrRunning = undefined;
      this.vfEnableCheck(vfWas);
      this.changed();
    });
    this.changed();
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
