import { decodeAdminCmdResult, encodeAdminCmd, WRITABLE_HEADER_SIZE } from './admin-frame.ts';
import type { AdminCommandRequest, AdminCommandResponse, AdminExecOptions, AdminFrame, AdminFrameCompletion } from './admin-transport.ts';
import { alignUp } from './bytes.ts';

/** The frame a driver that follows VR3 sends for a command: both parts padded to a multiple of 8. */
export function frameOf(cmd: AdminCommandRequest): AdminFrame {
  return {
    readable: encodeAdminCmd({ opcode: cmd.opcode, groupType: cmd.groupType, memberId: cmd.memberId, data: cmd.data }, !cmd.unpadded),
    writableLength: WRITABLE_HEADER_SIZE + alignUp(cmd.resultCapacity, 8),
  };
}

/** exec() in terms of execFrame(), for transports whose device speaks bytes. */
export async function execViaFrame(
  execFrame: (f: AdminFrame, o?: AdminExecOptions) => Promise<AdminFrameCompletion>,
  cmd: AdminCommandRequest,
  opts?: AdminExecOptions,
): Promise<AdminCommandResponse> {
  const done = await execFrame(frameOf(cmd), opts);
  return decodeAdminCmdResult(done.writable, done.usedLength);
}
