import { decodeModeSetData, DeviceMode, encodeModeGetResult, isValidMode, modeName } from '../../protocol/commands.ts';
import type { MemberCommand } from './handler.ts';
import { type AdminReply, badField, ok, refused } from './reply.ts';

/** DEV_MODE_GET (patch 4/8). */
export function modeGet({ member }: MemberCommand): AdminReply {
  return ok({ result: encodeModeGetResult(member.mode) });
}

/**
 * DEV_MODE_SET (patch 4/8; SD2..SD5). Same mode: success with no effect (SD2 wins over SD5, which
 * speaks of changing the mode). Reserved mode: INVALID_FIELD (SD3). Active or Stop with a partial
 * read or write pending: refused (SD5). A failed command leaves everything as it was (SD4, GD4).
 */
export async function modeSet({ member, cmd }: MemberCommand): Promise<AdminReply> {
  const { mode } = decodeModeSetData(cmd.data);
  if (!isValidMode(mode)) return badField(`mode ${mode} is not Active, Stop or Freeze`);
  if (mode === member.mode) return ok();
  if (mode !== DeviceMode.FREEZE) {
    if (member.readStream.partial) return refused(`the device context is partially read; ${modeName(mode)} refused`);
    if (member.writeStream?.partial) return refused(`the device context is partially written; ${modeName(mode)} refused`);
  }
  await member.enterMode(mode);
  return ok();
}
