import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeAdminCmd,
  decodeAdminCmdAsDevice,
  decodeAdminCmdResult,
  encodeAdminCmd,
  encodeAdminCmdResult,
  OUTPUT_SIZE,
  READABLE_HEADER_SIZE,
  WRITABLE_HEADER_SIZE,
} from '../../protocol/admin-frame.ts';
import { frameOf } from '../../protocol/admin-exec.ts';
import { DecodeError } from '../../protocol/decode-error.ts';
import { encodeModeSetData } from '../../protocol/commands.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import { arbU16, arbU64, expectBytes, hostileBytes, onlyDecodeError, z } from './helpers.ts';

const arbCmd = fc.record({ opcode: arbU16, groupType: arbU16, memberId: arbU64, data: fc.uint8Array({ maxLength: 40 }) });

describe('struct virtio_admin_cmd, device-readable part', () => {
  it('header sizes are 24 readable, 8 writable, 4 output bytes', () => {
    expect([READABLE_HEADER_SIZE, WRITABLE_HEADER_SIZE, OUTPUT_SIZE]).toEqual([24, 8, 4]);
  });

  it('encodes DEV_MODE_SET member 2 mode Stop, data padded to 8 bytes (VR3)', () => {
    const bytes = encodeAdminCmd({ opcode: 0x8, groupType: 1, memberId: 2n, data: encodeModeSetData(1) });
    expectBytes(bytes, `08 00 | 01 00 | ${z(12)} | 02 00 00 00 00 00 00 00 | 01 00 00 00 00 00 00 00`);
  });

  it('sends data unpadded when asked (device tolerance probes)', () => {
    const bytes = encodeAdminCmd({ opcode: 0x8, groupType: 1, memberId: 2n, data: Uint8Array.of(1) }, false);
    expect(bytes.length).toBe(25);
    expect(bytes[24]).toBe(1);
  });

  it('encodes a le64 member id beyond 2^53 exactly and never writes reserved1', () => {
    const bytes = encodeAdminCmd({ opcode: 0xffff, groupType: 0xfffe, memberId: (1n << 64n) - 2n, data: new Uint8Array(0) });
    expectBytes(bytes, `ff ff | fe ff | ${z(12)} | fe ff ff ff ff ff ff ff`);
  });

  it('strict decode rejects a header shorter than 24 bytes', () => {
    for (const n of [0, 1, 2, 4, 16, 23]) expect(() => decodeAdminCmd(new Uint8Array(n))).toThrow(DecodeError);
    expect(decodeAdminCmd(new Uint8Array(24)).data.length).toBe(0);
  });

  it('strict decode reports a non-zero reserved1', () => {
    const bytes = encodeAdminCmd({ opcode: 7, groupType: 1, memberId: 1n, data: new Uint8Array(0) });
    expect(decodeAdminCmd(bytes).reserved1Zero).toBe(true);
    bytes[9] = 1;
    expect(decodeAdminCmd(bytes).reserved1Zero).toBe(false);
  });

  it('device decode reads a short buffer as zero-extended (VD1a)', () => {
    const d = decodeAdminCmdAsDevice(Uint8Array.of(0x08, 0x00, 0x01));
    expect(d).toMatchObject({ opcode: 8, groupType: 1, memberId: 0n, reserved1Zero: true });
    expect(d.data.length).toBe(0);
    expect(decodeAdminCmdAsDevice(new Uint8Array(0))).toMatchObject({ opcode: 0, groupType: 0, memberId: 0n });
  });

  it('round-trips through the strict and the device decoder, padded and unpadded (property)', () => {
    fc.assert(
      fc.property(arbCmd, fc.boolean(), (cmd, pad) => {
        const bytes = encodeAdminCmd(cmd, pad);
        const padded = pad ? Math.ceil(cmd.data.length / 8) * 8 : cmd.data.length;
        expect(bytes.length).toBe(24 + padded);
        for (const d of [decodeAdminCmd(bytes), decodeAdminCmdAsDevice(bytes)]) {
          expect(d.opcode).toBe(cmd.opcode);
          expect(d.groupType).toBe(cmd.groupType);
          expect(d.memberId).toBe(cmd.memberId);
          expect(d.reserved1Zero).toBe(true);
          expect(Array.from(d.data.subarray(0, cmd.data.length))).toEqual(Array.from(cmd.data));
          expect(d.data.subarray(cmd.data.length).every((b) => b === 0)).toBe(true);
          expect(d.data.length).toBe(padded);
        }
      }),
    );
  });

  it('strict decode throws only DecodeError; device decode never throws (property)', () => {
    const valid = arbCmd.map((c) => encodeAdminCmd(c));
    fc.assert(
      fc.property(hostileBytes(valid), (bytes) => {
        onlyDecodeError(() => decodeAdminCmd(bytes));
        const d = decodeAdminCmdAsDevice(bytes);
        expect(d.data.length).toBe(Math.max(0, bytes.length - 24));
      }),
      { numRuns: 300 },
    );
  });

  it('frameOf pads data and the writable part to multiples of 8', () => {
    const f = frameOf({ opcode: 0xa, groupType: 1, memberId: 1n, data: new Uint8Array(0), resultCapacity: 4093 });
    expect(f.readable.length).toBe(24);
    expect(f.writableLength).toBe(8 + 4096);
    const u = frameOf({ opcode: 0x8, groupType: 1, memberId: 1n, data: Uint8Array.of(2), resultCapacity: 0, unpadded: true });
    expect(u.readable.length).toBe(25);
    expect(u.writableLength).toBe(8);
  });
});

describe('struct virtio_admin_cmd, device-writable part', () => {
  it('encodes EINVAL / INVALID_FIELD with no result into 8 bytes', () => {
    const { writable, usedLength } = encodeAdminCmdResult({ status: Status.EINVAL, qualifier: Qualifier.INVALID_FIELD }, 8);
    expectBytes(writable, '16 00 03 00 00 00 00 00');
    expect(usedLength).toBe(8);
  });

  it('places command_specific_output at 4 and command_specific_result at 8; unused capacity stays zero', () => {
    const { writable, usedLength } = encodeAdminCmdResult(
      { status: 0, qualifier: 0, output: Uint8Array.of(0x00, 0x10, 0, 0), result: Uint8Array.of(1, 2, 3) },
      16,
    );
    expectBytes(writable, '00 00 00 00 | 00 10 00 00 | 01 02 03 | 00 00 00 00 00');
    expect(usedLength).toBe(11);
  });

  it('drops what does not fit the writable buffer (VD1b) and reports only what was written', () => {
    const { writable, usedLength } = encodeAdminCmdResult({ status: 0, qualifier: 0, result: new Uint8Array(16).fill(0xaa) }, 12);
    expect(writable.length).toBe(12);
    expect(usedLength).toBe(12);
    expectBytes(writable, '00 00 00 00 00 00 00 00 aa aa aa aa');
    expect(encodeAdminCmdResult({ status: Status.EINVAL, qualifier: 2 }, 3)).toEqual({ writable: Uint8Array.of(22, 0, 2), usedLength: 3 });
  });

  it('truncates an over-long output to 4 bytes and zero-fills a short one', () => {
    expectBytes(encodeAdminCmdResult({ status: 0, qualifier: 0, output: Uint8Array.of(1, 2, 3, 4, 5, 6) }, 8).writable, '00 00 00 00 01 02 03 04');
    expectBytes(encodeAdminCmdResult({ status: 0, qualifier: 0, output: Uint8Array.of(7) }, 8).writable, '00 00 00 00 07 00 00 00');
  });

  it('decodes bytes past the used length as zero (VR5)', () => {
    const writable = Uint8Array.of(0x16, 0, 0x03, 0, 0xff, 0xff, 0xff, 0xff, 0xee, 0xee);
    const d = decodeAdminCmdResult(writable, 3);
    expect(d.status).toBe(22);
    expect(d.qualifier).toBe(3);
    expect(Array.from(d.output)).toEqual([0, 0, 0, 0]);
    expect(d.result.length).toBe(0);
    expect(decodeAdminCmdResult(writable, 9).result).toEqual(Uint8Array.of(0xee));
  });

  it('rejects a used length outside the buffer with DecodeError', () => {
    for (const used of [-1, 11, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => decodeAdminCmdResult(new Uint8Array(10), used)).toThrow(DecodeError);
    }
  });

  it('used length = min(capacity, 8 + result length); bytes past it are zero and ignored (property)', () => {
    fc.assert(
      fc.property(
        arbU16,
        arbU16,
        fc.option(fc.uint8Array({ maxLength: 6 }), { nil: undefined }),
        fc.option(fc.uint8Array({ maxLength: 48 }), { nil: undefined }),
        fc.integer({ min: 0, max: 72 }),
        fc.uint8Array({ minLength: 72, maxLength: 72 }),
        (status, qualifier, output, result, capacity, garbage) => {
          const { writable, usedLength } = encodeAdminCmdResult({ status, qualifier, output, result }, capacity);
          const resultLen = result?.length ?? 0;
          expect(writable.length).toBe(capacity);
          expect(usedLength).toBe(Math.min(capacity, 8 + resultLen));
          expect(writable.subarray(usedLength).every((b) => b === 0)).toBe(true);

          // The full structure the device meant to write, cut at the used length and zero-extended.
          const full = new Uint8Array(8 + resultLen);
          const dv = new DataView(full.buffer);
          dv.setUint16(0, status, true);
          dv.setUint16(2, qualifier, true);
          if (output) full.set(output.subarray(0, 4), 4);
          if (result) full.set(result, 8);
          const seen = new Uint8Array(8 + resultLen);
          seen.set(full.subarray(0, usedLength));
          const sdv = new DataView(seen.buffer);

          // Whatever lies in the buffer past the used length must not change the decode.
          const dirty = writable.slice();
          dirty.set(garbage.subarray(usedLength, capacity), usedLength);
          for (const w of [writable, dirty]) {
            const d = decodeAdminCmdResult(w, usedLength);
            expect(d.status).toBe(sdv.getUint16(0, true));
            expect(d.qualifier).toBe(sdv.getUint16(2, true));
            expect(Array.from(d.output)).toEqual(Array.from(seen.subarray(4, 8)));
            expect(Array.from(d.result)).toEqual(Array.from(full.subarray(8, Math.max(8, usedLength))));
            expect(d.usedLength).toBe(usedLength);
          }
          if (usedLength === 8 + resultLen) {
            const d = decodeAdminCmdResult(writable, usedLength);
            expect(d.status).toBe(status);
            expect(d.qualifier).toBe(qualifier);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decodeAdminCmdResult throws only DecodeError for any buffer and used length (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.oneof(fc.integer({ min: -8, max: 48 }), fc.double()), (w, used) => {
        onlyDecodeError(() => decodeAdminCmdResult(w, used));
      }),
      { numRuns: 300 },
    );
  });
});
