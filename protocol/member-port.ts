import type { DmaObservation } from './dma-space.ts';
import type { DmaAccess, GuestMemory } from './guest-memory.ts';
import type { DeviceTiming } from './host-binding.ts';
import type { PowerStateName } from './pci.ts';

export type RegisterWidth = 1 | 2 | 4;

/** What a transport can do on the guest side of a member; a test that needs a missing one is NOT_TESTED. */
export interface MemberCapabilities {
  /** takeDmaLog() reports every device access to guest memory. */
  dmaObservation: boolean;
  /**
   * How takeDmaLog() sees device accesses (dma-space.ts): `exact` (every access), `iommu-fault` or
   * `canary` (a card on VFIO: accesses inside no-access windows, as faults and changed memory), `none`.
   * Absent: `exact` when dmaObservation is set, else `none`.
   */
  dmaObservationLevel?: DmaObservation;
  /** takeEvents() reports MSI-X and INTx messages. */
  interruptObservation: boolean;
  /** takeEvents() reports PME messages (a PME is not an interrupt of the function: the host sees it apart). */
  pmeObservation: boolean;
  /** flr() performs a PCIe Function Level Reset of the VF. */
  flr: boolean;
  /** setPowerState() moves the VF between D0 and D3hot through its PM capability. */
  powerManagement: boolean;
  /** pciConfigRead/Write reach the VF's PCI configuration space. */
  pciConfig: boolean;
  /** The member's guest memory is its own address space, so migrating it between members means copying. */
  separateMemory: boolean;
}

/**
 * Device-side events a test can cause on a simulated or software device (a real card cannot be told
 * to change its configuration or to wake): present only where the transport can do it.
 */
export interface MemberStimuli {
  /** The device changes its configuration (block: capacity), which calls for a configuration change notification. */
  configChange(): Promise<void>;
  /** A wake event while the function is in D3hot with PME enabled, which calls for a PME. */
  wake(): Promise<void>;
  /**
   * A stalled backend: while on, the device takes the requests it is notified of (they become
   * device-owned) but completes none; off, it goes on with them. How a test gets requests in flight
   * at a mode change on a device that otherwise completes them at once.
   */
  holdRequests?(on: boolean): Promise<void>;
}

export type MemberEvent =
  | { seq: number; kind: 'msix'; vector: number }
  | { seq: number; kind: 'intx' }
  | { seq: number; kind: 'pme' };

/**
 * The guest side of one member device (a VF): its virtio-pci structures at exact access width, its
 * PCI function controls, its guest memory, and what the transport could observe of its behaviour.
 * The guest virtio driver (harness/guest) is written once against this interface.
 */
export interface MemberPort {
  /** group_member_id of this member (SR-IOV VF number, 1-based). */
  readonly id: number;
  readonly virtioType: number;
  readonly capabilities: MemberCapabilities;
  /** How long the device may take (completions, quiet periods, FLR and power-state changes), as the transport declares it. */
  readonly timing: DeviceTiming;
  readonly memory: GuestMemory;

  /** struct virtio_pci_common_cfg; 64-bit fields are accessed as two 32-bit halves. */
  commonCfgRead(offset: number, width: RegisterWidth): Promise<number>;
  commonCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void>;
  /** Device-specific configuration (VIRTIO_PCI_CAP_DEVICE_CFG). */
  deviceCfgRead(offset: number, width: RegisterWidth): Promise<number>;
  deviceCfgWrite(offset: number, width: RegisterWidth, value: number): Promise<void>;
  /** Available-buffer notification for a queue (16-bit write of the queue index at its notify address); posted: it returns before the device acts on it. */
  notify(queueIndex: number): Promise<void>;
  /** VIRTIO_PCI_CAP_ISR_CFG: read-and-clear. */
  isrRead(): Promise<number>;

  /** PCI configuration space of the VF (capabilities, PM, PCIe, the VIRTIO_PCI_CAP_PCI_CFG window). */
  pciConfigRead(offset: number, width: RegisterWidth): Promise<number>;
  pciConfigWrite(offset: number, width: RegisterWidth, value: number): Promise<void>;
  /**
   * Initiates a Function Level Reset (PCIe Device Control) and resolves when the function answers
   * configuration reads again; rejects with TransportTimeoutError when it does not within timing.resetMs.
   */
  flr(): Promise<void>;
  /** Writes the power state into PMCSR and resolves as flr() does, once the function answers configuration reads. */
  setPowerState(state: PowerStateName): Promise<void>;

  /**
   * Waits up to `ms` (default timing.completionMs) for the device to act on what the guest did. The
   * device does its work on its own; this only lets time pass. It may return earlier when the
   * transport knows the device has nothing pending (the simulator does), never later.
   */
  settle(ms?: number): Promise<void>;
  /** Interrupts and PME seen since the last call. */
  takeEvents(): MemberEvent[];
  /** Device accesses to guest memory since the last call; empty when dmaObservation is false. */
  takeDmaLog(): DmaAccess[];
  /** Device-side events the transport can cause (simulator, software devices). */
  readonly stimuli?: MemberStimuli;
}
