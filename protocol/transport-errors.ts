/** A command or access did not complete in time. The harness maps it to TIMEOUT, and to WEDGED when recovery fails. */
export class TransportTimeoutError extends Error {
  override name = 'TransportTimeoutError';
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what} did not complete within ${timeoutMs} ms`);
  }
}

/** The transport lost its device (socket closed, device removed) or was closed. */
export class TransportClosedError extends Error {
  override name = 'TransportClosedError';
}

/** The caller aborted the operation (AbortSignal). */
export class TransportAbortedError extends Error {
  override name = 'TransportAbortedError';
}
