const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const SIGNUM: Record<(typeof SIGNALS)[number], number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

/**
 * Makes sure `undo` runs on every way out of the process: the caller's own finally (normal end, thrown
 * error, a crashed test worker), process exit (uncaught errors, process.exit), and SIGINT, SIGTERM and
 * SIGHUP. A signal the process handles elsewhere (the run command aborts the run on SIGINT and still
 * writes its report) is left to that handler: its finally restores, and the exit hook covers the rest.
 * A signal nobody handles restores at once and ends the process with 128 + the signal number.
 * `undo` must be synchronous (sysfs stores are) and idempotent. Returns the function that restores (if
 * not done yet) and removes the guard. `signals` narrows the signals handled here, for a caller whose
 * signals someone else already handles (the transport registry handles SIGINT and SIGTERM).
 */
export function guardExitPaths(undo: () => void, signals: readonly (typeof SIGNALS)[number][] = SIGNALS): () => void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    undo();
  };
  const onExit = () => once();
  const handlers = new Map<string, () => void>();
  for (const sig of signals) {
    const h = () => {
      if (process.listenerCount(sig) > 1) return;
      once();
      release();
      process.exit(128 + SIGNUM[sig]);
    };
    handlers.set(sig, h);
    process.on(sig, h);
  }
  process.on('exit', onExit);
  const release = () => {
    process.off('exit', onExit);
    for (const [sig, h] of handlers) process.off(sig, h);
  };
  return () => {
    once();
    release();
  };
}
