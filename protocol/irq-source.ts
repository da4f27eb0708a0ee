/** One interrupt message the host saw from a function: an MSI-X vector, or the INTx line. */
export interface IrqEvent {
  /** Position in the binding's single event order (shared with the DMA access log). */
  seq: number;
  vector: number | 'intx';
}

/**
 * Interrupts of one function as the host delivers them: MSI-X vectors as events (VFIO eventfds, the
 * in-process model), found by polling what the device exposes (vfio-user: the PBA of masked vectors
 * or the ISR), or not at all. `pollMs` is the cadence at which a polled source looks; waits for an
 * interrupt allow at least that long.
 */
export interface IrqSource {
  readonly delivery: 'events' | 'polling' | 'none';
  readonly pollMs: number;
  /** Events since the last call. */
  take(): IrqEvent[];
  /** Resolves true when an event is pending (or arrives) within timeoutMs, false when the time is up. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}
