import {
  decodeCtxWriteData,
  decodeSizeGetData,
  encodeCtxReadOutput,
  encodeFieldsQueryResult,
  encodeSizeGetResult,
  DeviceMode,
} from '../../protocol/commands.ts';
import { encodeDevCtx } from '../../protocol/device-context.ts';
import { buildContext, contextSize, supportedFields } from '../migration/context-codec.ts';
import { ContextWriteStream } from '../migration/write-stream.ts';
import type { MemberCommand } from './handler.ts';
import { type AdminReply, badField, ok, refused } from './reply.ts';

/**
 * DEV_CTX_SIZE_GET: the remaining estimated size. Before the stream starts it is the size of the
 * context the device would produce now; for freeze_mode 1 the estimate for Freeze (the reference
 * device's context does not grow on the way to Freeze, so it is the same figure). Zero once the
 * stream has ended (E16). freeze_mode above 1: INVALID_FIELD (E18).
 */
export function sizeGet({ member, cmd, wire }: MemberCommand): AdminReply {
  const { freezeMode } = decodeSizeGetData(cmd.data);
  if (freezeMode > 1) return badField(`freeze_mode ${freezeMode} is not 0 or 1`);
  const remaining = member.readStream.remaining ?? contextSize(member, wire);
  return ok({ result: encodeSizeGetResult(BigInt(remaining)) });
}

/** DEV_CTX_READ: the next bytes of the context stream; context_len in command_specific_output (SD6, SD7, E19). */
export function read({ member, resultCapacity, wire }: MemberCommand): AdminReply {
  const chunk = member.readStream.read(resultCapacity, () => encodeDevCtx(buildContext(member, wire), wire.ctxStreamAlignment));
  return ok({ output: encodeCtxReadOutput(chunk.length), result: chunk });
}

/** DEV_CTX_WRITE: only in Freeze (SD10); each field checked against the device (SD15). */
export function write({ member, cmd, wire }: MemberCommand): AdminReply {
  if (member.mode !== DeviceMode.FREEZE) return refused('DEV_CTX_WRITE outside Freeze');
  const data = decodeCtxWriteData(cmd.data, wire);
  if (data.length === 0) return ok();
  member.writeStream ??= new ContextWriteStream(wire);
  const reason = member.writeStream.write(member, data);
  return reason === undefined ? ok() : badField(reason);
}

/** DEV_CTX_FIELDS_QUERY: the supported types and their lengths. */
export function fieldsQuery({ member, wire }: MemberCommand): AdminReply {
  return ok({ result: encodeFieldsQueryResult(supportedFields(member, wire)) });
}

/**
 * DEV_CTX_DISCARD: forget the partial read (the next READ starts a new context of this mode, SD8) and
 * everything written since the last complete context (as if never written, SD13); a complete context
 * written before the partial one is kept (patch 4/8: only the partially written context is discarded).
 */
export function discard({ member }: MemberCommand): AdminReply {
  member.readStream.reset();
  if (member.writeStream?.pending) member.writeStream.discardPartial();
  else member.writeStream = undefined;
  return ok();
}
