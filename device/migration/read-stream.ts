/**
 * The device context stream of one mode (patch 4/8 READ): a snapshot taken at the first READ after
 * a mode change or DISCARD, read front to back and cleared as it is read. E15: "partially read" is
 * true from the first READ that returned data until a READ ends the stream (context_len 0 or less than
 * asked). E16: once ended, READ and SIZE_GET return zero until the next mode change or DISCARD.
 */
export class ContextReadStream {
  private snapshot: Uint8Array | undefined;
  private pos = 0;
  private returnedData = false;
  ended = false;

  get partial(): boolean {
    return this.returnedData && !this.ended;
  }

  get started(): boolean {
    return this.snapshot !== undefined;
  }

  /** Bytes left to read; undefined before the stream has started. */
  get remaining(): number | undefined {
    if (this.ended) return 0;
    return this.snapshot ? this.snapshot.length - this.pos : undefined;
  }

  reset(): void {
    this.snapshot = undefined;
    this.pos = 0;
    this.returnedData = false;
    this.ended = false;
  }

  /** Returns the next chunk of at most `capacity` bytes; `take` builds the snapshot on first use. */
  read(capacity: number, take: () => Uint8Array): Uint8Array {
    if (this.ended) return new Uint8Array(0);
    if (capacity === 0) return new Uint8Array(0);
    this.snapshot ??= take();
    const n = Math.min(capacity, this.snapshot.length - this.pos);
    const chunk = this.snapshot.subarray(this.pos, this.pos + n);
    this.pos += n;
    if (n > 0) this.returnedData = true;
    if (n < capacity) {
      this.ended = true;
      this.snapshot = new Uint8Array(0); // cleared from the device once read (patch 1/8)
    }
    return chunk;
  }
}
