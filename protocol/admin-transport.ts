import type { MemberPort } from './member-port.ts';
import type { VirtioAdminCmdResult } from './admin-frame.ts';
import type { DeviceTiming } from './host-binding.ts';
import type { SriovControl } from './sriov-control.ts';

/**
 * The owner side: group administration commands on the PF's admin virtqueue, as bytes. Every
 * transport implements execFrame; exec() is execFrame plus the frame codecs (see admin-exec.ts).
 * A command that does not complete within its timeout rejects with TransportTimeoutError; it never
 * hangs the run.
 */
export interface AdminExecOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** One descriptor chain: the device-readable bytes and the size of the device-writable buffer. */
export interface AdminFrame {
  readable: Uint8Array;
  writableLength: number;
}

export interface AdminFrameCompletion {
  writable: Uint8Array;
  usedLength: number;
}

export interface AdminCommandRequest {
  opcode: number;
  groupType: number;
  memberId: bigint;
  data: Uint8Array;
  /** Bytes of command_specific_result buffer offered (the writable part is 8 + this). */
  resultCapacity: number;
  /** Send command_specific_data without padding to 8 bytes (probes device tolerance; breaks VR3 on purpose). */
  unpadded?: boolean;
}

export type AdminCommandResponse = VirtioAdminCmdResult;

export interface TransportCapabilities {
  /** member(id) returns a usable MemberPort. */
  memberPort: boolean;
  /** execFrame accepts arbitrary frames (short, long, unpadded). */
  rawFrames: boolean;
  /** recover() can bring a wedged device back (reconnect, owner reset). */
  recover: boolean;
  /** owner() reads the PF's PCI configuration space and its virtio common configuration. */
  ownerConfig: boolean;
  /** sriov() changes NumVFs and VF Enable through the host's own interface (GD13 tests, the session baseline). */
  sriovControl: boolean;
}

/**
 * The owner function (PF) itself, read only: its PCI configuration space (extended capabilities
 * included) and its virtio common configuration (admin queue discovery). SR-IOV changes go through
 * SriovControl, never through writes to the capability.
 */
export interface OwnerPort {
  pciConfigRead(offset: number, width: 1 | 2 | 4): Promise<number>;
  commonCfgRead(offset: number, width: 1 | 2 | 4): Promise<number>;
}

export interface PciIds {
  vendorId: number;
  deviceId: number;
  subsystemVendorId: number;
  subsystemId: number;
  revision: number;
}

export interface MemberIdentity {
  id: number;
  virtioType: number;
  pci?: PciIds;
  address?: string;
}

/** Who the device under test is; printed in every report and checked by `vmcts verify` and `merge`. */
export interface DeviceIdentity {
  transport: string;
  description: string;
  pci?: PciIds;
  /** PCI BDF, vfio-user socket path, or "simulator". */
  address: string;
  /** PCIe Device Serial Number or the model's serial, where readable. */
  serial?: string;
  firmware?: string;
  members: MemberIdentity[];
}

export interface AdminTransport {
  readonly name: string;
  readonly capabilities: TransportCapabilities;
  /** How long the device may take, as the transport declares it (tests wait for these, never fixed sleeps). */
  readonly timing: DeviceTiming;
  exec(cmd: AdminCommandRequest, opts?: AdminExecOptions): Promise<AdminCommandResponse>;
  execFrame(frame: AdminFrame, opts?: AdminExecOptions): Promise<AdminFrameCompletion>;
  identity(): Promise<DeviceIdentity>;
  /** Valid group_member_id values (1..NumVFs). */
  memberIds(): number[];
  member(id: number): MemberPort;
  /** The owner PF's configuration, read only (when capabilities.ownerConfig). */
  owner?(): OwnerPort;
  /** NumVFs and VF Enable of the owner (when capabilities.sriovControl). */
  sriov?(): SriovControl;
  /** Tries to bring an unresponsive device back; resolves true when commands are answered again. */
  recover(): Promise<boolean>;
  close(): Promise<void>;
}
