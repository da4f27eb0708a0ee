import { TransportTimeoutError } from '../../protocol/transport-errors.ts';

/** Intervals between polls: the next turn of the event loop three times, then 1, 2, 4, 8 ms, then every 10 ms. */
const STEPS = [0, 0, 0, 1, 2, 4, 8];
const LAST_STEP = 10;

/** The next turn of the event loop for 0, else a timer of `ms`. */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => (ms > 0 ? setTimeout(r, ms) : setImmediate(r)));
}

/**
 * Asks `done` at once and then at growing intervals until it holds; false once `timeoutMs` has passed
 * without it. Short first steps keep a fast device fast (an in-process model answers at the next turn),
 * the longer later ones keep a slow one (a card's 100 ms FLR) from being polled thousands of times.
 */
export async function pollUntil(done: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    if (await done()) return true;
    if (Date.now() >= until) return false;
    await pause(Math.min(STEPS[i] ?? LAST_STEP, Math.max(0, until - Date.now())));
  }
}

/** pollUntil that rejects with TransportTimeoutError(`what`) when the time is up. */
export async function pollOrTimeout(done: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  if (!(await pollUntil(done, timeoutMs))) throw new TransportTimeoutError(what, timeoutMs);
}
