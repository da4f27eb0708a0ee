/**
 * Where a member's device-side memory accesses go: the guest memory of the simulator (synchronous),
 * or client memory over vfio-user DMA messages (asynchronous). The device awaits every access, so
 * one model serves both.
 */
export interface DmaBackend {
  read(addr: bigint, len: number): Uint8Array | Promise<Uint8Array>;
  write(addr: bigint, data: Uint8Array): void | Promise<void>;
}

/** Thrown inside the reference device when its own logic would break a no-access rule; never expected. */
export class DeviceInvariantError extends Error {
  override name = 'DeviceInvariantError';
}

/**
 * The member's bus-master port: every access the device makes goes through here, so the write
 * recorder sees every write (patch 7/8) and the mode guard can stop accesses outside Active (SD11a,
 * SD12a). Mutants replace the guard to model firmware that keeps DMA-ing.
 */
export class MemberDma {
  constructor(
    private readonly backend: DmaBackend,
    private readonly onWrite: (addr: bigint, len: number) => void,
    private readonly guard: (kind: 'read' | 'write', addr: bigint, len: number) => void,
  ) {}

  async read(addr: bigint, len: number): Promise<Uint8Array> {
    this.guard('read', addr, len);
    return await this.backend.read(addr, len);
  }

  async write(addr: bigint, data: Uint8Array): Promise<void> {
    this.guard('write', addr, data.length);
    await this.backend.write(addr, data);
    this.onWrite(addr, data.length);
  }

  async readU16(addr: bigint): Promise<number> {
    const b = await this.read(addr, 2);
    return b[0] | (b[1] << 8);
  }

  async writeU16(addr: bigint, v: number): Promise<void> {
    await this.write(addr, Uint8Array.of(v & 0xff, (v >>> 8) & 0xff));
  }
}
