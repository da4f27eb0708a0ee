import { TransportAbortedError, TransportTimeoutError } from '../../protocol/transport-errors.ts';

/**
 * Races an operation against a timeout and an abort signal. The operation itself is not cancelled
 * (a hung device keeps its command); the caller gets an answer in bounded time.
 */
export function withDeadline<T>(op: Promise<T>, what: string, timeoutMs: number | undefined, signal?: AbortSignal): Promise<T> {
  if (!timeoutMs && !signal) return op;
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => finish(() => reject(new TransportAbortedError(`${what} aborted`)));
    const finish = (f: () => void) => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      f();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs) timer = setTimeout(() => finish(() => reject(new TransportTimeoutError(what, timeoutMs))), timeoutMs);
    op.then(
      (v) => finish(() => resolve(v)),
      (e) => finish(() => reject(e)),
    );
  });
}
