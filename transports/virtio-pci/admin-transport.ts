import { execViaFrame } from '../../protocol/admin-exec.ts';
import type {
  AdminCommandRequest,
  AdminCommandResponse,
  AdminExecOptions,
  AdminFrame,
  AdminFrameCompletion,
  AdminTransport,
  DeviceIdentity,
  MemberIdentity,
  OwnerPort,
  PciIds,
  TransportCapabilities,
} from '../../protocol/admin-transport.ts';
import type { DeviceTiming, HostBinding } from '../../protocol/host-binding.ts';
import { commandName } from '../../protocol/opcodes.ts';
import { CommonCfg, Feature } from '../../protocol/pci-common-cfg.ts';
import { PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, PCI_EXT_CAP_ID_SRIOV, PciCfg, SriovReg } from '../../protocol/pci.ts';
import type { SriovControl, SriovState } from '../../protocol/sriov-control.ts';
import { TransportAbortedError, TransportClosedError } from '../../protocol/transport-errors.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import { AdminQueue } from './admin-queue.ts';
import { discoverLayout, PCI_EXT_CAP_ID_DSN, type VirtioPciLayout } from './capabilities.ts';
import { CommonConfig } from './common-cfg.ts';
import { VirtioPciError } from './errors.ts';
import { has, ownerFeatures } from './features.ts';
import { VirtioPciMemberPort } from './member-port.ts';
import { RegionIo } from './region.ts';
import { statusHandshake } from './status-handshake.ts';
import { virtioTypeOfDeviceId } from './device-id.ts';

export interface VirtioPciOptions {
  /** Opcode numbering of the active profile (names commands in timeout messages). */
  wire: WireOptions;
  /** Per-command deadline when a call gives none (default: the binding's declared completion time). */
  defaultTimeoutMs?: number;
}

const CAPABILITIES: TransportCapabilities = { memberPort: true, rawFrames: true, recover: true, ownerConfig: true, sriovControl: true };

/**
 * The owner driver over any HostBinding: the PF initialized as a modern virtio-pci device with
 * VIRTIO_F_ADMIN_VQ, its admin queue carrying every command as a descriptor chain, SR-IOV through the
 * host's SriovControl, and a member port per VF over the same discovery and register code. It never
 * knows which host it runs on.
 */
export class VirtioPciTransport implements AdminTransport {
  readonly capabilities = CAPABILITIES;
  private readonly ports = new Map<number, VirtioPciMemberPort>();
  private sriovNow: SriovState = { totalVfs: 0, numVfs: 0, vfEnable: false };
  private closed = false;

  private constructor(
    readonly binding: HostBinding,
    readonly layout: VirtioPciLayout,
    private readonly common: CommonConfig,
    private readonly queue: AdminQueue,
    /** Features negotiated at the last initialization. */
    public features: bigint,
    private readonly opts: VirtioPciOptions,
  ) {}

  /** Initializes the PF (discovery, handshake, admin queue) and binds a port to every VF that exists. Closes the binding if that fails. */
  static async open(binding: HostBinding, opts: VirtioPciOptions): Promise<VirtioPciTransport> {
    try {
      const pf = binding.pf;
      const layout = await discoverLayout(pf);
      const cmd = await pf.configRead(PciCfg.COMMAND, 2);
      await pf.configWrite(PciCfg.COMMAND, 2, cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
      const common = new CommonConfig(new RegionIo(pf, layout.common));
      let queue: AdminQueue | undefined;
      const features = await statusHandshake(common, binding.timing.resetMs, {
        accept: (offered) => ownerFeatures(pf.address, offered, layout),
        setup: async () => {
          queue = new AdminQueue({ fn: pf, common, layout, dma: binding.pfDma, irq: binding.pfIrq, index: await adminQueueIndex(common) });
          await queue.program();
        },
      });
      const t = new VirtioPciTransport(binding, layout, common, queue!, features, opts);
      await t.refreshMembers();
      return t;
    } catch (e) {
      await binding.close().catch(() => undefined);
      throw e;
    }
  }

  get name(): string {
    return this.binding.kind;
  }

  /** How the driver learns that a command completed: MSI-X events from the host, or polling the used ring. */
  get completion(): 'msix' | 'polling' {
    return this.queue.interruptDriven ? 'msix' : 'polling';
  }

  get timing(): DeviceTiming {
    return this.binding.timing;
  }

  exec(cmd: AdminCommandRequest, opts?: AdminExecOptions): Promise<AdminCommandResponse> {
    return execViaFrame((f, o) => this.execFrame(f, o), cmd, opts);
  }

  execFrame(frame: AdminFrame, opts: AdminExecOptions = {}): Promise<AdminFrameCompletion> {
    if (this.closed) return Promise.reject(new TransportClosedError(`the ${this.name} transport is closed`));
    const timeoutMs = opts.timeoutMs ?? this.opts.defaultTimeoutMs ?? this.timing.completionMs;
    return this.queue.submit(frame, this.label(frame.readable), timeoutMs, opts.signal);
  }

  /** The command's name for messages: from its opcode under the active numbering. */
  private label(readable: Uint8Array): string {
    if (readable.length < 2) return `an admin frame of ${readable.length} readable byte(s)`;
    const opcode = readable[0] | (readable[1] << 8);
    return commandName(this.opts.wire.opcodes, opcode) ?? `opcode 0x${opcode.toString(16)}`;
  }

  async identity(): Promise<DeviceIdentity> {
    const pf = this.binding.pf;
    const who = await this.binding.identity();
    const pci = await pciIds(pf);
    const serial = who.serial ?? (await this.dsn());
    const members: MemberIdentity[] = [];
    for (const [id, port] of this.ports) if (port.address !== undefined) members.push({ id, virtioType: port.virtioType, address: port.address });
    return {
      transport: this.binding.kind,
      description: who.description,
      pci,
      address: pf.address,
      ...(serial !== undefined ? { serial } : {}),
      ...(who.firmware !== undefined ? { firmware: who.firmware } : {}),
      members,
    };
  }

  /** PCIe Device Serial Number, where the PF has the capability. */
  private async dsn(): Promise<string | undefined> {
    const at = this.layout.extended.get(PCI_EXT_CAP_ID_DSN);
    if (at === undefined) return undefined;
    const lo = await this.binding.pf.configRead(at + 4, 4);
    const hi = await this.binding.pf.configRead(at + 8, 4);
    return ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16).padStart(16, '0');
  }

  private async vfDeviceId(): Promise<number | undefined> {
    const at = this.layout.extended.get(PCI_EXT_CAP_ID_SRIOV);
    return at === undefined ? undefined : this.binding.pf.configRead(at + SriovReg.VF_DID, 2);
  }

  /** group_member_id values of the VFs that exist now (1..NumVFs while VF Enable is set). */
  memberIds(): number[] {
    const s = this.sriovNow;
    return s.vfEnable ? Array.from({ length: s.numVfs }, (_, i) => i + 1) : [];
  }

  member(id: number): VirtioPciMemberPort {
    const p = this.ports.get(id);
    if (!p) throw new RangeError(`no member ${id} (members: ${this.memberIds().join(', ') || 'none'})`);
    return p;
  }

  /**
   * Binds a port to every VF that exists now and unbinds the rest: VFs are new functions after an
   * SR-IOV change, so this runs after every one the transport makes or sees.
   */
  async refreshMembers(): Promise<void> {
    this.sriovNow = await this.binding.sriov.state();
    const live = new Set(this.memberIds());
    const pfVfDid = await this.vfDeviceId();
    for (const id of live) {
      const vf = await this.binding.vf(id);
      // A VF's own Device ID reads 0xFFFF (PCIe SR-IOV); hosts usually show the PF's VF Device ID there.
      const own = await vf.fn.configRead(PciCfg.DEVICE_ID, 2);
      const did = own !== 0xffff ? own : pfVfDid;
      const type = did === undefined ? 0 : virtioTypeOfDeviceId(did);
      let port = this.ports.get(id);
      if (!port) this.ports.set(id, (port = new VirtioPciMemberPort(id, this.timing)));
      await port.bind(vf, type);
    }
    for (const [id, port] of this.ports) if (!live.has(id)) port.unbind();
  }

  /** The PF's configuration space and common configuration, read only (SR-IOV changes go through sriov()). */
  owner(): OwnerPort {
    const pf = this.binding.pf;
    return {
      pciConfigRead: (o, w) => pf.configRead(o, w),
      commonCfgRead: (o, w) => this.common.io.read(o, w),
    };
  }

  /** SR-IOV control through the host's interface; the member ports follow every change. */
  sriov(): SriovControl {
    const inner = this.binding.sriov;
    return {
      state: () => inner.state(),
      setNumVfs: async (n) => {
        await inner.setNumVfs(n);
        await this.refreshMembers();
      },
    };
  }

  /**
   * Brings the admin queue back: a per-queue reset where VIRTIO_F_RING_RESET was negotiated, else a
   * device reset and a new initialization (which also takes the in-use list back to its reset value,
   * as any owner reset does). Commands still waiting fail; true when the queue is usable again.
   */
  async recover(): Promise<boolean> {
    if (this.closed) return false;
    try {
      if (has(this.features, Feature.RING_RESET) && (await this.queue.resetQueue(this.timing.resetMs))) return true;
      this.features = await statusHandshake(this.common, this.timing.resetMs, {
        accept: (offered) => ownerFeatures(this.binding.pf.address, offered, this.layout),
        setup: async () => {
          this.queue.forget(new TransportAbortedError(`${this.queue.name} was reset with its device`));
          await this.queue.program();
        },
      });
      return true;
    } catch {
      return false;
    }
  }

  /** Leaves the device quiet (PF and bound VFs reset, so nothing writes our memory any more) and closes the binding. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.close();
    const quiet = async (write: () => Promise<void>) => {
      try {
        await write();
      } catch {
        // Best effort: a device that is gone is quiet already.
      }
    };
    for (const port of this.ports.values()) if (port.isBound) await quiet(() => port.commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, 0));
    await quiet(() => this.common.write(CommonCfg.DEVICE_STATUS, 0));
    await this.binding.close();
  }
}

async function adminQueueIndex(common: CommonConfig): Promise<number> {
  const num = await common.read(CommonCfg.ADMIN_QUEUE_NUM);
  if (num === 0) throw new VirtioPciError(common.fnName, 'VIRTIO_F_ADMIN_VQ was negotiated but admin_queue_num reads 0: the device has no administration virtqueue');
  return common.read(CommonCfg.ADMIN_QUEUE_INDEX);
}

async function pciIds(fn: { configRead(o: number, w: 1 | 2 | 4): Promise<number> }): Promise<PciIds> {
  return {
    vendorId: await fn.configRead(PciCfg.VENDOR_ID, 2),
    deviceId: await fn.configRead(PciCfg.DEVICE_ID, 2),
    subsystemVendorId: await fn.configRead(PciCfg.SUBSYSTEM_VENDOR_ID, 2),
    subsystemId: await fn.configRead(PciCfg.SUBSYSTEM_ID, 2),
    revision: await fn.configRead(PciCfg.REVISION_ID, 1),
  };
}
