import { DecodeError } from '../../protocol/decode-error.ts';

/**
 * The device cannot be driven as a virtio-pci function: a broken capability list, a missing
 * structure, a refused feature set, no admin queue. One message says what was found and what the
 * driver needed; the run stops with it rather than guessing.
 */
export class VirtioPciError extends Error {
  override name = 'VirtioPciError';
  constructor(
    /** The function, as the binding names it (a BDF, a socket path, "simulator-pci/pf"). */
    readonly fn: string,
    detail: string,
  ) {
    super(`${fn}: ${detail}`);
  }
}

/**
 * The device broke the split-ring contract on its used ring (an id never submitted, a chain completed
 * twice, a used length past the chain's writable buffers, a used index that jumps past the queue).
 * It is malformed device output, so it is a DecodeError: the harness charges it to the device.
 */
export class UsedRingError extends DecodeError {
  override name = 'UsedRingError';
  constructor(queue: string, offset: number, detail: string) {
    super(`${queue} used ring`, offset, detail);
  }
}
