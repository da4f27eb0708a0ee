import type { PciBarInfo } from '../../protocol/pci-function.ts';
import { PCI_BAR_MEM_PREFETCH, PCI_BAR_MEM_TYPE_64 } from '../../protocol/pci.ts';

/** One memory BAR a function implements (size a power of two of at least 16 bytes; 0 = not implemented). */
export interface BarDef {
  index: number;
  size: bigint;
  is64: boolean;
  prefetchable: boolean;
}

const DWORDS = 6;
const LOW_FLAG_BITS = 0xfn;

/**
 * Six Base Address Registers as hardware implements them (PCI 3.0 6.2.5.1): the address bits below the
 * BAR's size are hardwired to 0 and the low four bits hold the type, so writing all ones and reading
 * back gives the size mask. A 64-bit BAR takes its dword and the next; a dword no BAR uses reads 0 and
 * ignores writes. Used for the PF header (0x10) and the SR-IOV capability's VF BAR0..5 array.
 */
export class BarRegisters {
  private readonly byDword = new Map<number, { def: BarDef; high: boolean }>();
  private readonly address = new Map<number, bigint>();

  constructor(readonly defs: readonly BarDef[]) {
    for (const def of defs) {
      if (def.size === 0n) continue;
      this.byDword.set(def.index, { def, high: false });
      if (def.is64) this.byDword.set(def.index + 1, { def, high: true });
      this.address.set(def.index, 0n);
    }
  }

  /** The implemented BARs as a PciFunction lists them (a BAR of size 0 is not implemented). */
  info(): PciBarInfo[] {
    return this.defs.filter((d) => d.size > 0n).map((d) => ({ index: d.index, size: d.size, kind: 'memory', is64: d.is64, prefetchable: d.prefetchable }));
  }

  private flags(def: BarDef): bigint {
    return (def.is64 ? BigInt(PCI_BAR_MEM_TYPE_64) : 0n) | (def.prefetchable ? BigInt(PCI_BAR_MEM_PREFETCH) : 0n);
  }

  /** Dword `i` (0..5) of the register block. */
  read(i: number): number {
    const slot = this.byDword.get(i);
    if (!slot) return 0;
    const v = (this.address.get(slot.def.index) ?? 0n) | this.flags(slot.def);
    return Number(slot.high ? (v >> 32n) & 0xffffffffn : v & 0xffffffffn);
  }

  /** A full-dword write of dword `i`; the hardwired bits keep their value. */
  write(i: number, value: number): void {
    const slot = this.byDword.get(i);
    if (!slot || i < 0 || i >= DWORDS) return;
    const { def } = slot;
    const width = def.is64 ? 64n : 32n;
    const mask = BigInt.asUintN(Number(width), ~(def.size - 1n)) & ~LOW_FLAG_BITS;
    const old = this.address.get(def.index) ?? 0n;
    const merged = slot.high ? (old & 0xffffffffn) | (BigInt(value >>> 0) << 32n) : (old & ~0xffffffffn) | BigInt(value >>> 0);
    this.address.set(def.index, merged & mask);
  }

  /** Byte-granular access inside the six dwords (config space carries byte enables). */
  readBytes(offset: number, width: 1 | 2 | 4): number {
    const dw = this.read(offset >> 2);
    return width === 4 ? dw >>> 0 : (dw >>> (8 * (offset & 3))) & (width === 2 ? 0xffff : 0xff);
  }

  writeBytes(offset: number, width: 1 | 2 | 4, value: number): void {
    const i = offset >> 2;
    if (width === 4) return this.write(i, value);
    const shift = 8 * (offset & 3);
    const laneMask = (width === 2 ? 0xffff : 0xff) << shift;
    this.write(i, ((this.read(i) & ~laneMask) | ((value << shift) & laneMask)) >>> 0);
  }

  reset(): void {
    for (const k of this.address.keys()) this.address.set(k, 0n);
  }
}
