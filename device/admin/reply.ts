import { Qualifier, Status } from '../../protocol/status.ts';

/** What a command handler answers; the owner encodes it into the driver's writable buffer. */
export interface AdminReply {
  status: number;
  qualifier: number;
  output?: Uint8Array;
  result?: Uint8Array;
  /** Why the command failed, in words (kept by the device for diagnostics, never sent). */
  reason?: string;
}

export function ok(parts: { output?: Uint8Array; result?: Uint8Array } = {}): AdminReply {
  return { status: Status.OK, qualifier: Qualifier.OK, ...parts };
}

export function einval(qualifier: number, reason: string): AdminReply {
  return { status: Status.EINVAL, qualifier, reason };
}

/** A command that the current state does not allow (P5: EINVAL with INVALID_COMMAND). */
export function refused(reason: string): AdminReply {
  return einval(Qualifier.INVALID_COMMAND, reason);
}

/** A bad value in command_specific_data (P4: EINVAL with INVALID_FIELD). */
export function badField(reason: string): AdminReply {
  return einval(Qualifier.INVALID_FIELD, reason);
}
