import { execViaFrame } from '../../protocol/admin-exec.ts';
import { decodeAdminCmd, decodeAdminCmdResult } from '../../protocol/admin-frame.ts';
import type { AdminCommandRequest, AdminCommandResponse, AdminExecOptions, AdminFrame, AdminFrameCompletion, AdminTransport, DeviceIdentity, OwnerPort } from '../../protocol/admin-transport.ts';
import type { DeviceTiming } from '../../protocol/host-binding.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import type { SriovControl } from '../../protocol/sriov-control.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import { GroupType, Status } from '../../protocol/status.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';

/** What the windows act on: the binding's members' IOMMU mappings. */
export interface MemberWindows {
  closeWindow(memberId: number): void;
  openWindow(memberId: number): void;
  openAllWindows(): void;
}

/**
 * The owner transport of a card, watching its own DEV_MODE_SET commands: once one that moves a member
 * to Stop or Freeze has completed with OK, the member's memory is revoked from the IOMMU (the draft
 * allows it no access there, so any access is a fault the host sees); before one that moves it back
 * to Active is sent, the memory is mapped back (the device may use it as soon as it is Active). A
 * refused return to Active revokes it again. Everything else passes through unchanged.
 */
export class ModeWindowTransport implements AdminTransport {
  private readonly closed = new Set<number>();

  constructor(
    private readonly inner: AdminTransport,
    private readonly windows: MemberWindows,
    private readonly wire: WireOptions,
    /** Runs once the inner transport is closed (what the transport's opener set up around it). */
    private readonly onClosed: () => void = () => {},
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  /** The card's declared timing, as the inner transport has it. */
  get timing(): DeviceTiming {
    return (this.inner as unknown as { timing: DeviceTiming }).timing;
  }

  /** SR-IOV control of the owner; members made anew are Active, with their memory mapped. */
  sriov(): SriovControl {
    const inner = (this.inner as unknown as { sriov?(): SriovControl }).sriov?.();
    if (!inner) throw new Error(`the ${this.name} transport has no SR-IOV control`);
    return {
      state: () => inner.state(),
      setNumVfs: async (n) => {
        try {
          await inner.setNumVfs(n);
        } finally {
          this.closed.clear();
          this.windows.openAllWindows();
        }
      },
    };
  }

  /** The member and mode of a DEV_MODE_SET for an SR-IOV group member, or undefined for anything else. */
  private modeSet(readable: Uint8Array): { member: number; mode: number } | undefined {
    try {
      const c = decodeAdminCmd(readable);
      if (c.opcode !== this.wire.opcodes.DEV_MODE_SET || c.groupType !== GroupType.SRIOV || c.data.length < 1) return undefined;
      return { member: Number(c.memberId), mode: c.data[0] };
    } catch {
      return undefined;
    }
  }

  async execFrame(frame: AdminFrame, opts?: AdminExecOptions): Promise<AdminFrameCompletion> {
    const ms = this.modeSet(frame.readable);
    if (ms?.mode === DeviceMode.ACTIVE && this.closed.has(ms.member)) this.windows.openWindow(ms.member);
    let done: AdminFrameCompletion;
    try {
      done = await this.inner.execFrame(frame, opts);
    } catch (e) {
      // No answer: the member may still be outside Active; keep it locked out.
      if (ms?.mode === DeviceMode.ACTIVE && this.closed.has(ms.member)) this.windows.closeWindow(ms.member);
      throw e;
    }
    if (!ms) return done;
    let ok = false;
    try {
      ok = decodeAdminCmdResult(done.writable, done.usedLength).status === Status.OK;
    } catch {
      ok = false;
    }
    if (ms.mode === DeviceMode.ACTIVE) {
      if (ok) this.closed.delete(ms.member);
      else if (this.closed.has(ms.member)) this.windows.closeWindow(ms.member);
    } else if (ok && (ms.mode === DeviceMode.STOP || ms.mode === DeviceMode.FREEZE)) {
      this.closed.add(ms.member);
      this.windows.closeWindow(ms.member);
    }
    return done;
  }

  exec(cmd: AdminCommandRequest, opts?: AdminExecOptions): Promise<AdminCommandResponse> {
    return execViaFrame((f, o) => this.execFrame(f, o), cmd, opts);
  }

  identity(): Promise<DeviceIdentity> {
    return this.inner.identity();
  }

  memberIds(): number[] {
    return this.inner.memberIds();
  }

  member(id: number): MemberPort {
    return this.inner.member(id);
  }

  owner(): OwnerPort {
    if (!this.inner.owner) throw new Error(`the ${this.name} transport has no owner port`);
    return this.inner.owner();
  }

  /** Recovery resets the owner: members come back as new functions, in Active. */
  async recover(): Promise<boolean> {
    const ok = await this.inner.recover();
    this.closed.clear();
    this.windows.openAllWindows();
    return ok;
  }

  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      this.onClosed();
    }
  }
}
