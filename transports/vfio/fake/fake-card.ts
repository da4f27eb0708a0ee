import type { MemberStimuli } from '../../../protocol/member-port.ts';
import type { PciBarInfo } from '../../../protocol/pci-function.ts';
import { PciCfg, SRIOV_CTRL_MSE, SRIOV_CTRL_VFE, SriovReg } from '../../../protocol/pci.ts';
import { findMutant } from '../../../device/mutants/index.ts';
import { deviceOptions, type MemberSpec, type ReferenceDeviceOptions } from '../../../device/options.ts';
import { PF_SRIOV_CAP } from '../../../device/owner/pf-function.ts';
import type { PciModelFunction } from '../../../device/pci/pci-model.ts';
import { PfPciModel } from '../../../device/pci/pf-model.ts';
import { DeviceScheduler } from '../../../device/pci/scheduler.ts';
import { VfPciModel } from '../../../device/pci/vf-model.ts';
import { ReferenceDevice } from '../../../device/reference-device.ts';
import { resetWithRestore } from '../../simulator-pci/host-reset.ts';
import { VfHostView } from '../../simulator-pci/vf-host-view.ts';
import type { FakeBus, FakeEndpoint, FakeSriov } from './fake-endpoint.ts';
import { FakeHost, type FakeHostOptions } from './fake-host.ts';

/** Longest the fake kernel waits for a function to answer again after an FLR. */
const HOST_RESET_MS = 10_000;

/** Where the fake card sits on the fake host's bus. */
export const FAKE_CARD_PF = '0000:3b:00.0';

export interface FakeCardOptions {
  members?: MemberSpec[];
  commandSets?: Partial<ReferenceDeviceOptions['commandSets']>;
  device?: Partial<ReferenceDeviceOptions>;
  /** A seeded-bug device (device/mutants), by name. */
  mutant?: string;
  /** How long the device takes to act on a doorbell, in ms. */
  latencyMs?: number;
}

/**
 * A register-level model (device/pci) as the fake kernel reaches it: synchronous config and BAR
 * access (8-byte accesses as two dword accesses, as a device decodes a QWORD TLP to 32-bit registers),
 * and the host's reset (save, FLR, restore) for VFIO_DEVICE_RESET.
 */
class ModelEndpoint implements FakeEndpoint {
  readonly configSize: number;
  readonly bars: readonly PciBarInfo[];
  bus?: FakeBus;

  constructor(private readonly fn: PciModelFunction) {
    this.configSize = fn.configSize;
    this.bars = fn.bars();
  }

  configRead(offset: number, width: 1 | 2 | 4): number {
    return this.fn.configRead(offset, width);
  }

  configWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    this.fn.configWrite(offset, width, value);
  }

  barRead(bar: number, offset: number, width: 1 | 2 | 4 | 8): number | bigint {
    if (width !== 8) return this.fn.barRead(bar, offset, width);
    return (BigInt(this.fn.barRead(bar, offset + 4, 4) >>> 0) << 32n) | BigInt(this.fn.barRead(bar, offset, 4) >>> 0);
  }

  barWrite(bar: number, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): void {
    if (width !== 8) return this.fn.barWrite(bar, offset, width, Number(value));
    const v = BigInt(value);
    this.fn.barWrite(bar, offset, 4, Number(v & 0xffffffffn));
    this.fn.barWrite(bar, offset + 4, 4, Number((v >> 32n) & 0xffffffffn));
  }

  flr(): Promise<void> {
    // The host's reset (save, FLR, restore), bounded: a function that never answers again fails it.
    return resetWithRestore(this.fn, HOST_RESET_MS, 'the fake host\'s reset of the function');
  }

  connect(bus: FakeBus): void {
    this.bus = bus;
  }
}

/**
 * The reference device as a card in the fake host: its PF and VFs as register-level models, their
 * DMA through the fake IOMMU (an unmapped IOVA faults), their MSI-X messages through the fake
 * kernel's eventfds, and SR-IOV driven by the fake sriov_numvfs store, as the kernel writes the
 * capability.
 */
export class FakeCard implements FakeSriov {
  readonly device: ReferenceDevice;
  readonly pfModel: PfPciModel;
  readonly pf: ModelEndpoint;
  readonly faults: string[] = [];
  readonly offset: number;
  readonly stride: number;
  private readonly vfModels = new Map<number, VfPciModel>();
  private readonly vfEndpoints = new Map<number, ModelEndpoint>();
  private readonly scheduler: DeviceScheduler;

  constructor(o: FakeCardOptions = {}) {
    this.scheduler = new DeviceScheduler(o.latencyMs ?? 1, (e) => this.faults.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e)));
    const opts = deviceOptions({ ...o.device, ...(o.members ? { members: o.members } : {}), commandSets: { ...deviceOptions(o.device).commandSets, ...o.commandSets } });
    const mutant = o.mutant === undefined ? undefined : findMutant(o.mutant);
    if (o.mutant !== undefined && !mutant) throw new Error(`fake host: mutant "${o.mutant}" is not a known seeded-bug device (see \`vmcts mutants\`)`);
    const busOf = (id: number) => this.vfEndpoints.get(id)?.bus;
    this.device = new ReferenceDevice(opts, {
      dma: (id) => ({
        read: (addr, len) => busOf(id)?.dmaRead(addr, len) ?? new Uint8Array(len).fill(0xff),
        write: (addr, data) => busOf(id)?.dmaWrite(addr, data),
      }),
      hooks: { interrupt: (id, vector) => this.vfModels.get(id)?.interrupt(vector), pme: () => undefined },
    });
    mutant?.apply(this.device);
    this.pfModel = new PfPciModel({
      device: this.device,
      dma: { read: (addr, len) => this.pf.bus?.dmaRead(addr, len) ?? new Uint8Array(len).fill(0xff), write: (addr, data) => this.pf.bus?.dmaWrite(addr, data) },
      scheduler: this.scheduler,
      interrupt: (v) => (v === 'intx' ? this.pf.bus?.intx() : this.pf.bus?.msix(v)),
      onVfEnableChange: (enabled) => {
        if (!enabled) for (const m of this.vfModels.values()) m.released();
      },
    });
    this.pf = new ModelEndpoint(this.pfModel);
    for (const [id, member] of this.device.members) {
      this.vfModels.set(id, new VfPciModel({ member, pf: this.pfModel, scheduler: this.scheduler, interrupt: (v) => (v === 'intx' ? busOf(id)?.intx() : busOf(id)?.msix(v)) }));
    }
    this.offset = this.sriovReg(SriovReg.VF_OFFSET);
    this.stride = this.sriovReg(SriovReg.VF_STRIDE);
    // A card comes up with VF Enable clear; the host creates the VFs (sriov_numvfs).
    this.disable();
  }

  private sriovReg(r: number): number {
    return this.pfModel.configRead(PF_SRIOV_CAP + r, 2);
  }

  get totalVfs(): number {
    return this.sriovReg(SriovReg.TOTAL_VF);
  }

  get vfDeviceId(): number {
    return this.sriovReg(SriovReg.VF_DID);
  }

  get pfDeviceId(): number {
    return this.pfModel.configRead(PciCfg.DEVICE_ID, 2);
  }

  /** The kernel's pci_enable_sriov: NumVFs, then VF Enable and VF Memory Space Enable; the VFs as Linux presents them. */
  enable(n: number): { vfs: FakeEndpoint[]; ready: Promise<void> } {
    const ctrl = this.sriovReg(SriovReg.CTRL);
    this.pfModel.configWrite(PF_SRIOV_CAP + SriovReg.NUM_VF, 2, n);
    this.pfModel.configWrite(PF_SRIOV_CAP + SriovReg.CTRL, 2, ctrl | SRIOV_CTRL_VFE | SRIOV_CTRL_MSE);
    const out: FakeEndpoint[] = [];
    for (let id = 1; id <= n; id++) {
      const model = this.vfModels.get(id);
      if (!model) throw new Error(`fake card: VF ${id} has no member behind it`);
      const view = new VfHostView(model, 'from-pf', () => ({ vendorId: this.pfModel.configRead(PciCfg.VENDOR_ID, 2), deviceId: this.vfDeviceId }));
      const ep = new ModelEndpoint(view);
      this.vfEndpoints.set(id, ep);
      out.push(ep);
    }
    // Ready once every member has finished the reset that VF Enable going away started.
    return { vfs: out, ready: Promise.all([...this.device.members.values()].map((m) => m.idle())).then(() => undefined) };
  }

  disable(): void {
    const ctrl = this.sriovReg(SriovReg.CTRL);
    this.pfModel.configWrite(PF_SRIOV_CAP + SriovReg.CTRL, 2, ctrl & ~(SRIOV_CTRL_VFE | SRIOV_CTRL_MSE));
    this.pfModel.configWrite(PF_SRIOV_CAP + SriovReg.NUM_VF, 2, 0);
    this.vfEndpoints.clear();
  }

  /** Device-side stimuli of member `id` (only a model can be told to change its configuration, to wake, or to hold its requests). */
  stimuli(id: number): MemberStimuli | undefined {
    const m = this.vfModels.get(id)?.member;
    return m && { configChange: async () => m.signalConfigChange(), wake: async () => m.signalWake(), holdRequests: async (on) => m.holdRequests(on) };
  }

  close(): void {
    this.scheduler.close();
  }
}

/**
 * A fake host with the reference device as a card at FAKE_CARD_PF, on virtio-pci as a fresh host would
 * have it, next to this machine's own devices. What `--fake-host` runs against.
 */
export function fakeHostWithCard(card: FakeCardOptions = {}, host: FakeHostOptions = {}): { host: FakeHost; card: FakeCard; pf: string } {
  const h = new FakeHost(host);
  const c = new FakeCard(card);
  h.addFunction({ bdf: FAKE_CARD_PF, vendor: 0x1af4, device: c.pfDeviceId, classCode: 0x018000, driver: 'virtio-pci', endpoint: c.pf, sriov: c });
  return { host: h, card: c, pf: FAKE_CARD_PF };
}
