import type { BarWidth, PciFunction } from '../../protocol/pci-function.ts';

/** Where a virtio structure lives: a BAR, the offset of the structure in it and its length (virtio_pci_cap). */
export interface Region {
  bar: number;
  offset: number;
  length: number;
}

/**
 * Register access inside one structure at exact width: offsets are relative to the structure, as
 * the spec's tables give them. Accesses are not clipped to the structure's length: a driver that
 * reaches past it gets what the BAR answers, as it would on a card.
 */
export class RegionIo {
  constructor(
    readonly fn: PciFunction,
    readonly region: Region,
  ) {}

  read(offset: number, width: BarWidth): Promise<number> {
    return this.fn.barRead(this.region.bar, this.region.offset + offset, width);
  }

  write(offset: number, width: BarWidth, value: number): Promise<void> {
    return this.fn.barWrite(this.region.bar, this.region.offset + offset, width, value);
  }
}
