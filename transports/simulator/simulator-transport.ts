import type { AdminCommandRequest, AdminCommandResponse, AdminExecOptions, AdminFrame, AdminFrameCompletion, AdminTransport, DeviceIdentity, OwnerPort, TransportCapabilities } from '../../protocol/admin-transport.ts';
import type { DeviceTiming } from '../../protocol/host-binding.ts';
import type { SriovControl } from '../../protocol/sriov-control.ts';
import { execViaFrame } from '../../protocol/admin-exec.ts';
import { commandName } from '../../protocol/opcodes.ts';
import { PCI_VENDOR_ID_REDHAT_QUMRANET, modernDeviceId } from '../../protocol/pci.ts';
import { TransportClosedError } from '../../protocol/transport-errors.ts';
import { SparseGuestMemory } from '../../device/guest-memory.ts';
import type { DmaBackend } from '../../device/dma.ts';
import { ReferenceDevice } from '../../device/reference-device.ts';
import type { MemberTimings } from '../../device/member/virtio-member.ts';
import type { ReferenceDeviceOptions } from '../../device/options.ts';
import { withDeadline } from '../shared/deadline.ts';
import { sriovThroughCapability } from '../shared/sriov-capability.ts';
import { MemberObservations, SimulatorMemberPort } from './member-port.ts';

export interface SimulatorOptions {
  device?: Partial<ReferenceDeviceOptions>;
  /** Builds the device; mutants (issue 7) plug in here. */
  createDevice?: (opts: Partial<ReferenceDeviceOptions>, wiring: ConstructorParameters<typeof ReferenceDevice>[1]) => ReferenceDevice;
  /** Default per-command timeout when a call gives none. */
  defaultTimeoutMs?: number;
}

const CAPABILITIES: TransportCapabilities = { memberPort: true, rawFrames: true, recover: true, ownerConfig: true, sriovControl: true };

/**
 * What the simulator declares for a device with these timings. Its work runs at the next turn of the
 * event loop (or after the modelled delays) and settle() returns as soon as nothing is pending, so
 * these bounds cost time only when the device never does what was waited for (a seeded bug).
 */
export function simulatorTiming(t: MemberTimings): DeviceTiming {
  return {
    completionMs: 200 + 2 * t.requestMs,
    quietMs: 20 + t.requestMs,
    resetMs: 200 + Math.max(t.flrMs, t.pmMs, t.resetMs),
  };
}

/**
 * The built-in simulator: the reference device in this process, no PCI layer. Admin frames go
 * straight to the device as bytes (so every command crosses the real codecs); member ports reach
 * its members' registers; every device access to guest memory and every interrupt is observed.
 */
export class SimulatorTransport implements AdminTransport {
  readonly name = 'simulator';
  readonly capabilities = CAPABILITIES;
  readonly device: ReferenceDevice;
  readonly timing: DeviceTiming;
  private readonly ports = new Map<number, SimulatorMemberPort>();
  private readonly seen = new Map<number, MemberObservations>();
  private readonly memories = new Map<number, SparseGuestMemory>();
  private closed = false;

  constructor(private readonly opts: SimulatorOptions = {}) {
    const observe = (id: number) => {
      let o = this.seen.get(id);
      if (!o) this.seen.set(id, (o = new MemberObservations()));
      return o;
    };
    const memory = (id: number) => {
      let m = this.memories.get(id);
      if (!m) this.memories.set(id, (m = new SparseGuestMemory()));
      return m;
    };
    const create = opts.createDevice ?? ((o, w) => new ReferenceDevice(o, w));
    this.device = create(opts.device ?? {}, {
      dma: (id): DmaBackend => {
        const mem = memory(id);
        const log = observe(id);
        return {
          read: (addr, len) => {
            log.dma.push({ seq: this.device.clock.next(), kind: 'read', addr, len });
            return mem.read(addr, len);
          },
          write: (addr, data) => {
            log.dma.push({ seq: this.device.clock.next(), kind: 'write', addr, len: data.length });
            mem.write(addr, data);
          },
        };
      },
      hooks: {
        interrupt: (id, vector) => {
          const seq = this.device.clock.next();
          observe(id).events.push(vector === 'intx' ? { seq, kind: 'intx' } : { seq, kind: 'msix', vector });
        },
        pme: (id) => observe(id).events.push({ seq: this.device.clock.next(), kind: 'pme' }),
      },
    });
    this.timing = simulatorTiming(this.device.options.timings);
    for (const [id, m] of this.device.members) this.ports.set(id, new SimulatorMemberPort(m, memory(id), observe(id), this.timing));
  }

  exec(cmd: AdminCommandRequest, opts?: AdminExecOptions): Promise<AdminCommandResponse> {
    return execViaFrame((f, o) => this.execFrame(f, o), cmd, opts);
  }

  execFrame(frame: AdminFrame, opts: AdminExecOptions = {}): Promise<AdminFrameCompletion> {
    if (this.closed) return Promise.reject(new TransportClosedError('the simulator transport is closed'));
    const op = this.device.submit(frame.readable, frame.writableLength);
    const timeoutMs = opts.timeoutMs ?? this.opts.defaultTimeoutMs;
    if (!timeoutMs && !opts.signal) return op;
    const opcode = frame.readable.length >= 2 ? frame.readable[0] | (frame.readable[1] << 8) : -1;
    const name = commandName(this.device.options.wire.opcodes, opcode) ?? `opcode 0x${opcode.toString(16)}`;
    return withDeadline(op, name, timeoutMs, opts.signal);
  }

  async identity(): Promise<DeviceIdentity> {
    const o = this.device.options;
    return {
      transport: 'simulator',
      description: `vmcts reference device, ${o.members.length} member(s): ${o.members.map((m) => m.type).join(', ')}`,
      pci: { vendorId: PCI_VENDOR_ID_REDHAT_QUMRANET, deviceId: modernDeviceId(2), subsystemVendorId: PCI_VENDOR_ID_REDHAT_QUMRANET, subsystemId: 0x40, revision: 1 },
      address: 'simulator',
      serial: o.serial,
      firmware: o.firmware,
      members: [...this.device.members.values()].map((m) => ({ id: m.id, virtioType: m.virtioType, address: `simulator/vf${m.id}` })),
    };
  }

  memberIds(): number[] {
    return [...this.device.members.keys()];
  }

  member(id: number): SimulatorMemberPort {
    const p = this.ports.get(id);
    if (!p) throw new RangeError(`no member ${id} (members: ${this.memberIds().join(', ')})`);
    return p;
  }

  owner(): OwnerPort {
    const pf = this.device.pf;
    return {
      pciConfigRead: async (o, w) => pf.configRead(o, w),
      commonCfgRead: async (o, w) => pf.commonCfgRead(o, w),
    };
  }

  /** NumVFs and VF Enable through the PF's SR-IOV capability (this process owns the model's config space). */
  sriov(): SriovControl {
    const pf = this.device.pf;
    this.sriovControl ??= sriovThroughCapability(
      { read: async (o, w) => pf.configRead(o, w), write: async (o, w, v) => pf.configWrite(o, w, v), configSize: pf.config.length },
      // The VFs are gone or new once the members have finished the reset VF Enable sets off.
      () => withDeadline(Promise.all([...this.device.members.values()].map((m) => m.idle())).then(() => undefined), 'the VFs after an SR-IOV change', this.timing.resetMs),
    );
    return this.sriovControl;
  }

  private sriovControl: SriovControl | undefined;

  /** Drops commands stuck in the device (as a queue reset would) and brings the in-use list back to its reset value. */
  async recover(): Promise<boolean> {
    if (this.closed) return false;
    this.device.abandonQueue();
    this.device.resetOwner();
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
