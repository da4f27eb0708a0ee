import { decodeAdminCmdAsDevice, encodeAdminCmdResult, WRITABLE_HEADER_SIZE, type VirtioAdminCmd } from '../protocol/admin-frame.ts';
import { decodeOpcodeBitmap, DeviceMode, encodeOpcodeBitmap } from '../protocol/commands.ts';
import { commandName, CONTEXT_GROUP, type CommandName, WRITE_RECORD_GROUP } from '../protocol/opcodes.ts';
import { GroupType, Qualifier } from '../protocol/status.ts';
import * as ctx from './admin/context-commands.ts';
import type { MemberHandler } from './admin/handler.ts';
import * as mode from './admin/mode-commands.ts';
import { type AdminReply, badField, einval, ok } from './admin/reply.ts';
import * as wr from './admin/write-record-commands.ts';
import type { DmaBackend } from './dma.ts';
import { EventClock } from './event-clock.ts';
import { BlockBacking } from './member/block-backing.ts';
import { BlockMember } from './member/block.ts';
import { EntropyMember } from './member/entropy.ts';
import type { MemberHooks, VirtioMember } from './member/virtio-member.ts';
import { deviceOptions, type ReferenceDeviceOptions } from './options.ts';
import { PfFunction } from './owner/pf-function.ts';

const MEMBER_HANDLERS: Partial<Record<CommandName, MemberHandler>> = {
  DEV_MODE_GET: mode.modeGet,
  DEV_MODE_SET: mode.modeSet,
  DEV_CTX_SIZE_GET: ctx.sizeGet,
  DEV_CTX_READ: ctx.read,
  DEV_CTX_WRITE: ctx.write,
  DEV_CTX_FIELDS_QUERY: ctx.fieldsQuery,
  DEV_CTX_DISCARD: ctx.discard,
  DEV_WRITE_RECORD_CAP_QUERY: wr.capQuery,
  DEV_WRITE_RECORDS_START: wr.start,
  DEV_WRITE_RECORDS_STOP: wr.stop,
  DEV_WRITE_RECORDS_READ: wr.readRecords,
};

export interface ReferenceDeviceWiring {
  /** Where member `id` does its DMA. */
  dma(memberId: number): DmaBackend;
  hooks: MemberHooks;
}

/** The last command the device refused and why (diagnostics for the simulator's trace, never on the wire). */
export interface RefusalNote {
  opcode: number;
  memberId: bigint;
  reason: string;
}

/**
 * The reference device: an SR-IOV owner (PF) whose members (VFs) are block or entropy devices, and
 * which answers group administration commands exactly as the seed-v2 profile reads the draft. Frames
 * are processed one at a time in arrival order (VD7), whatever the transport.
 */
export class ReferenceDevice {
  readonly options: ReferenceDeviceOptions;
  readonly clock = new EventClock();
  readonly members = new Map<number, VirtioMember>();
  readonly disk: BlockBacking;
  /** The owner PF: SR-IOV capability (VF Enable, NumVFs) and its common configuration. */
  readonly pf: PfFunction;
  /** Opcodes the device supports for the SR-IOV group type. */
  readonly supported: ReadonlySet<number>;
  /** The in-use list: only LIST_QUERY and LIST_USE until LIST_USE says otherwise (GD8). */
  private inUse: Set<number>;
  private tail: Promise<unknown> = Promise.resolve();
  /** Command handlers by name; seeded-bug variants (device/mutants) wrap or replace entries. */
  readonly handlers: Partial<Record<CommandName, MemberHandler>> = { ...MEMBER_HANDLERS };
  lastRefusal: RefusalNote | undefined;

  constructor(opts: Partial<ReferenceDeviceOptions>, wiring: ReferenceDeviceWiring) {
    this.options = deviceOptions(opts);
    const o = this.options;
    this.disk = new BlockBacking(o.diskSectors);
    this.pf = new PfFunction(o.members.length, o.members[0]?.type === 'entropy' ? 4 : 2);
    o.members.forEach((spec, i) => {
      const id = i + 1;
      const init = {
        id,
        numQueues: spec.type === 'entropy' ? 1 : (spec.numQueues ?? 1),
        queueSizeMax: spec.queueSizeMax ?? 256,
        timings: o.timings,
        dma: wiring.dma(id),
        hooks: wiring.hooks,
        clock: this.clock,
      };
      this.members.set(id, spec.type === 'entropy' ? new EntropyMember(init, o.seed + id) : new BlockMember(init, this.disk, `${o.serial}-VF${id}`));
    });
    const t = o.wire.opcodes;
    const sup = new Set<number>([t.LIST_QUERY, t.LIST_USE]);
    if (o.commandSets.context) for (const c of CONTEXT_GROUP) sup.add(t[c]);
    if (o.commandSets.context && o.commandSets.fieldsQuery) sup.add(t.DEV_CTX_FIELDS_QUERY);
    if (o.commandSets.writeRecords) for (const c of WRITE_RECORD_GROUP) sup.add(t[c]);
    this.supported = sup;
    this.inUse = this.baseInUse();
    this.pf.onVfEnableChange = (enabled) => {
      if (!enabled) this.releaseMembers();
    };
  }

  /**
   * VF Enable cleared: the VFs cease to exist, and the ones VF Enable brings back are new instances,
   * in the default mode Active (patch 1/8 mode table) with no context stream, no write recording and
   * their PCI function and virtio state reset.
   */
  protected releaseMembers(): void {
    for (const m of this.members.values()) {
      m.mode = DeviceMode.ACTIVE;
      m.readStream.reset();
      m.writeStream = undefined;
      m.recorder.stop();
      void m.startFlr();
    }
  }

  private baseInUse(): Set<number> {
    return new Set([this.options.wire.opcodes.LIST_QUERY, this.options.wire.opcodes.LIST_USE]);
  }

  member(id: number): VirtioMember | undefined {
    return this.members.get(id);
  }

  /** Owner device reset: the in-use list goes back to {LIST_QUERY, LIST_USE} (GD8). Members keep their state. */
  resetOwner(): void {
    this.inUse = this.baseInUse();
  }

  /** Forgets commands still queued or stuck (an admin queue reset); later commands do not wait for them. */
  abandonQueue(): void {
    this.tail = Promise.resolve();
  }

  /** One admin command as a descriptor chain: readable bytes in, writable bytes and used length out. */
  submit(readable: Uint8Array, writableLength: number): Promise<{ writable: Uint8Array; usedLength: number }> {
    const run = this.tail.then(() => this.process(readable, writableLength));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async process(readable: Uint8Array, writableLength: number): Promise<{ writable: Uint8Array; usedLength: number }> {
    const cmd = decodeAdminCmdAsDevice(readable);
    const reply = await this.execute(cmd, Math.max(0, writableLength - WRITABLE_HEADER_SIZE));
    if (reply.reason) this.lastRefusal = { opcode: cmd.opcode, memberId: cmd.memberId, reason: reply.reason };
    // VD5 as the suite reads it: the writable part is initialized in whole 8-byte units, so a result
    // of another length (MODE_GET's one byte, a context chunk) is followed by zeros up to the next
    // multiple of 8, as far as the buffer goes (the used length counts them).
    const result = reply.result;
    if (result && result.length % 8 !== 0) {
      const padded = new Uint8Array(result.length + 8 - (result.length % 8));
      padded.set(result);
      return encodeAdminCmdResult({ ...reply, result: padded }, writableLength);
    }
    return encodeAdminCmdResult(reply, writableLength);
  }

  /** GD1: group type, then opcode (supported and in use, GD10), then member id (GD13), in that order. */
  async execute(cmd: VirtioAdminCmd, resultCapacity: number): Promise<AdminReply> {
    const t = this.options.wire.opcodes;
    if (cmd.groupType !== GroupType.SRIOV) return einval(Qualifier.INVALID_GROUP, `group_type ${cmd.groupType} is not SR-IOV`);
    // GD13: the SR-IOV group exists only while VF Enable is set.
    if (!this.pf.vfEnabled) return einval(Qualifier.INVALID_GROUP, 'VF Enable is clear: the SR-IOV group does not exist');
    if (!this.supported.has(cmd.opcode) || !this.inUse.has(cmd.opcode)) {
      return einval(Qualifier.INVALID_OPCODE, `opcode 0x${cmd.opcode.toString(16)} is ${this.supported.has(cmd.opcode) ? 'not in the in-use list' : 'not supported'}`);
    }
    if (cmd.opcode === t.LIST_QUERY) return this.listQuery();
    if (cmd.opcode === t.LIST_USE) return this.listUse(cmd);
    const name = commandName(t, cmd.opcode);
    const handler = name && this.handlers[name];
    if (!handler) return einval(Qualifier.INVALID_OPCODE, `opcode 0x${cmd.opcode.toString(16)} has no handler`);
    const numVfs = Math.min(this.pf.numVfs, this.members.size);
    const member = cmd.memberId >= 1n && cmd.memberId <= BigInt(numVfs) ? this.members.get(Number(cmd.memberId)) : undefined;
    if (!member) return einval(Qualifier.INVALID_MEMBER, `group_member_id ${cmd.memberId} is outside 1..${numVfs} (NumVFs)`);
    return this.withMember(member, () =>
      handler({ cmd, member, resultCapacity, wire: this.options.wire, writeRecordCaps: this.options.writeRecordCaps }),
    );
  }

  /** LIST_QUERY: the supported list (always holding LIST_QUERY and LIST_USE). */
  protected listQuery(): AdminReply {
    return ok({ result: encodeOpcodeBitmap(this.supported) });
  }

  /** GD9/GD6: the list becomes the in-use list unless it names an opcode the device does not support. */
  protected listUse(cmd: VirtioAdminCmd): AdminReply {
    const wanted = decodeOpcodeBitmap(cmd.data);
    for (const op of wanted) if (!this.supported.has(op)) return badField(`LIST_USE names unsupported opcode 0x${op.toString(16)}`);
    this.inUse = wanted;
    return ok();
  }

  /**
   * Runs a member command once no FLR, reset or power transition of that member is in progress
   * (SD14c-e: the command is answered after it completes), holding the member's lock.
   */
  private async withMember(member: VirtioMember, fn: () => AdminReply | Promise<AdminReply>): Promise<AdminReply> {
    for (;;) {
      await member.idle();
      const BUSY = Symbol('busy');
      const r = await member.lock.run(() => (member.isBusy ? BUSY : fn()));
      if (r !== BUSY) return r as AdminReply;
    }
  }
}
