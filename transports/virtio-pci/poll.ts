/** Yields to the event loop: other work (an in-process device among it) runs before this resolves. */
export function yieldToLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Reads a condition until it holds or `timeoutMs` has passed; true when it held. The first looks
 * only yield to the event loop (a fast device answers at once), later ones wait a millisecond each,
 * so a slow device costs no busy loop. The condition is always read once more at the deadline.
 */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (let i = 0; ; i++) {
    if (await check()) return true;
    if (performance.now() >= until) return check();
    await (i < 16 ? yieldToLoop() : sleep(1));
  }
}
