import type { DmaSpace } from './dma-space.ts';
import type { IrqSource } from './irq-source.ts';
import type { MemberStimuli } from './member-port.ts';
import type { PciFunction } from './pci-function.ts';
import type { SriovControl } from './sriov-control.ts';

/**
 * How long the device behind a binding may take, as the transport declares it, so that tests wait
 * for declared times rather than fixed sleeps and the same test holds on a card.
 */
export interface DeviceTiming {
  /** Longest a conformant device may take to complete an admin command or a queued request it has been notified of. */
  completionMs: number;
  /** How long to watch for an access or notification that must not happen before concluding that none came. */
  quietMs: number;
  /** Longest a function may take to answer configuration reads again after an FLR or a power-state change. */
  resetMs: number;
}

/** A VF as the host exposes it: its function, the memory it may reach, its interrupts. */
export interface VfBinding {
  /** group_member_id: the SR-IOV VF number, 1-based. */
  memberId: number;
  fn: PciFunction;
  dma: DmaSpace;
  irq: IrqSource;
  /** Device-side events the binding can cause (our own simulator and server only). */
  stimuli?: MemberStimuli;
}

export interface BindingIdentity {
  /** What the device is, in words (model, firmware). */
  description: string;
  serial?: string;
  firmware?: string;
}

/**
 * Everything the virtio-pci driver needs from a host: the PF (owner) with the memory its admin queue
 * lives in, SR-IOV control, and each VF while VF Enable is set. simulator-pci (device/pci in this
 * process), vfio-user and VFIO each provide one; the driver never knows which.
 */
export interface HostBinding {
  readonly kind: string;
  readonly pf: PciFunction;
  readonly pfDma: DmaSpace;
  readonly pfIrq: IrqSource;
  readonly sriov: SriovControl;
  readonly timing: DeviceTiming;
  /**
   * VF `memberId` as it exists now. VFs are new functions after VF Enable is cleared and set again,
   * so callers take a fresh binding after every SR-IOV change rather than keeping one.
   */
  vf(memberId: number): Promise<VfBinding>;
  identity(): Promise<BindingIdentity>;
  close(): Promise<void>;
}
