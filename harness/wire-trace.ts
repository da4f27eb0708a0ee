import { decodeCtxReadOutput } from '../protocol/commands.ts';
import { makeTraceEntry, renderTraceEntry } from '../protocol/trace.ts';
import { Status } from '../protocol/status.ts';
import type { WireOptions } from '../protocol/wire-options.ts';
import type { WireRecord } from './admin-client.ts';

/** Most trace lines kept for one test (the last ones: the failure is at the end). */
export const TRACE_LIMIT = 300;

/**
 * Renders admin-client records as the decoded wire trace of a test, one line per command and its
 * completion. It follows each member's context stream position so the first chunk of a READ or
 * WRITE stream is summarized field by field.
 */
export function renderWireTrace(records: readonly WireRecord[], wire: WireOptions, limit = TRACE_LIMIT): string[] {
  const t = wire.opcodes;
  const readAt = new Map<bigint, number>();
  const writeAt = new Map<bigint, number>();
  const lines: string[] = [];
  for (const r of records) {
    let streamOffset: number | undefined;
    if (r.opcode === t.DEV_CTX_READ) streamOffset = readAt.get(r.memberId) ?? 0;
    if (r.opcode === t.DEV_CTX_WRITE) streamOffset = writeAt.get(r.memberId) ?? 0;
    lines.push(
      renderTraceEntry(
        makeTraceEntry({
          seq: r.seq,
          tMs: r.tMs,
          request: { opcode: r.opcode, groupType: r.groupType, memberId: r.memberId, data: r.data, resultCapacity: r.resultCapacity },
          response: r.response,
          error: r.error,
          wire,
          streamOffset,
        }),
      ),
    );
    const ok = r.response?.status === Status.OK;
    if (!ok) continue;
    if (r.opcode === t.DEV_MODE_SET || r.opcode === t.DEV_CTX_DISCARD) {
      readAt.delete(r.memberId);
      writeAt.delete(r.memberId);
    } else if (r.opcode === t.DEV_CTX_READ && r.response) {
      let n = 0;
      try {
        n = decodeCtxReadOutput(r.response.output);
      } catch {
        n = 0;
      }
      readAt.set(r.memberId, (readAt.get(r.memberId) ?? 0) + n);
    } else if (r.opcode === t.DEV_CTX_WRITE) {
      writeAt.set(r.memberId, (writeAt.get(r.memberId) ?? 0) + r.data.length);
    }
  }
  if (lines.length <= limit) return lines;
  return [`... ${lines.length - limit} earlier commands not shown`, ...lines.slice(-limit)];
}
