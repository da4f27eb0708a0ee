import type { BindingIdentity, DeviceTiming, HostBinding, VfBinding } from '../../protocol/host-binding.ts';
import type { MemberStimuli } from '../../protocol/member-port.ts';
import { TransportClosedError } from '../../protocol/transport-errors.ts';
import { SysfsPci } from './host/sysfs-pci.ts';
import type { IommuContext } from './iommu/iommu-context.ts';
import { type IommuChoice, openIommu } from './iommu/open-iommu.ts';
import { IommuFaultLog } from './observe/iommu-faults.ts';
import type { Syscalls } from './sys/syscalls.ts';
import { SysfsSriovControl } from './sysfs-sriov-control.ts';
import type { VfioDevice } from './vfio-device.ts';
import { type ObservedAccess, VfioDmaSpace } from './vfio-dma-space.ts';
import { VfioIrqSource } from './vfio-irq-source.ts';
import { VfioPciFunction } from './vfio-pci-function.ts';
import { hookStimuli, type VendorHooks } from './vendor-hooks.ts';


export interface VfioBindingOptions {
  pf: string;
  /** The VFs the config names, in member order; checked against the PF's virtfn links. */
  vfs?: string[];
  iommu: IommuChoice;
  /** The VF token this run installs on the PF and opens the VFs with. */
  vfToken: string;
  timing: DeviceTiming;
  hooks?: VendorHooks;
  /** Stimuli a simulated card can take directly (the fake host); hooks are for real cards. */
  modelStimuli?: (memberId: number) => MemberStimuli | undefined;
}

interface OpenVf {
  bdf: string;
  /** The VF's own IOMMU context: a guest's memory is its own address space. */
  iommu: IommuContext;
  binding: VfBinding;
}

/**
 * A HostBinding over Linux VFIO: the PF and its VFs as vfio-pci devices in one IOMMU context (group
 * container or iommufd IOAS), their DMA memory mapped through the IOMMU, MSI-X through eventfds, SR-IOV
 * through sriov_numvfs. A card cannot log its DMA: each member's memory is revoked from the IOMMU while
 * the member is outside Active (closeWindow/openWindow), and faults (kernel log, AER) and canary
 * changes are what its access log reports (observation `iommu-fault`).
 */
export class VfioHostBinding implements HostBinding {
  readonly kind = 'vfio';
  readonly sriov: SysfsSriovControl;
  private readonly vfs = new Map<number, OpenVf>();
  private readonly memberDma = new Map<number, VfioDmaSpace>();
  private readonly aerSeen = new Map<string, number>();
  private readonly pci: SysfsPci;
  private closed = false;

  private constructor(
    readonly sys: Syscalls,
    readonly iommu: IommuContext,
    readonly pfDevice: VfioDevice,
    readonly pf: VfioPciFunction,
    readonly pfDma: VfioDmaSpace,
    readonly pfIrq: VfioIrqSource,
    readonly faults: IommuFaultLog,
    readonly opts: VfioBindingOptions,
    /** The binding's single event order (interrupts and observed accesses). */
    private readonly nextSeq: () => number,
  ) {
    this.pci = new SysfsPci(sys);
    this.sriov = new SysfsSriovControl(sys, opts.pf, opts.timing.resetMs + 2000, () => this.closeVfs(), () => this.openAllWindows());
  }

  get timing(): DeviceTiming {
    return this.opts.timing;
  }

  /** Opens the PF (already on vfio-pci: host preparation did that) and installs the run's VF token. */
  static async open(sys: Syscalls, opts: VfioBindingOptions): Promise<VfioHostBinding> {
    const pci = new SysfsPci(sys);
    const drv = pci.driver(opts.pf);
    if (drv !== 'vfio-pci') throw new Error(`${opts.pf} is bound to ${drv ?? 'no driver'}, not vfio-pci: the vfio transport's host preparation did not run (use \`vmcts run\`)`);
    const faults = new IommuFaultLog(sys);
    const iommu = openIommu(sys, opts.iommu);
    try {
      const dev = iommu.openDevice(opts.pf);
      dev.setVfToken(opts.vfToken);
      const order = { n: 0 };
      const seq = () => order.n++;
      const dma = new VfioDmaSpace(sys, opts.pf);
      dma.attach(iommu);
      return new VfioHostBinding(sys, iommu, dev, new VfioPciFunction(dev, opts.timing.resetMs), dma, new VfioIrqSource(sys, dev, seq), faults, opts, seq);
    } catch (e) {
      iommu.close();
      faults.close();
      throw e;
    }
  }

  private dmaOf(memberId: number, bdf: string): VfioDmaSpace {
    let d = this.memberDma.get(memberId);
    if (!d) {
      // The member's memory outlives its VF (VF Enable cleared and set again): the log looks up the VF it has now.
      d = new VfioDmaSpace(this.sys, bdf, () => {
        const now = this.vfs.get(memberId)?.bdf;
        return now ? this.observed(now) : [];
      });
      this.memberDma.set(memberId, d);
    }
    return d;
  }

  async vf(memberId: number): Promise<VfBinding> {
    if (this.closed) throw new TransportClosedError('the vfio binding is closed');
    const open = this.vfs.get(memberId);
    if (open) return open.binding;
    const vfs = this.pci.virtfns(this.opts.pf);
    const bdf = vfs[memberId - 1];
    if (!bdf) throw new RangeError(`VF ${memberId} does not exist: ${this.opts.pf} has ${vfs.length} VF(s) (sriov_numvfs)`);
    const named = this.opts.vfs?.[memberId - 1];
    if (named && named !== bdf) throw new Error(`member ${memberId} is ${bdf} (virtfn${memberId - 1} of ${this.opts.pf}), not ${named} as transport.vfs says`);
    // Each VF in an IOMMU context of its own, as each guest has its own address space: members'
    // memory sits at the same guest-physical addresses, and is copied between them on migration.
    const iommu = openIommu(this.sys, this.opts.iommu);
    let dev: VfioDevice;
    try {
      dev = iommu.openDevice(bdf, this.opts.vfToken);
    } catch (e) {
      iommu.close();
      throw e;
    }
    const dma = this.dmaOf(memberId, bdf);
    dma.attach(iommu);
    // AER counts from here on are this run's.
    const aer = /TOTAL_ERR_NONFATAL\s+(\d+)/.exec(this.pci.attr(bdf, 'aer_dev_nonfatal') ?? '')?.[1];
    if (aer !== undefined) this.aerSeen.set(bdf, Number(aer));
    const irq = new VfioIrqSource(this.sys, dev, this.nextSeq);
    const stimuli = this.opts.modelStimuli?.(memberId) ?? hookStimuli(this.opts.hooks, this.opts.pf, bdf, memberId);
    const binding: VfBinding = {
      memberId,
      fn: new VfioPciFunction(dev, this.opts.timing.resetMs),
      dma,
      irq,
      ...(stimuli ? { stimuli } : {}),
    };
    this.vfs.set(memberId, { bdf, iommu, binding });
    return binding;
  }

  /**
   * Device accesses of a VF the host saw: IOMMU faults the kernel logged for it, and non-fatal errors
   * in its AER counters that no logged fault accounts for (an IOMMU whose fault lines this tool does not
   * parse, or a kernel log it cannot read: the address is then unknown).
   */
  private observed(bdf: string): ObservedAccess[] {
    const out: ObservedAccess[] = [];
    // A fault names the address it stopped: at least that byte was accessed.
    for (const f of this.faults.take(bdf)) out.push({ seq: this.nextSeq(), kind: f.kind === 'write' ? 'write' : 'read', addr: f.addr, len: 1, observedBy: 'iommu-fault' });
    const total = /TOTAL_ERR_NONFATAL\s+(\d+)/.exec(this.pci.attr(bdf, 'aer_dev_nonfatal') ?? '')?.[1];
    if (total !== undefined) {
      const n = Number(total);
      const was = this.aerSeen.get(bdf) ?? n;
      this.aerSeen.set(bdf, n);
      if (!out.length) for (let i = was; i < n; i++) out.push({ seq: this.nextSeq(), kind: 'read', addr: 0n, len: 0, observedBy: 'aer' });
    }
    return out;
  }

  /**
   * The member left Active: its memory is revoked from the IOMMU (every device access now faults) and
   * a canary is laid in what is unallocated. Called after the MODE_SET completed.
   */
  closeWindow(memberId: number): void {
    const d = this.memberDma.get(memberId);
    if (!d) return;
    d.revoke();
    if (!d.canaryArmed) d.armCanary();
  }

  /** The member is about to be Active again: its memory is mapped back first, and canary changes are reported. */
  openWindow(memberId: number): void {
    const d = this.memberDma.get(memberId);
    if (!d) return;
    d.restore();
    d.note(d.disarmCanary(this.nextSeq));
  }

  /** SR-IOV changed or the PF was reset: members are new functions, in Active. */
  openAllWindows(): void {
    for (const id of this.memberDma.keys()) this.openWindow(id);
  }

  private async closeVfs(): Promise<void> {
    for (const [id, v] of this.vfs) {
      await v.binding.irq.close();
      this.memberDma.get(id)?.detach();
      v.iommu.close();
    }
    this.vfs.clear();
  }

  async identity(): Promise<BindingIdentity> {
    const pf = this.opts.pf;
    const vendor = this.pci.hex(pf, 'vendor') ?? 0;
    const device = this.pci.hex(pf, 'device') ?? 0;
    // The driver reads the Device Serial Number itself.
    return { description: `virtio PCI card ${vendor.toString(16).padStart(4, '0')}:${device.toString(16).padStart(4, '0')} at ${pf} over Linux VFIO (${this.iommu.flow}${this.sys.kind === 'fake' ? ', fake host' : ''})` };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const errors: unknown[] = [];
    const attempt = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    await attempt(() => this.closeVfs());
    await attempt(() => this.pfIrq.close());
    // Mappings go before the memory; devices and groups before the container.
    for (const d of this.memberDma.values()) await attempt(() => d.close());
    this.memberDma.clear();
    await attempt(() => this.pfDma.close());
    await attempt(() => this.iommu.close());
    await attempt(() => this.faults.close());
    if (errors.length) throw errors[0];
  }
}
