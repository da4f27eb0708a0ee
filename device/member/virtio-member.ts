import { DeviceMode } from '../../protocol/commands.ts';
import { CommonCfg, DeviceStatus, Feature, VIRTIO_MSI_NO_VECTOR } from '../../protocol/pci-common-cfg.ts';
import type { RegisterWidth } from '../../protocol/member-port.ts';
import { PowerState } from '../../protocol/pci.ts';
import { AsyncLock } from '../async-lock.ts';
import { DeviceInvariantError, MemberDma, type DmaBackend } from '../dma.ts';
import type { EventClock } from '../event-clock.ts';
import { ContextReadStream } from '../migration/read-stream.ts';
import { WriteRecorder } from '../migration/write-recorder.ts';
import type { ContextWriteStream } from '../migration/write-stream.ts';
import { BadChainError, type DescChain, SplitVirtqueue } from '../virtqueue.ts';
import { WorkScheduler } from '../work-scheduler.ts';
import { Bar0 } from './layout.ts';
import { type ConfigSideEffect, type PciIdentity, VfConfigSpace } from './pci-config.ts';

/**
 * How long the member takes, in milliseconds; 0 is "at the next turn of the event loop", which keeps a
 * run free of wall-clock dependence (commands arriving during a long operation wait for it, SD14c-e).
 */
export interface MemberTimings {
  flrMs: number;
  resetMs: number;
  pmMs: number;
  /** From taking a request to completing it. */
  requestMs: number;
}

export interface MemberHooks {
  /** An MSI-X message (vector number) or, with no vector assigned, an INTx assertion. */
  interrupt(memberId: number, vector: number | 'intx'): void;
  pme(memberId: number): void;
}

export interface MemberInit {
  id: number;
  numQueues: number;
  queueSizeMax: number;
  timings: MemberTimings;
  dma: DmaBackend;
  hooks: MemberHooks;
  clock: EventClock;
}

/** A request the device has taken from the available ring and not yet returned (a device-owned descriptor). */
export interface InFlight {
  queue: number;
  head: number;
  /** Undefined until the device has read the chain (after a context restore, the chain is re-read on resume). */
  chain?: DescChain;
  /** Device-type state of the request (parsed header etc.). */
  request?: unknown;
}

/**
 * One member device (SR-IOV VF) of the reference device: a modern virtio-pci function with split
 * virtqueues, plus its migration state as the draft defines it (mode, context read and write streams,
 * write recording). Device types extend it with their configuration and request processing.
 */
export abstract class VirtioMember {
  abstract readonly virtioType: number;
  abstract readonly pciIdentity: PciIdentity;
  /** Features the device offers (VERSION_1 plus device-type features). */
  abstract readonly deviceFeatures: bigint;

  readonly id: number;
  readonly numQueues: number;
  readonly queueSizeMax: number;
  readonly queues: SplitVirtqueue[];
  readonly timings: MemberTimings;
  readonly hooks: MemberHooks;
  readonly clock: EventClock;
  readonly dma: MemberDma;
  readonly lock = new AsyncLock();
  /** What the member does on its own: taking and completing requests, the end of long operations. */
  readonly work = new WorkScheduler();
  /** A stalled backend (the holdRequests stimulus): requests are taken but none is completed. */
  holding = false;
  private workQueued = false;
  /** FLRs and D3hot -> D0 transitions in progress: the function answers no access while any runs. */
  private silentOps = 0;
  private cfgSpace?: VfConfigSpace;

  // struct virtio_pci_common_cfg registers.
  deviceFeatureSelect = 0;
  driverFeatureSelect = 0;
  driverFeatures = 0n;
  configMsixVector = VIRTIO_MSI_NO_VECTOR;
  deviceStatus = 0;
  configGeneration = 0;
  queueSelect = 0;
  isr = 0;

  // Migration state (patches 1, 4, 7).
  mode: number = DeviceMode.ACTIVE;
  readonly readStream = new ContextReadStream();
  writeStream: ContextWriteStream | undefined;
  readonly recorder = new WriteRecorder();
  /** Queues notified and not yet looked at: in Active the next work turn takes them; kicks of Stop wait for Active (SD11c). */
  readonly pendingKicks = new Set<number>();
  /** Queues whose used index and device-owned chains must be re-read from memory on entering Active (after a context restore). */
  readonly resumeQueues = new Set<number>();
  private deferredConfigChange = false;
  /** A configuration change arrived in Freeze: config_generation (part of the context) moves when Freeze ends (SD11g). */
  private deferredGeneration = false;
  private deferredPme = false;
  inFlight: InFlight[] = [];

  /** Set while an FLR, device reset or power transition is in progress; admin commands for the member wait for it. */
  private busy: Promise<void> | undefined;

  constructor(init: MemberInit) {
    this.id = init.id;
    this.numQueues = init.numQueues;
    this.queueSizeMax = init.queueSizeMax;
    this.timings = init.timings;
    this.hooks = init.hooks;
    this.clock = init.clock;
    this.queues = Array.from({ length: init.numQueues }, (_, i) => new SplitVirtqueue(i, init.queueSizeMax));
    this.dma = new MemberDma(init.dma, (a, l) => this.recorder.onWrite(a, l), (k, a, l) => this.dmaGuard(k, a, l));
  }

  /** The VF configuration space (built on first use: it depends on the subclass's identity and config size). */
  get config(): VfConfigSpace {
    this.cfgSpace ??= new VfConfigSpace(this.pciIdentity, this.deviceConfigLength > 0, this.deviceConfigLength, this.numQueues + 1);
    return this.cfgSpace;
  }

  // ---- device-type hooks ---------------------------------------------------------------------------

  /** struct virtio_<type>_config as bytes (0 bytes when the type has none). */
  abstract deviceConfigBytes(): Uint8Array;
  get deviceConfigLength(): number {
    return this.deviceConfigBytes().length;
  }
  /** A driver write to device config; the type decides which bytes are writable. */
  protected abstract deviceConfigWrite(offset: number, width: RegisterWidth, value: number): void;
  /** Why a migrated device config cannot be taken (a read-only field differs), or undefined. */
  abstract checkDeviceConfig(bytes: Uint8Array): string | undefined;
  /** Takes the writable fields of a checked, migrated device config. */
  abstract restoreDeviceConfig(bytes: Uint8Array): void;
  /** Reads what the device needs of a newly taken request (its readable buffers). */
  protected abstract startRequest(queue: number, chain: DescChain): Promise<unknown>;
  /** Performs the request's writes into guest memory; returns the used length. */
  protected abstract completeRequest(queue: number, chain: DescChain, request: unknown): Promise<number>;
  /** Device-type state reset (device reset, FLR). */
  protected abstract resetDeviceType(): void;

  // ---- rules the device keeps about memory access ---------------------------------------------------

  /** SD11a/SD12a: no access outside Active; none without bus mastering or in D3hot. Mutants override. */
  protected dmaGuard(kind: 'read' | 'write', addr: bigint, len: number): void {
    if (this.mode !== DeviceMode.ACTIVE) throw new DeviceInvariantError(`member ${this.id}: ${kind} of ${len} bytes at 0x${addr.toString(16)} outside Active`);
  }

  /** Whether the device may do queue work now. */
  protected canWork(): boolean {
    return (
      this.mode === DeviceMode.ACTIVE &&
      (this.deviceStatus & DeviceStatus.DRIVER_OK) !== 0 &&
      this.config.powerState === PowerState.D0 &&
      this.config.busMaster &&
      this.busy === undefined
    );
  }

  // ---- long operations: FLR, reset, power transitions (SD14c-e) -------------------------------------

  /** Resolves once no FLR, reset or power transition is in progress. */
  async idle(): Promise<void> {
    while (this.busy) await this.busy;
  }

  get isBusy(): boolean {
    return this.busy !== undefined;
  }

  /**
   * Whether the function answers accesses. During an FLR or a D3hot -> D0 transition it does not: reads
   * return all ones and writes are dropped, as from a function that is not there (how a driver sees
   * the end of such an operation: configuration reads answer again).
   */
  get answering(): boolean {
    return this.silentOps === 0;
  }

  /** An operation that ends `ms` later (under the member lock, after the work in progress); `silent` while it runs. */
  private beginBusy(ms: number, done: () => void, silent = false): Promise<void> {
    if (silent) this.silentOps++;
    const op: Promise<void> = this.work.after(ms, async () => {
      try {
        await this.lock.run(done);
      } finally {
        if (silent) this.silentOps--;
        if (this.busy === op) this.busy = undefined;
      }
      this.scheduleWork();
    });
    this.busy = op;
    return op;
  }

  /** PCIe Function Level Reset: the function's registers and virtio state reset; mode and write recording survive (E22, SD20). */
  startFlr(): Promise<void> {
    return this.beginBusy(
      this.timings.flrMs,
      () => {
        this.config.resetFunction();
        this.resetVirtio();
      },
      true,
    );
  }

  /** Virtio device reset (0 written to device_status). */
  private startReset(): Promise<void> {
    return this.beginBusy(this.timings.resetMs, () => this.resetVirtio());
  }

  private startPowerTransition(from: number, to: number): Promise<void> {
    // No_Soft_Reset is set: D3hot -> D0 keeps the state. The function answers again once it is in D0.
    return this.beginBusy(this.timings.pmMs, () => undefined, from === PowerState.D3hot && to === PowerState.D0);
  }

  protected resetVirtio(): void {
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.driverFeatures = 0n;
    this.configMsixVector = VIRTIO_MSI_NO_VECTOR;
    this.deviceStatus = 0;
    this.queueSelect = 0;
    this.isr = 0;
    for (const q of this.queues) q.reset();
    this.inFlight = [];
    this.pendingKicks.clear();
    this.resumeQueues.clear();
    this.resetDeviceType();
  }

  // ---- BAR0 and configuration space -----------------------------------------------------------------

  pciConfigRead(offset: number, width: RegisterWidth): number {
    if (!this.answering) return allOnes(width);
    return this.config.read(offset, width, (bar, off, len) => this.windowRead(bar, off, len));
  }

  pciConfigWrite(offset: number, width: RegisterWidth, value: number): ConfigSideEffect[] {
    if (!this.answering) return [];
    const effects = this.config.write(offset, width, value);
    for (const e of effects) {
      if (e.kind === 'flr') void this.startFlr();
      else if (e.kind === 'power-state') void this.startPowerTransition(e.from, e.to);
      else if (e.kind === 'pci-cfg-window' && e.op === 'write') this.windowWrite(e.bar, e.offset, e.length, e.value ?? 0);
    }
    // Bus mastering or D0 may let work wait for them go on.
    if (this.pendingKicks.size || this.inFlight.length) this.scheduleWork();
    return effects;
  }

  private windowRead(bar: number, offset: number, length: number): number {
    if (bar !== 0 || (length !== 1 && length !== 2 && length !== 4)) return 0;
    return this.barRead(offset, length);
  }

  private windowWrite(bar: number, offset: number, length: number, value: number): void {
    if (bar !== 0 || (length !== 1 && length !== 2 && length !== 4)) return;
    void this.barWrite(offset, length, value);
  }

  barRead(offset: number, width: RegisterWidth): number {
    if (!this.answering) return allOnes(width);
    if (offset >= Bar0.COMMON && offset < Bar0.COMMON + 64) return this.commonCfgRead(offset - Bar0.COMMON, width);
    if (offset === Bar0.ISR) return this.isrRead();
    if (offset >= Bar0.DEVICE && offset < Bar0.DEVICE + this.deviceConfigLength) return this.deviceCfgRead(offset - Bar0.DEVICE, width);
    return 0;
  }

  async barWrite(offset: number, width: RegisterWidth, value: number): Promise<void> {
    if (!this.answering) return;
    if (offset >= Bar0.COMMON && offset < Bar0.COMMON + 64) this.commonCfgWrite(offset - Bar0.COMMON, width, value);
    else if (offset >= Bar0.DEVICE && offset < Bar0.DEVICE + this.deviceConfigLength) this.deviceCfgWriteGuarded(offset - Bar0.DEVICE, width, value);
    else if (offset >= Bar0.NOTIFY && offset < Bar0.SIZE && width === 2) await this.notify(value);
  }

  private selectedQueue(): SplitVirtqueue | undefined {
    return this.queues[this.queueSelect];
  }

  commonCfgRead(offset: number, width: RegisterWidth): number {
    if (!this.answering) return allOnes(width);
    const q = this.selectedQueue();
    const lo = (v: bigint) => Number(v & 0xffffffffn);
    const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
    let v: number;
    switch (offset) {
      case CommonCfg.DEVICE_FEATURE_SELECT.offset: v = this.deviceFeatureSelect; break;
      case CommonCfg.DEVICE_FEATURE.offset: v = Number((this.deviceFeatures >> BigInt(32 * this.deviceFeatureSelect)) & 0xffffffffn); break;
      case CommonCfg.DRIVER_FEATURE_SELECT.offset: v = this.driverFeatureSelect; break;
      case CommonCfg.DRIVER_FEATURE.offset: v = Number((this.driverFeatures >> BigInt(32 * this.driverFeatureSelect)) & 0xffffffffn); break;
      case CommonCfg.CONFIG_MSIX_VECTOR.offset: v = this.configMsixVector; break;
      case CommonCfg.NUM_QUEUES.offset: v = this.numQueues; break;
      case CommonCfg.DEVICE_STATUS.offset: v = this.deviceStatus; break;
      case CommonCfg.CONFIG_GENERATION.offset: v = this.configGeneration; break;
      case CommonCfg.QUEUE_SELECT.offset: v = this.queueSelect; break;
      case CommonCfg.QUEUE_SIZE.offset: v = q ? q.size : 0; break;
      case CommonCfg.QUEUE_MSIX_VECTOR.offset: v = q ? q.msixVector : VIRTIO_MSI_NO_VECTOR; break;
      case CommonCfg.QUEUE_ENABLE.offset: v = q?.enabled ? 1 : 0; break;
      case CommonCfg.QUEUE_NOTIFY_OFF.offset: v = q ? q.index : 0; break;
      case CommonCfg.QUEUE_DESC.offset: v = q ? lo(q.desc) : 0; break;
      case CommonCfg.QUEUE_DESC.offset + 4: v = q ? hi(q.desc) : 0; break;
      case CommonCfg.QUEUE_DRIVER.offset: v = q ? lo(q.driver) : 0; break;
      case CommonCfg.QUEUE_DRIVER.offset + 4: v = q ? hi(q.driver) : 0; break;
      case CommonCfg.QUEUE_DEVICE.offset: v = q ? lo(q.device) : 0; break;
      case CommonCfg.QUEUE_DEVICE.offset + 4: v = q ? hi(q.device) : 0; break;
      default: v = 0;
    }
    return width === 4 ? v >>> 0 : width === 2 ? v & 0xffff : v & 0xff;
  }

  /** SD14a: in Freeze, writes to the virtio configuration structures change nothing. */
  protected configWritesIgnored(): boolean {
    return this.mode === DeviceMode.FREEZE;
  }

  commonCfgWrite(offset: number, width: RegisterWidth, value: number): void {
    if (!this.answering || this.configWritesIgnored()) return;
    const q = this.selectedQueue();
    const setLo = (v: bigint) => (v & ~0xffffffffn) | BigInt(value >>> 0);
    const setHi = (v: bigint) => (v & 0xffffffffn) | (BigInt(value >>> 0) << 32n);
    switch (offset) {
      case CommonCfg.DEVICE_FEATURE_SELECT.offset: this.deviceFeatureSelect = value >>> 0; break;
      case CommonCfg.DRIVER_FEATURE_SELECT.offset: this.driverFeatureSelect = value >>> 0; break;
      case CommonCfg.DRIVER_FEATURE.offset: {
        if (this.deviceStatus & DeviceStatus.FEATURES_OK) break;
        const shift = BigInt(32 * this.driverFeatureSelect);
        this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(value >>> 0) << shift);
        break;
      }
      case CommonCfg.CONFIG_MSIX_VECTOR.offset: this.configMsixVector = value & 0xffff; break;
      case CommonCfg.DEVICE_STATUS.offset: this.writeDeviceStatus(value & 0xff); break;
      case CommonCfg.QUEUE_SELECT.offset: this.queueSelect = value & 0xffff; break;
      case CommonCfg.QUEUE_SIZE.offset:
        if (q && !q.enabled && value > 0 && value <= q.maxSize && (value & (value - 1)) === 0) q.size = value;
        break;
      case CommonCfg.QUEUE_MSIX_VECTOR.offset: if (q) q.msixVector = value & 0xffff; break;
      case CommonCfg.QUEUE_ENABLE.offset: if (q && value === 1) q.enabled = true; break;
      case CommonCfg.QUEUE_DESC.offset: if (q) q.desc = setLo(q.desc); break;
      case CommonCfg.QUEUE_DESC.offset + 4: if (q) q.desc = setHi(q.desc); break;
      case CommonCfg.QUEUE_DRIVER.offset: if (q) q.driver = setLo(q.driver); break;
      case CommonCfg.QUEUE_DRIVER.offset + 4: if (q) q.driver = setHi(q.driver); break;
      case CommonCfg.QUEUE_DEVICE.offset: if (q) q.device = setLo(q.device); break;
      case CommonCfg.QUEUE_DEVICE.offset + 4: if (q) q.device = setHi(q.device); break;
      default: break; // read-only or reserved
    }
  }

  private writeDeviceStatus(v: number): void {
    if (v === 0) {
      // A reset reads back 0 once complete; from a status of 0 there is nothing to wait for.
      if (this.deviceStatus === 0 && !this.busy) this.resetVirtio();
      else void this.startReset();
      return;
    }
    let next = this.deviceStatus | v;
    if (v & DeviceStatus.FEATURES_OK && !(this.deviceStatus & DeviceStatus.FEATURES_OK)) {
      // Refuse a feature set the device did not offer or one without VERSION_1.
      const ok = (this.driverFeatures & ~this.deviceFeatures) === 0n && (this.driverFeatures >> BigInt(Feature.VERSION_1)) & 1n;
      if (!ok) next &= ~DeviceStatus.FEATURES_OK;
    }
    this.deviceStatus = next;
    if (next & DeviceStatus.DRIVER_OK && (this.pendingKicks.size || this.inFlight.length)) this.scheduleWork();
  }

  deviceCfgRead(offset: number, width: RegisterWidth): number {
    if (!this.answering) return allOnes(width);
    const b = this.deviceConfigBytes();
    let v = 0;
    for (let i = 0; i < width; i++) v |= (b[offset + i] ?? 0) << (8 * i);
    return v >>> 0;
  }

  private deviceCfgWriteGuarded(offset: number, width: RegisterWidth, value: number): void {
    if (!this.answering || this.configWritesIgnored()) return;
    this.deviceConfigWrite(offset, width, value);
  }

  deviceCfgWrite(offset: number, width: RegisterWidth, value: number): void {
    this.deviceCfgWriteGuarded(offset, width, value);
  }

  isrRead(): number {
    if (!this.answering) return 0xff;
    const v = this.isr;
    this.isr = 0;
    return v;
  }

  // ---- notifications and queue work ------------------------------------------------------------------

  /**
   * An available-buffer notification (a posted doorbell: it returns before the device acts). In Active
   * the next work turn takes the queue's new requests; a notification of Stop is remembered until
   * Active (SD11c); one of Freeze is dropped.
   */
  async notify(queue: number): Promise<void> {
    if (!this.answering || queue >= this.numQueues) return;
    if (this.mode === DeviceMode.FREEZE) return;
    this.pendingKicks.add(queue);
    if (this.mode === DeviceMode.ACTIVE) this.scheduleWork();
  }

  /** Queues one work turn (at most one waits at a time): the device goes on by itself. */
  protected scheduleWork(): void {
    if (this.workQueued) return;
    this.workQueued = true;
    void this.work.after(0, () => {
      this.workQueued = false;
      return this.lock.run(() => this.doWork());
    });
  }

  /**
   * One work turn, under the member lock (a mode change waits for it, SD11b): after a context restore
   * learn the rings again, take the requests of every notified queue, then complete what was taken
   * (after the request latency; never while the backend is held). Nothing happens outside Active.
   */
  protected async doWork(): Promise<void> {
    if (!this.canWork()) return;
    await this.resumeIfNeeded();
    const kicks = [...this.pendingKicks];
    this.pendingKicks.clear();
    for (const q of kicks) await this.fetch(q);
    if (this.holding || !this.inFlight.length) return;
    if (this.timings.requestMs > 0) void this.work.after(this.timings.requestMs, () => this.lock.run(() => this.completeTaken()));
    else await this.completeTaken();
  }

  /** Takes every newly available request of a queue (reads rings and descriptors; no writes). */
  protected async fetch(queue: number): Promise<void> {
    if (!this.canWork()) {
      if (this.mode === DeviceMode.STOP) this.pendingKicks.add(queue);
      return;
    }
    const q = this.queues[queue];
    if (!q.enabled) return;
    for (const head of await q.fetchAvailable(this.dma)) await this.take(queue, head);
  }

  private async take(queue: number, head: number): Promise<void> {
    const entry: InFlight = { queue, head };
    this.inFlight.push(entry);
    await this.readRequest(entry);
  }

  private async readRequest(entry: InFlight): Promise<void> {
    const q = this.queues[entry.queue];
    try {
      entry.chain = await q.readChain(this.dma, entry.head);
      entry.request = await this.startRequest(entry.queue, entry.chain);
    } catch (e) {
      if (!(e instanceof BadChainError)) throw e;
      entry.chain = { head: entry.head, readable: [], writable: [] };
      entry.request = { bad: e.message };
    }
  }

  /**
   * Completes what the device has taken, in order, each with its writes, used-ring update and
   * interrupt (the caller holds the member lock). Nothing happens outside Active or while held.
   */
  protected async completeTaken(): Promise<void> {
    while (this.inFlight.length && this.canWork() && !this.holding) {
      const entry = this.inFlight[0];
      if (!entry.chain) await this.readRequest(entry);
      const len = await this.completeRequest(entry.queue, entry.chain!, entry.request);
      const q = this.queues[entry.queue];
      await q.pushUsed(this.dma, entry.head, len);
      this.inFlight.shift();
      if (!(await q.interruptSuppressed(this.dma))) this.queueInterrupt(q.msixVector);
    }
  }

  /** The holdRequests stimulus: a stalled backend, or one that goes on. */
  holdRequests(on: boolean): void {
    const was = this.holding;
    this.holding = on;
    if (was && !on) this.scheduleWork();
  }

  private queueInterrupt(vector: number): void {
    if (vector === VIRTIO_MSI_NO_VECTOR || !this.config.msixEnabled) {
      this.isr |= 1;
      this.hooks.interrupt(this.id, 'intx');
    } else this.hooks.interrupt(this.id, vector);
  }

  /** A device-side configuration change (e.g. block capacity); notified only in Active (SD12b). */
  signalConfigChange(): void {
    if (this.mode === DeviceMode.FREEZE) {
      // SD11g: nothing in the device context changes in Freeze, config_generation included.
      this.deferredGeneration = true;
      this.deferredConfigChange = true;
      return;
    }
    this.configGeneration = (this.configGeneration + 1) & 0xff;
    if (this.mode !== DeviceMode.ACTIVE) {
      this.deferredConfigChange = true;
      return;
    }
    this.deliverConfigChange();
  }

  private deliverConfigChange(): void {
    this.isr |= 2;
    if (this.configMsixVector === VIRTIO_MSI_NO_VECTOR || !this.config.msixEnabled) this.hooks.interrupt(this.id, 'intx');
    else this.hooks.interrupt(this.id, this.configMsixVector);
  }

  /**
   * A wake event while in D3hot with PME enabled; PME is held back outside Active (SD11f). PME_Status
   * is set only when the PME is generated: with PME_En set, a set PME_Status is the PME (PCI PM).
   */
  signalWake(): void {
    if (this.config.powerState !== PowerState.D3hot || !this.config.pmeEnabled) return;
    if (this.mode !== DeviceMode.ACTIVE) {
      this.deferredPme = true;
      return;
    }
    this.config.setPmeStatus();
    this.hooks.pme(this.id);
  }

  // ---- mode changes (called by the owner with the member lock held) ----------------------------------

  /** Enters `mode`; the caller has validated it. Applies a written context when leaving Freeze. */
  async enterMode(mode: number): Promise<void> {
    const from = this.mode;
    if (from === mode) return;
    if (from === DeviceMode.FREEZE && this.writeStream?.pending) {
      this.writeStream.applyTo(this);
    }
    this.writeStream = undefined;
    this.readStream.reset();
    this.mode = mode;
    if (from === DeviceMode.FREEZE && this.deferredGeneration) {
      this.deferredGeneration = false;
      this.configGeneration = (this.configGeneration + 1) & 0xff;
    }
    // SD14b: writes to the VIRTIO_PCI_CAP_PCI_CFG capability area are ignored in Freeze.
    this.config.pciCfgWriteLock = mode === DeviceMode.FREEZE;
    if (mode === DeviceMode.ACTIVE) await this.onResume();
  }

  /** Work that waited for Active: deferred notifications now; restored queues and kicks received in Stop at the next work turn. */
  private async onResume(): Promise<void> {
    if (this.deferredConfigChange) {
      this.deferredConfigChange = false;
      this.deliverConfigChange();
    }
    if (this.deferredPme) {
      this.deferredPme = false;
      this.config.setPmeStatus();
      this.hooks.pme(this.id);
    }
    this.scheduleWork();
  }

  /** After a context restore: learn used indexes, re-read device-owned chains, then look for new work. */
  private async resumeIfNeeded(): Promise<void> {
    if (!this.resumeQueues.size || !this.canWork()) return;
    const queues = [...this.resumeQueues].sort((a, b) => a - b);
    this.resumeQueues.clear();
    for (const qi of queues) {
      const q = this.queues[qi];
      if (!q.enabled) continue;
      await q.syncUsedIdx(this.dma);
    }
    for (const entry of this.inFlight) if (!entry.chain) await this.readRequest(entry);
    for (const qi of queues) this.pendingKicks.add(qi);
  }
}

function allOnes(width: RegisterWidth): number {
  return width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff;
}
