import { expect } from 'vitest';
import { SimulatorTransport } from '../../transports/simulator/simulator-transport.ts';
import type { SimulatorMemberPort } from '../../transports/simulator/member-port.ts';
import { AdminClient } from '../../harness/admin-client.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import type { ReferenceDeviceOptions } from '../../device/options.ts';
import type { VirtioMember } from '../../device/member/virtio-member.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { decodeAdminCmdResult, encodeAdminCmd, type VirtioAdminCmdResult } from '../../protocol/admin-frame.ts';
import { GroupType, Qualifier, Status, qualifierName, statusName } from '../../protocol/status.ts';
import { decodeDevCtx, encodeDevCtx, type VirtioDevCtx } from '../../protocol/device-context.ts';
import { DeviceMode } from '../../protocol/commands.ts';

export const WIRE = SEED_V2_WIRE;
export const OP = SEED_V2_WIRE.opcodes;
export { DeviceMode, GroupType, Qualifier, Status };

export interface Rig {
  sim: SimulatorTransport;
  admin: AdminClient;
  port(id: number): SimulatorMemberPort;
  member(id: number): VirtioMember;
}

/** A simulator with the reference device, an admin client, and (unless `listUse: false`) every command in use. */
export async function rig(device: Partial<ReferenceDeviceOptions> = {}, o: { listUse?: boolean } = {}): Promise<Rig> {
  const sim = new SimulatorTransport({ device });
  const admin = new AdminClient(sim, SEED_V2_WIRE, { timeoutMs: 5000 });
  if (o.listUse !== false) await admin.enableAll();
  return {
    sim,
    admin,
    port: (id) => sim.member(id),
    member: (id) => {
      const m = sim.device.member(id);
      if (!m) throw new RangeError(`no member ${id}`);
      return m;
    },
  };
}

/** Asserts status and qualifier, naming both on failure. */
export function expectStatus(r: Pick<AdminCommandResponse, 'status' | 'qualifier'>, status: number, qualifier: number): void {
  expect(`${statusName(r.status)}/${qualifierName(r.qualifier)}`).toBe(`${statusName(status)}/${qualifierName(qualifier)}`);
}

export function expectOk(r: Pick<AdminCommandResponse, 'status' | 'qualifier'>): void {
  expectStatus(r, Status.OK, Qualifier.OK);
}

/** A refused command: EINVAL with the given qualifier. */
export function expectEinval(r: Pick<AdminCommandResponse, 'status' | 'qualifier'>, qualifier: number): void {
  expectStatus(r, Status.EINVAL, qualifier);
}

/** A command sent as a raw frame with an exact writable length (not rounded to 8 as frameOf does). */
export async function rawExec(
  sim: SimulatorTransport,
  cmd: { opcode: number; memberId: bigint | number; groupType?: number; data?: Uint8Array },
  writableLength: number,
): Promise<VirtioAdminCmdResult> {
  const readable = encodeAdminCmd({ opcode: cmd.opcode, groupType: cmd.groupType ?? GroupType.SRIOV, memberId: BigInt(cmd.memberId), data: cmd.data ?? new Uint8Array(0) });
  const done = await sim.execFrame({ readable, writableLength });
  return decodeAdminCmdResult(done.writable, done.usedLength);
}

export function decodeCtx(bytes: Uint8Array): VirtioDevCtx {
  return decodeDevCtx(bytes, WIRE.ctxStreamAlignment);
}

export function encodeCtx(ctx: VirtioDevCtx): Uint8Array {
  return encodeDevCtx(ctx, WIRE.ctxStreamAlignment);
}

/** The context with one field's value replaced (field chosen by type and, optionally, its n-th occurrence). */
export function withValue(bytes: Uint8Array, type: number, value: (old: Uint8Array) => Uint8Array, nth = 0): Uint8Array {
  const ctx = decodeCtx(bytes);
  let seen = 0;
  const fields = ctx.fields.map((f) => (f.type === type && seen++ === nth ? { type: f.type, value: value(f.value) } : { type: f.type, value: f.value }));
  if (seen <= nth) throw new Error(`no field of type 0x${type.toString(16)} #${nth} in the context`);
  return encodeCtx({ fields });
}

/**
 * Notifies with the member's backend stalled (the hold-requests stimulus) and waits until the device
 * has taken the requests: they are in flight, device-owned, until the backend goes on again.
 */
export async function kickHeld(port: MemberPort, kick: () => Promise<void>): Promise<void> {
  await port.stimuli!.holdRequests!(true);
  await kick();
  await port.settle();
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A promise plus whether it has settled yet (to show a command was still waiting at some point). */
export function tracked<T>(p: Promise<T>): { promise: Promise<T>; readonly settled: boolean } {
  let settled = false;
  const promise = p.finally(() => {
    settled = true;
  });
  return {
    promise,
    get settled() {
      return settled;
    },
  };
}
