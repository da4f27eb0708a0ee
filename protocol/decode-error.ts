/**
 * The one error every decoder throws on bad input (DESIGN.md "Key contracts"): a length that runs
 * past the buffer, a truncated structure, a value in a reserved range. `what` names the structure,
 * `offset` the byte where decoding stopped.
 */
export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    readonly what: string,
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${what} at byte ${offset}: ${detail}`);
  }
}
