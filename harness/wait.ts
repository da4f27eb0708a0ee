import type { MemberPort } from '../protocol/member-port.ts';
import { pollUntil } from '../transports/shared/poll.ts';

/** Longest single settle between two looks: a card's settle() sleeps this long. */
const STEP_MS = 10;

/**
 * Waits until `done` holds, letting the device work between looks (settle: the simulator returns as
 * soon as nothing is pending, a card waits), up to `timeoutMs` from the port's declared timing. Never
 * a fixed sleep: a fast device ends the wait at once, a slow one gets the whole declared time.
 */
export async function waitForDevice(port: MemberPort, done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  return pollUntil(async () => {
    if (await done()) return true;
    await port.settle(Math.max(0, Math.min(STEP_MS, until - Date.now())));
    return done();
  }, timeoutMs);
}

/** Asks `done` at once and then at growing intervals until it holds or `timeoutMs` has passed (false then). */
export { pollUntil } from '../transports/shared/poll.ts';
