import type { VirtioAdminCmd } from '../../protocol/admin-frame.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import type { VirtioMember } from '../member/virtio-member.ts';
import type { WriteRecordCaps } from '../options.ts';
import type { AdminReply } from './reply.ts';

/** Everything a member command handler may look at. Handlers run with the member's lock held. */
export interface MemberCommand {
  cmd: VirtioAdminCmd;
  member: VirtioMember;
  /** Bytes of command_specific_result the driver offered (writable part minus its 8-byte header). */
  resultCapacity: number;
  wire: WireOptions;
  writeRecordCaps: WriteRecordCaps;
}

export type MemberHandler = (c: MemberCommand) => AdminReply | Promise<AdminReply>;
