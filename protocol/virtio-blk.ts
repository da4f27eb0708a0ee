/** virtio-blk facts shared by the reference block device and the guest driver. */
export const BlkFeature = { SEG_MAX: 2, BLK_SIZE: 6, FLUSH: 9, CONFIG_WCE: 11, MQ: 12 } as const;
export const BlkReq = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8 } as const;
export const BlkStatus = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
export const BLK_SECTOR_SIZE = 512;
export const BLK_ID_BYTES = 20;
/** struct virtio_blk_config offsets used here (up to num_queues: 36 bytes). */
export const BlkConfig = { CAPACITY: 0, SIZE_MAX: 8, SEG_MAX: 12, GEOMETRY: 16, BLK_SIZE: 20, TOPOLOGY: 24, WRITEBACK: 32, NUM_QUEUES: 34, SIZE: 36 } as const;
