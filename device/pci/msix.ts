import { MSIX_ENTRY_CTRL_MASKED, MSIX_ENTRY_SIZE, MsixEntry } from '../../protocol/pci.ts';

/** Message Control state the table obeys, read from the function's MSI-X capability when needed. */
export interface MsixControl {
  enabled: boolean;
  functionMask: boolean;
}

/** What became of a message the function wanted to send. */
export type MsixOutcome = 'sent' | 'pending' | 'disabled' | 'no-such-vector';

/**
 * The MSI-X table and Pending Bit Array of one function (PCI 3.0 6.8.2). A message for a vector whose
 * entry is masked, or while Function Mask is set, sets the vector's pending bit instead of being sent;
 * clearing the mask sends it then and clears the bit. Entries come out of reset masked. The message
 * itself is reported by vector number: in this process the address and data the driver programmed
 * route nothing, the host hands the vector to the driver as an event.
 *
 * Accesses: the table is read and written in aligned dwords (8-byte accesses arrive as two); the PBA is
 * read-only. Any other width or alignment reads 0 and is ignored on write.
 */
export class MsixTable {
  private readonly entries: Uint8Array;
  private readonly pending: Uint8Array;

  constructor(
    readonly size: number,
    private readonly control: () => MsixControl,
    private readonly send: (vector: number) => void,
  ) {
    this.entries = new Uint8Array(size * MSIX_ENTRY_SIZE);
    this.pending = new Uint8Array(Math.ceil(size / 64) * 8);
    this.reset();
  }

  /** Bytes the table occupies, and the PBA (whole qwords). */
  get tableBytes(): number {
    return this.entries.length;
  }

  get pbaBytes(): number {
    return this.pending.length;
  }

  reset(): void {
    this.entries.fill(0);
    for (let v = 0; v < this.size; v++) this.entries[v * MSIX_ENTRY_SIZE + MsixEntry.VECTOR_CTRL] = MSIX_ENTRY_CTRL_MASKED;
    this.pending.fill(0);
  }

  masked(vector: number): boolean {
    return (this.entries[vector * MSIX_ENTRY_SIZE + MsixEntry.VECTOR_CTRL] & MSIX_ENTRY_CTRL_MASKED) !== 0;
  }

  isPending(vector: number): boolean {
    return (this.pending[vector >> 3] & (1 << (vector & 7))) !== 0;
  }

  private setPending(vector: number, on: boolean): void {
    if (on) this.pending[vector >> 3] |= 1 << (vector & 7);
    else this.pending[vector >> 3] &= ~(1 << (vector & 7));
  }

  /** The function wants to signal `vector`. With MSI-X disabled nothing is sent (the caller falls back to INTx). */
  signal(vector: number): MsixOutcome {
    if (!Number.isInteger(vector) || vector < 0 || vector >= this.size) return 'no-such-vector';
    const c = this.control();
    if (!c.enabled) return 'disabled';
    if (c.functionMask || this.masked(vector)) {
      this.setPending(vector, true);
      return 'pending';
    }
    this.send(vector);
    return 'sent';
  }

  /** Sends every pending vector that is no longer masked (after an entry or Function Mask is cleared, or Enable set). */
  deliverUnmasked(): void {
    const c = this.control();
    if (!c.enabled || c.functionMask) return;
    for (let v = 0; v < this.size; v++) {
      if (this.isPending(v) && !this.masked(v)) {
        this.setPending(v, false);
        this.send(v);
      }
    }
  }

  tableRead(offset: number, width: number): number {
    if (width !== 4 || offset % 4 !== 0 || offset < 0 || offset + 4 > this.entries.length) return 0;
    return new DataView(this.entries.buffer).getUint32(offset, true);
  }

  tableWrite(offset: number, width: number, value: number): void {
    if (width !== 4 || offset % 4 !== 0 || offset < 0 || offset + 4 > this.entries.length) return;
    const ctrl = offset % MSIX_ENTRY_SIZE === MsixEntry.VECTOR_CTRL;
    // Vector Control: only the Mask bit is writable (the rest is reserved and reads 0).
    new DataView(this.entries.buffer).setUint32(offset, ctrl ? value & MSIX_ENTRY_CTRL_MASKED : value >>> 0, true);
    if (ctrl) this.deliverUnmasked();
  }

  pbaRead(offset: number, width: number): number {
    if (width !== 4 || offset % 4 !== 0 || offset < 0 || offset + 4 > this.pending.length) return 0;
    return new DataView(this.pending.buffer).getUint32(offset, true);
  }
}
