import type { PciBarInfo } from '../../protocol/pci-function.ts';

/**
 * One PCI function of a register-level model as the bus sees it: configuration space and BARs at
 * the width of each access (a Function Level Reset is a configuration write, as on a card). Accesses are synchronous and never throw,
 * whatever the offset or width: an access the function does not decode reads all ones and is dropped
 * on write (what a requester sees for an Unsupported Request), see each model for the details. The
 * host binding (transports/simulator-pci) adds posted-write ordering on top.
 */
export interface PciModelFunction {
  /** 4096: every model has the PCIe extended space. */
  readonly configSize: number;
  /** The BARs the function implements, as sized through its Base Address Registers. */
  bars(): PciBarInfo[];
  configRead(offset: number, width: number): number;
  configWrite(offset: number, width: number, value: number): void;
  barRead(bar: number, offset: number, width: number): number;
  barWrite(bar: number, offset: number, width: number, value: number): void;
}

/** The value of a read nobody answers: every data bit set. */
export function allOnes(width: number): number {
  return width === 1 ? 0xff : width === 2 ? 0xffff : 0xffffffff;
}

/** 1, 2 or 4 bytes, naturally aligned, inside `size` bytes: the only accesses a model decodes. */
export function decodable(offset: number, width: number, size: number | bigint): boolean {
  return (
    (width === 1 || width === 2 || width === 4) &&
    Number.isInteger(offset) &&
    offset >= 0 &&
    offset % width === 0 &&
    BigInt(offset + width) <= BigInt(size)
  );
}
