import type { PciBarInfo } from '../../protocol/pci-function.ts';
import type { PciModelFunction } from '../../device/pci/pci-model.ts';

/** A function that passes every access to `inner`; the host's views override what they change. */
export class ForwardingFunction implements PciModelFunction {
  constructor(protected readonly inner: PciModelFunction) {}

  get configSize(): number {
    return this.inner.configSize;
  }

  bars(): PciBarInfo[] {
    return this.inner.bars();
  }

  configRead(offset: number, width: number): number {
    return this.inner.configRead(offset, width);
  }

  configWrite(offset: number, width: number, value: number): void {
    this.inner.configWrite(offset, width, value);
  }

  barRead(bar: number, offset: number, width: number): number {
    return this.inner.barRead(bar, offset, width);
  }

  barWrite(bar: number, offset: number, width: number, value: number): void {
    this.inner.barWrite(bar, offset, width, value);
  }
}
