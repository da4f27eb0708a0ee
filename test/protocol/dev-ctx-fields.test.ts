import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../protocol/decode-error.ts';
import {
  decodeDevCtxEntry,
  decodeDevFeatures,
  decodePciCommonCfg,
  decodePciVqCfg,
  decodeVqSplitDevDescs,
  decodeVqSplitRuntime,
  encodeDevFeatures,
  encodePciCommonCfg,
  encodePciVqCfg,
  encodeVqSplitDevDescs,
  encodeVqSplitRuntime,
  PCI_COMMON_CFG_MIN,
  SPLIT_RUNTIME_SIZE,
  type DevCtxPciCommonCfg,
} from '../../protocol/dev-ctx-fields.ts';
import { DevCtxType } from '../../protocol/device-context.ts';
import { COMMON_CFG_SIZE, CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { arbU16, arbU32, arbU64, arbU8, expectBytes, hostileBytes, hx, onlyDecodeError, z } from './helpers.ts';

const vq = { vqIndex: 1, queueSize: 0x100, queueMsixVector: 0xffff, queueDesc: 0x1000n, queueDriver: 0x2000n, queueDevice: 0x3000n };

const arbVqCfg = fc.record({ vqIndex: arbU16, queueSize: arbU16, queueMsixVector: arbU16, queueDesc: arbU64, queueDriver: arbU64, queueDevice: arbU64 });
const arbRuntime = fc.record({ vqIndex: arbU16, devAvailIdx: arbU16, enabled: arbU8 });
const arbDescs = fc.record({ vqIndex: arbU16, descIdx: fc.array(arbU16, { maxLength: 20 }) });
const arbCommon: fc.Arbitrary<DevCtxPciCommonCfg> = fc.record({
  deviceFeatureSelect: arbU32,
  deviceFeature: arbU32,
  driverFeatureSelect: arbU32,
  driverFeature: arbU32,
  configMsixVector: arbU16,
  numQueues: arbU16,
  deviceStatus: arbU8,
  configGeneration: arbU8,
  queueSelect: arbU16,
  queueSize: arbU16,
  queueMsixVector: arbU16,
  queueEnable: arbU16,
  queueNotifyOff: arbU16,
  queueDesc: arbU64,
  queueDriver: arbU64,
  queueDevice: arbU64,
  queueNotifConfigData: arbU16,
  queueReset: arbU16,
  adminQueueIndex: arbU16,
  adminQueueNum: arbU16,
});

describe('VIRTIO_DEV_CTX_PCI_VQ_CFG (E13)', () => {
  it('packed: 30 bytes, queue_desc at 6, queue_driver at 14, queue_device at 22', () => {
    const b = encodePciVqCfg(vq, 'packed');
    expect(b.length).toBe(30);
    expectBytes(b, `01 00 | 00 01 | ff ff | 00 10 00 00 00 00 00 00 | 00 20 00 00 00 00 00 00 | 00 30 00 00 00 00 00 00`);
  });

  it('natural: 32 bytes, 2 bytes of padding at 6, queue_desc at 8', () => {
    const b = encodePciVqCfg(vq, 'natural');
    expect(b.length).toBe(32);
    expectBytes(b, `01 00 | 00 01 | ff ff | 00 00 | 00 10 00 00 00 00 00 00 | 00 20 00 00 00 00 00 00 | 00 30 00 00 00 00 00 00`);
  });

  it('the decoder tells the layouts apart by length and rejects any other length', () => {
    expect(decodePciVqCfg(encodePciVqCfg(vq, 'packed'))).toEqual(vq);
    expect(decodePciVqCfg(encodePciVqCfg(vq, 'natural'))).toEqual(vq);
    for (const n of [0, 6, 29, 31, 33, 64]) expect(() => decodePciVqCfg(new Uint8Array(n))).toThrow(DecodeError);
  });

  it('round-trips both layouts (property)', () => {
    fc.assert(
      fc.property(arbVqCfg, fc.constantFrom('packed' as const, 'natural' as const), (q, layout) => {
        expect(decodePciVqCfg(encodePciVqCfg(q, layout))).toEqual(q);
      }),
    );
  });
});

describe('VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG (E14)', () => {
  it('is 5 bytes: le16 vq_index, le16 dev_avail_idx, u8 enabled', () => {
    expect(SPLIT_RUNTIME_SIZE).toBe(5);
    expectBytes(encodeVqSplitRuntime({ vqIndex: 1, devAvailIdx: 0x1234, enabled: 1 }), '01 00 34 12 01');
  });

  it('rejects fewer than 5 bytes, accepts a longer (extended) value', () => {
    expect(() => decodeVqSplitRuntime(hx('01 00 34 12'))).toThrow(DecodeError);
    expect(decodeVqSplitRuntime(hx('01 00 34 12 01 ff ff'))).toEqual({ vqIndex: 1, devAvailIdx: 0x1234, enabled: 1 });
  });

  it('round-trips (property)', () => {
    fc.assert(
      fc.property(arbRuntime, (q) => {
        expect(decodeVqSplitRuntime(encodeVqSplitRuntime(q))).toEqual(q);
      }),
    );
  });
});

describe('VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC (E9)', () => {
  it('is 4 + 2n bytes: le16 vq_index, le16 desc_count, le16 desc_idx[n]', () => {
    expectBytes(encodeVqSplitDevDescs({ vqIndex: 2, descIdx: [5, 0x102] }), '02 00 02 00 05 00 02 01');
    expectBytes(encodeVqSplitDevDescs({ vqIndex: 3, descIdx: [] }), '03 00 00 00');
  });

  it('rejects a length that does not match desc_count', () => {
    expect(() => decodeVqSplitDevDescs(hx('02 00 02 00 05 00'))).toThrow(DecodeError);
    expect(() => decodeVqSplitDevDescs(hx('02 00 01 00 05 00 06 00'))).toThrow(DecodeError);
    expect(() => decodeVqSplitDevDescs(hx('02 00 ff ff'))).toThrow(DecodeError);
    expect(() => decodeVqSplitDevDescs(hx('02 00 00'))).toThrow(DecodeError);
  });

  it('round-trips (property)', () => {
    fc.assert(
      fc.property(arbDescs, (q) => {
        const b = encodeVqSplitDevDescs(q);
        expect(b.length).toBe(4 + 2 * q.descIdx.length);
        expect(decodeVqSplitDevDescs(b)).toEqual(q);
      }),
    );
  });
});

describe('VIRTIO_DEV_CTX_DEV_FEATURES (E9)', () => {
  it('is le64 words, word 0 = bits 0..63', () => {
    expectBytes(encodeDevFeatures((1n << 41n) | (1n << 32n) | 1n, 2), `01 00 00 00 01 02 00 00 | ${z(8)}`);
    expectBytes(encodeDevFeatures(1n << 64n, 2), `${z(8)} | 01 00 00 00 00 00 00 00`);
    expect(encodeDevFeatures(5n, 0).length).toBe(0);
  });

  it('decodes any whole number of words; a partial word is a DecodeError', () => {
    expect(decodeDevFeatures(new Uint8Array(0))).toBe(0n);
    expect(decodeDevFeatures(hx(`${z(8)} 01 00 00 00 00 00 00 80 | 02 00 00 00 00 00 00 00`))).toBe((2n << 128n) | (1n << 127n) | (1n << 64n));
    expect(() => decodeDevFeatures(new Uint8Array(12))).toThrow(DecodeError);
  });

  it('decodes a 1 MiB feature value in linear time (a ratio measured in this run, not a fixed limit)', () => {
    // Four times the bytes must cost well under the 16x of a quadratic decoder; medians of 3 absorb a busy machine.
    const cost = (n: number) => {
      const v = new Uint8Array(n).fill(0xa5);
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        decodeDevFeatures(v);
        times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b)[1];
    };
    cost(1 << 16); // warm-up
    const ratio = cost(1 << 20) / Math.max(cost(1 << 18), 0.05);
    expect(ratio).toBeLessThan(10);
    expect(decodeDevFeatures(new Uint8Array(1 << 20).fill(0xa5)).toString(16)).toBe('a5'.repeat(1 << 20));
  });

  it('round-trips (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.bigInt({ min: 0n, max: (1n << 320n) - 1n }), (words, raw) => {
        const features = raw & ((1n << BigInt(64 * words)) - 1n);
        const b = encodeDevFeatures(features, words);
        expect(b.length).toBe(8 * words);
        expect(decodeDevFeatures(b)).toBe(features);
      }),
    );
  });
});

describe('VIRTIO_DEV_CTX_PCI_COMMON_CFG (E12)', () => {
  const c: DevCtxPciCommonCfg = {
    deviceFeatureSelect: 1,
    deviceFeature: 0x11223344,
    driverFeatureSelect: 0,
    driverFeature: 0x55667788,
    configMsixVector: 0xffff,
    numQueues: 3,
    deviceStatus: 0x0f,
    configGeneration: 2,
    queueSelect: 1,
    queueSize: 256,
    queueMsixVector: 1,
    queueEnable: 1,
    queueNotifyOff: 1,
    queueDesc: 0x1000n,
    queueDriver: 0x2000n,
    queueDevice: 0x3000n,
    queueNotifConfigData: 0xaa,
    queueReset: 0,
    adminQueueIndex: 3,
    adminQueueNum: 1,
  };

  it('encodes the 64-byte virtio_pci_common_cfg at the register offsets', () => {
    const b = encodePciCommonCfg(c);
    expect(b.length).toBe(COMMON_CFG_SIZE);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    expect(dv.getUint32(CommonCfg.DEVICE_FEATURE.offset, true)).toBe(0x11223344);
    expect(dv.getUint32(CommonCfg.DRIVER_FEATURE.offset, true)).toBe(0x55667788);
    expect(dv.getUint16(CommonCfg.NUM_QUEUES.offset, true)).toBe(3);
    expect(b[CommonCfg.DEVICE_STATUS.offset]).toBe(0x0f);
    expect(b[CommonCfg.CONFIG_GENERATION.offset]).toBe(2);
    expect(dv.getUint16(CommonCfg.QUEUE_SIZE.offset, true)).toBe(256);
    expect(dv.getBigUint64(CommonCfg.QUEUE_DESC.offset, true)).toBe(0x1000n);
    expect(dv.getBigUint64(CommonCfg.QUEUE_DEVICE.offset, true)).toBe(0x3000n);
    expect(dv.getUint16(CommonCfg.QUEUE_NOTIF_CONFIG_DATA.offset, true)).toBe(0xaa);
    expect(dv.getUint16(CommonCfg.ADMIN_QUEUE_INDEX.offset, true)).toBe(3);
    expect(dv.getUint16(CommonCfg.ADMIN_QUEUE_NUM.offset, true)).toBe(1);
    expect(decodePciCommonCfg(b)).toEqual(c);
  });

  it('the register table is contiguous and 64 bytes long', () => {
    let next = 0;
    for (const r of Object.values(CommonCfg)) {
      expect(r.offset).toBe(next);
      next += r.size;
    }
    expect(next).toBe(COMMON_CFG_SIZE);
  });

  it('shorter versions (56, 60) decode the common prefix; less than 56 bytes is a DecodeError', () => {
    const d56 = decodePciCommonCfg(encodePciCommonCfg(c, 56));
    expect(d56.queueNotifConfigData).toBeUndefined();
    expect(d56.adminQueueNum).toBeUndefined();
    expect(d56.queueDevice).toBe(0x3000n);
    const d60 = decodePciCommonCfg(encodePciCommonCfg(c, 60));
    expect(d60.queueReset).toBe(0);
    expect(d60.adminQueueIndex).toBeUndefined();
    expect(PCI_COMMON_CFG_MIN).toBe(56);
    expect(() => decodePciCommonCfg(new Uint8Array(55))).toThrow(DecodeError);
    const longer = encodePciCommonCfg(c, 72);
    expect(longer.length).toBe(72);
    expect(decodePciCommonCfg(longer)).toEqual(c);
  });

  it('round-trips at every length the profile can emit (property)', () => {
    fc.assert(
      fc.property(arbCommon, fc.constantFrom(56, 58, 60, 62, 64, 80), (cfg, len) => {
        const b = encodePciCommonCfg(cfg, len);
        expect(b.length).toBe(len);
        const d = decodePciCommonCfg(b);
        const expected: DevCtxPciCommonCfg = { ...cfg };
        if (len < 58) delete expected.queueNotifConfigData;
        if (len < 60) delete expected.queueReset;
        if (len < 62) delete expected.adminQueueIndex;
        if (len < 64) delete expected.adminQueueNum;
        expect(d).toEqual(expected);
      }),
    );
  });
});

describe('decodeDevCtxEntry', () => {
  it('decodes the defined types and keeps reserved types raw', () => {
    expect(decodeDevCtxEntry({ type: DevCtxType.VQ_SPLIT_RUNTIME_CFG, value: hx('01 00 34 12 01') })).toEqual({
      type: 3,
      value: { vqIndex: 1, devAvailIdx: 0x1234, enabled: 1 },
    });
    expect(decodeDevCtxEntry({ type: DevCtxType.DEV_CFG, value: hx('aa') })).toEqual({ type: 0x1000, value: hx('aa') });
    expect(decodeDevCtxEntry({ type: 0x5, value: hx('aa') })).toEqual({ type: 5, value: hx('aa'), reserved: true });
  });

  it('re-anchors a value error at the field offset in the stream', () => {
    let err: unknown;
    try {
      decodeDevCtxEntry({ type: DevCtxType.PCI_VQ_CFG, value: new Uint8Array(31), offset: 100 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).offset).toBe(116);
  });

  it('value decoders throw nothing but DecodeError on hostile values (property)', () => {
    const valid = fc.oneof(
      arbVqCfg.map((q) => encodePciVqCfg(q, 'packed')),
      arbVqCfg.map((q) => encodePciVqCfg(q, 'natural')),
      arbRuntime.map(encodeVqSplitRuntime),
      arbDescs.map(encodeVqSplitDevDescs),
      arbCommon.map((q) => encodePciCommonCfg(q)),
      fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((f) => encodeDevFeatures(f)),
    );
    fc.assert(
      fc.property(hostileBytes(valid), fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 0x1000), arbU16), fc.option(fc.nat(), { nil: undefined }), (v, type, offset) => {
        onlyDecodeError(() => decodePciCommonCfg(v));
        onlyDecodeError(() => decodeDevFeatures(v));
        onlyDecodeError(() => decodePciVqCfg(v));
        onlyDecodeError(() => decodeVqSplitRuntime(v));
        onlyDecodeError(() => decodeVqSplitDevDescs(v));
        onlyDecodeError(() => decodeDevCtxEntry({ type, value: v, offset }));
      }),
      { numRuns: 500 },
    );
  });
});
