export const SECTOR_SIZE = 512;

/**
 * The RAM disk behind block members. One backing can be shared by several members, as network
 * storage is shared by the source and destination of a migration.
 */
export class BlockBacking {
  private readonly sectorsData = new Map<number, Uint8Array>();

  constructor(readonly sectors: number) {}

  read(sector: number, count: number): Uint8Array {
    const out = new Uint8Array(count * SECTOR_SIZE);
    for (let i = 0; i < count; i++) {
      const s = this.sectorsData.get(sector + i);
      if (s) out.set(s, i * SECTOR_SIZE);
    }
    return out;
  }

  write(sector: number, data: Uint8Array): void {
    for (let i = 0; i * SECTOR_SIZE < data.length; i++) {
      const s = new Uint8Array(SECTOR_SIZE);
      s.set(data.subarray(i * SECTOR_SIZE, (i + 1) * SECTOR_SIZE));
      this.sectorsData.set(sector + i, s);
    }
  }
}
