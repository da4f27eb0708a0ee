import { Feature, VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import type { RegisterWidth } from '../../protocol/member-port.ts';
import { PCI_VENDOR_ID_REDHAT_QUMRANET } from '../../protocol/pci.ts';
import { BLK_ID_BYTES, BlkConfig, BlkFeature, BlkReq, BlkStatus } from '../../protocol/virtio-blk.ts';
import type { DescChain } from '../virtqueue.ts';
import { BlockBacking, SECTOR_SIZE } from './block-backing.ts';
import type { PciIdentity } from './pci-config.ts';
import { type MemberInit, VirtioMember } from './virtio-member.ts';

const BLK_CONFIG_SIZE = BlkConfig.SIZE;
const WRITEBACK_OFFSET = BlkConfig.WRITEBACK;
const BLK_SEG_MAX = 128;

interface BlockRequest {
  type: number;
  sector: bigint;
  /** OUT payload, read from the device-readable buffers when the request was taken. */
  payload?: Uint8Array;
  bad?: string;
}

/**
 * Block device (virtio type 2) on a RAM disk: read, write, flush and get-id requests, one or more
 * request queues (VIRTIO_BLK_F_MQ), and a writable `writeback` config byte (VIRTIO_BLK_F_CONFIG_WCE)
 * so configuration writes can be observed.
 */
export class BlockMember extends VirtioMember {
  readonly virtioType = VirtioDeviceType.BLOCK;
  readonly deviceFeatures: bigint;
  readonly pciIdentity: PciIdentity;
  private writeback = 1;

  constructor(
    init: MemberInit,
    readonly backing: BlockBacking,
    readonly serial: string,
  ) {
    super(init);
    let f = 1n << BigInt(Feature.VERSION_1);
    for (const b of [BlkFeature.SEG_MAX, BlkFeature.BLK_SIZE, BlkFeature.FLUSH, BlkFeature.CONFIG_WCE, BlkFeature.MQ]) f |= 1n << BigInt(b);
    this.deviceFeatures = f;
    this.pciIdentity = {
      vendorId: 0xffff,
      deviceId: 0xffff,
      revision: 1,
      classCode: 0x018000,
      subsystemVendorId: PCI_VENDOR_ID_REDHAT_QUMRANET,
      subsystemId: 0x0040 + VirtioDeviceType.BLOCK,
    };
  }

  deviceConfigBytes(): Uint8Array {
    const b = new Uint8Array(BLK_CONFIG_SIZE);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(0, BigInt(this.backing.sectors), true); // capacity in 512-byte sectors
    dv.setUint32(8, 0, true); // size_max (SIZE_MAX not offered)
    dv.setUint32(12, BLK_SEG_MAX, true);
    dv.setUint32(20, SECTOR_SIZE, true); // blk_size
    b[WRITEBACK_OFFSET] = this.writeback;
    dv.setUint16(34, this.numQueues, true);
    return b;
  }

  /** Only `writeback` is writable, and only with VIRTIO_BLK_F_CONFIG_WCE negotiated. */
  protected deviceConfigWrite(offset: number, width: RegisterWidth, value: number): void {
    if (offset === WRITEBACK_OFFSET && width === 1 && (this.driverFeatures >> BigInt(BlkFeature.CONFIG_WCE)) & 1n) this.writeback = value & 1;
  }

  checkDeviceConfig(bytes: Uint8Array): string | undefined {
    const mine = this.deviceConfigBytes();
    for (let i = 0; i < BLK_CONFIG_SIZE; i++) {
      if (i === WRITEBACK_OFFSET) continue;
      if (bytes[i] !== mine[i]) return `read-only virtio_blk_config byte ${i} is 0x${bytes[i].toString(16)}, the device has 0x${mine[i].toString(16)}`;
    }
    return undefined;
  }

  restoreDeviceConfig(bytes: Uint8Array): void {
    this.writeback = bytes[WRITEBACK_OFFSET] & 1;
  }

  protected async startRequest(_queue: number, chain: DescChain): Promise<BlockRequest> {
    const head = chain.readable[0];
    if (!head || head.len < 16 || chain.writable.length === 0) return { type: -1, sector: 0n, bad: 'request without header or status byte' };
    const h = new DataView((await this.dma.read(head.addr, 16)).buffer);
    const req: BlockRequest = { type: h.getUint32(0, true), sector: h.getBigUint64(8, true) };
    if (req.type === BlkReq.OUT) {
      const parts: Uint8Array[] = [];
      if (head.len > 16) parts.push(await this.dma.read(head.addr + 16n, head.len - 16));
      for (const b of chain.readable.slice(1)) parts.push(await this.dma.read(b.addr, b.len));
      const total = parts.reduce((n, p) => n + p.length, 0);
      req.payload = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        req.payload.set(p, at);
        at += p.length;
      }
    }
    return req;
  }

  protected async completeRequest(_queue: number, chain: DescChain, request: unknown): Promise<number> {
    const req = request as BlockRequest;
    const statusBuf = chain.writable[chain.writable.length - 1];
    if (!statusBuf || req.bad) return 0;
    const dataBufs = chain.writable.slice(0, -1);
    // The status byte is the last byte of the last writable buffer.
    const statusAddr = statusBuf.addr + BigInt(statusBuf.len - 1);
    if (statusBuf.len > 1) dataBufs.push({ addr: statusBuf.addr, len: statusBuf.len - 1 });
    let written = 0;
    let status: number = BlkStatus.OK;
    const inRange = (bytes: number) => req.sector >= 0n && req.sector + BigInt(Math.ceil(bytes / SECTOR_SIZE)) <= BigInt(this.backing.sectors);
    switch (req.type) {
      case BlkReq.IN: {
        const bytes = dataBufs.reduce((n, b) => n + b.len, 0);
        if (bytes % SECTOR_SIZE || !inRange(bytes)) {
          status = BlkStatus.IOERR;
          break;
        }
        const data = this.backing.read(Number(req.sector), bytes / SECTOR_SIZE);
        let at = 0;
        for (const b of dataBufs) {
          await this.dma.write(b.addr, data.subarray(at, at + b.len));
          at += b.len;
          written += b.len;
        }
        break;
      }
      case BlkReq.OUT: {
        const data = req.payload ?? new Uint8Array(0);
        if (data.length % SECTOR_SIZE || !inRange(data.length)) {
          status = BlkStatus.IOERR;
          break;
        }
        this.backing.write(Number(req.sector), data);
        break;
      }
      case BlkReq.FLUSH:
        break;
      case BlkReq.GET_ID: {
        const id = new Uint8Array(BLK_ID_BYTES);
        id.set(new TextEncoder().encode(this.serial).subarray(0, BLK_ID_BYTES));
        let at = 0;
        for (const b of dataBufs) {
          const n = Math.min(b.len, BLK_ID_BYTES - at);
          if (n <= 0) break;
          await this.dma.write(b.addr, id.subarray(at, at + n));
          at += n;
          written += n;
        }
        break;
      }
      default:
        status = BlkStatus.UNSUPP;
    }
    await this.dma.write(statusAddr, Uint8Array.of(status));
    return written + 1;
  }

  protected resetDeviceType(): void {
    this.writeback = 1;
  }
}
