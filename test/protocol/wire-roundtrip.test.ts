import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeAdminCmdAsDevice, decodeAdminCmdResult, encodeAdminCmd, encodeAdminCmdResult } from '../../protocol/admin-frame.ts';
import {
  decodeCtxReadOutput,
  decodeCtxWriteData,
  decodeModeSetData,
  decodeWriteRecordsReadData,
  decodeWriteRecordsReadResult,
  decodeWriteRecordsStartData,
  encodeCtxReadOutput,
  encodeCtxWriteData,
  encodeModeSetData,
  encodeWriteRecordsReadData,
  encodeWriteRecordsReadResult,
  encodeWriteRecordsStartData,
} from '../../protocol/commands.ts';
import {
  decodeDevCtxEntry,
  encodeDevFeatures,
  encodePciCommonCfg,
  encodePciVqCfg,
  encodeVqSplitDevDescs,
  encodeVqSplitRuntime,
} from '../../protocol/dev-ctx-fields.ts';
import { decodeDevCtx, DevCtxStreamParser, encodeDevCtx, type VirtioDevCtxFieldTlv } from '../../protocol/device-context.ts';
import { commandName } from '../../protocol/opcodes.ts';
import { ALL_WIRE, arbU16, arbU64, arbWire, splitAt } from './helpers.ts';

/**
 * End-to-end round trips through every wire profile combination: the driver encodes a command into a
 * readable part, the device decodes it the lenient way, answers, and the driver decodes the answer.
 */

const arbQueue = fc.record({
  vqIndex: arbU16,
  queueSize: arbU16,
  queueMsixVector: arbU16,
  queueDesc: arbU64,
  queueDriver: arbU64,
  queueDevice: arbU64,
  devAvailIdx: arbU16,
  enabled: fc.integer({ min: 0, max: 1 }),
  descIdx: fc.array(arbU16, { maxLength: 6 }),
});

describe('all wire settings', () => {
  it('there are 2^5 x 3 combinations', () => {
    expect(ALL_WIRE.length).toBe(96);
  });

  it('a device context travels READ result -> WRITE data -> device parser intact (property)', () => {
    fc.assert(
      fc.property(
        arbWire,
        fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        fc.array(arbQueue, { maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (wire, features, queues, cuts) => {
          const fields: VirtioDevCtxFieldTlv[] = [
            {
              type: 0x0,
              value: encodePciCommonCfg(
                {
                  deviceFeatureSelect: 0,
                  deviceFeature: 0,
                  driverFeatureSelect: 0,
                  driverFeature: 0,
                  configMsixVector: 0,
                  numQueues: queues.length,
                  deviceStatus: 0xf,
                  configGeneration: 0,
                  queueSelect: 0,
                  queueSize: 0,
                  queueMsixVector: 0,
                  queueEnable: 0,
                  queueNotifyOff: 0,
                  queueDesc: 0n,
                  queueDriver: 0n,
                  queueDevice: 0n,
                },
                wire.pciCommonCfgLength,
              ),
            },
            { type: 0x1, value: encodeDevFeatures(features) },
          ];
          for (const q of queues) {
            fields.push({ type: 0x2, value: encodePciVqCfg(q, wire.pciVqCfgLayout) });
            fields.push({ type: 0x3, value: encodeVqSplitRuntime(q) });
            fields.push({ type: 0x4, value: encodeVqSplitDevDescs(q) });
          }
          const stream = encodeDevCtx({ fields }, wire.ctxStreamAlignment);

          // Source: DEV_CTX_READ chunks (context_len in command_specific_output).
          const chunks = splitAt(stream, cuts);
          const received: Uint8Array[] = [];
          for (const c of chunks) {
            const { writable, usedLength } = encodeAdminCmdResult({ status: 0, qualifier: 0, output: encodeCtxReadOutput(c.length), result: c }, 8 + c.length);
            const r = decodeAdminCmdResult(writable, usedLength);
            expect(decodeCtxReadOutput(r.output)).toBe(c.length);
            received.push(r.result);
          }

          // Destination: DEV_CTX_WRITE with the profile's data layout, unpadded (a device cannot tell padding from context bytes).
          const parser = new DevCtxStreamParser(wire.ctxStreamAlignment);
          for (const c of received) {
            const readable = encodeAdminCmd({ opcode: wire.opcodes.DEV_CTX_WRITE, groupType: 1, memberId: 1n, data: encodeCtxWriteData(c, wire) }, false);
            const cmd = decodeAdminCmdAsDevice(readable);
            expect(commandName(wire.opcodes, cmd.opcode)).toBe('DEV_CTX_WRITE');
            parser.feed(decodeCtxWriteData(cmd.data, wire));
          }
          expect(parser.complete).toBe(true);
          const whole = decodeDevCtx(stream, wire.ctxStreamAlignment);
          expect(parser.fields.map(decodeDevCtxEntry)).toEqual(whole.fields.map(decodeDevCtxEntry));
          const entries = parser.fields.map(decodeDevCtxEntry);
          expect(entries[1].value).toBe(features);
          queues.forEach((q, i) => {
            expect(entries[2 + 3 * i].value).toEqual({
              vqIndex: q.vqIndex,
              queueSize: q.queueSize,
              queueMsixVector: q.queueMsixVector,
              queueDesc: q.queueDesc,
              queueDriver: q.queueDriver,
              queueDevice: q.queueDevice,
            });
            expect(entries[3 + 3 * i].value).toEqual({ vqIndex: q.vqIndex, devAvailIdx: q.devAvailIdx, enabled: q.enabled });
            expect(entries[4 + 3 * i].value).toEqual({ vqIndex: q.vqIndex, descIdx: q.descIdx });
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('commands survive the frame: MODE_SET, START, RECORDS_READ request and answer (property)', () => {
    fc.assert(
      fc.property(
        arbWire,
        fc.integer({ min: 0, max: 255 }),
        arbU64,
        fc.array(fc.record({ pageAddress: arbU64, pageCount: arbU64 }), { maxLength: 6 }),
        fc.array(arbU64, { maxLength: 10 }),
        fc.boolean(),
        (wire, mode, pageSize, entries, addrs, pad) => {
          const send = (opcode: number, data: Uint8Array) => decodeAdminCmdAsDevice(encodeAdminCmd({ opcode, groupType: 1, memberId: 3n, data }, pad));
          const ms = send(wire.opcodes.DEV_MODE_SET, encodeModeSetData(mode));
          expect(ms.memberId).toBe(3n);
          expect(decodeModeSetData(ms.data).mode).toBe(mode);

          const st = send(wire.opcodes.DEV_WRITE_RECORDS_START, encodeWriteRecordsStartData({ pageSize, entries }));
          expect(commandName(wire.opcodes, st.opcode)).toBe('DEV_WRITE_RECORDS_START');
          expect(decodeWriteRecordsStartData(st.data, 16)).toEqual({ pageSize, count: entries.length, entries });

          const rd = send(wire.opcodes.DEV_WRITE_RECORDS_READ, encodeWriteRecordsReadData({ pageAddress: pageSize, length: pageSize }));
          expect(decodeWriteRecordsReadData(rd.data)).toEqual({ pageAddress: pageSize, length: pageSize });

          const { output, result } = encodeWriteRecordsReadResult(addrs, wire);
          const { writable, usedLength } = encodeAdminCmdResult({ status: 0, qualifier: 0, output, result }, 8 + result.length + (pad ? 16 : 0));
          const r = decodeAdminCmdResult(writable, usedLength);
          expect(decodeWriteRecordsReadResult(r.output, r.result, wire)).toEqual(addrs);
        },
      ),
      { numRuns: 200 },
    );
  });
});
