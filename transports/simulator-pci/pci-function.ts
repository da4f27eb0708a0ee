import type { BarWidth, ConfigWidth, PciBarInfo, PciFunction } from '../../protocol/pci-function.ts';
import { TransportClosedError } from '../../protocol/transport-errors.ts';
import { allOnes, type PciModelFunction } from '../../device/pci/pci-model.ts';

export interface PostedFunctionOptions {
  /** False once the function is gone (a VF whose VF Enable was cleared): it then reads all ones and drops writes. */
  alive?: () => boolean;
  /** The host's reset of the function (save, FLR, restore). */
  reset: () => Promise<void>;
  /** A posted write the model could not take (a model bug): reported here, never thrown into the event loop. */
  onFault?: (e: unknown) => void;
}

/**
 * A model function behind the host's PCIe ordering rules. BAR writes are posted: the promise resolves
 * at once and the write reaches the function on a later turn of the event loop, in issue order.
 * Configuration writes are non-posted (they resolve once applied). Every read, and every
 * configuration write, is answered only after all BAR writes issued before it have reached the
 * function; it does not wait for the work a write started (a doorbell's ring walk runs on the
 * device's own time). After close() every call rejects with TransportClosedError.
 */
export class PostedPciFunction implements PciFunction {
  readonly bars: readonly PciBarInfo[];
  readonly configSize: number;
  private posted: (() => void)[] = [];
  private draining = false;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly model: PciModelFunction,
    private readonly opts: PostedFunctionOptions,
  ) {
    this.bars = model.bars();
    this.configSize = model.configSize;
  }

  private check(): void {
    if (this.closed) throw new TransportClosedError(`${this.address} is closed`);
  }

  private get gone(): boolean {
    return this.opts.alive ? !this.opts.alive() : false;
  }

  /** Applies every posted write still in flight, in order. */
  private flush(): void {
    const writes = this.posted;
    this.posted = [];
    for (const w of writes) {
      try {
        w();
      } catch (e) {
        this.opts.onFault?.(e);
      }
    }
  }

  private post(write: () => void): void {
    this.posted.push(write);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => {
      this.draining = false;
      if (!this.closed) this.flush();
    });
  }

  async configRead(offset: number, width: ConfigWidth): Promise<number> {
    this.check();
    this.flush();
    return this.gone ? allOnes(width) : this.model.configRead(offset, width);
  }

  async configWrite(offset: number, width: ConfigWidth, value: number): Promise<void> {
    this.check();
    this.flush();
    if (!this.gone) this.model.configWrite(offset, width, value);
  }

  async barRead(bar: number, offset: number, width: BarWidth): Promise<number> {
    this.check();
    this.flush();
    return this.gone ? allOnes(width) : this.model.barRead(bar, offset, width);
  }

  /** Two dword reads, low half first (the model has no 8-byte access). */
  async barRead64(bar: number, offset: number): Promise<bigint> {
    const lo = await this.barRead(bar, offset, 4);
    const hi = await this.barRead(bar, offset + 4, 4);
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }

  async barWrite(bar: number, offset: number, width: BarWidth, value: number): Promise<void> {
    this.check();
    this.post(() => {
      if (!this.gone) this.model.barWrite(bar, offset, width, value);
    });
  }

  async barWrite64(bar: number, offset: number, value: bigint): Promise<void> {
    const v = BigInt.asUintN(64, value);
    await this.barWrite(bar, offset, 4, Number(v & 0xffffffffn));
    await this.barWrite(bar, offset + 4, 4, Number(v >> 32n));
  }

  async reset(): Promise<void> {
    this.check();
    this.flush();
    if (!this.gone) await this.opts.reset();
  }

  async close(): Promise<void> {
    this.flush();
    this.closed = true;
  }
}
