import { DecodeError } from '../../protocol/decode-error.ts';
import { DevCtxStreamParser } from '../../protocol/device-context.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import type { VirtioMember } from '../member/virtio-member.ts';
import { addField, applyPlan, checkPlan, type ContextPlan, emptyPlan } from './context-codec.ts';

/**
 * DEV_CTX_WRITE in Freeze (patch 4/8): the context arrives as a byte stream over one or more WRITEs.
 * Each field is checked as soon as it is complete (SD15, E21: the error surfaces at the WRITE that
 * carries it); a refused WRITE leaves the stream as it was before it (GD4). A complete context
 * becomes the pending one, applied when the member leaves Freeze; another WRITE then starts a new
 * context (SD9), replacing the pending one once it is complete ("the most recently set").
 */
export class ContextWriteStream {
  private parser: DevCtxStreamParser;
  private chunks: Uint8Array[] = [];
  private plan: ContextPlan = emptyPlan();
  private checked = 0;
  private pendingPlan: ContextPlan | undefined;

  constructor(private readonly wire: WireOptions) {
    this.parser = new DevCtxStreamParser(wire.ctxStreamAlignment, { allowReservedTypes: true });
  }

  /** Bytes of a context have arrived but not the whole context (E15 "partially written"). */
  get partial(): boolean {
    return !this.parser.empty && !this.parser.complete;
  }

  get pending(): boolean {
    return this.pendingPlan !== undefined;
  }

  /** Feeds one WRITE's data; returns why it is refused, or undefined when accepted. */
  write(member: VirtioMember, chunk: Uint8Array): string | undefined {
    const copy = chunk.slice();
    const reason = this.feed(member, copy);
    if (reason !== undefined) {
      this.rebuild(member);
      return reason;
    }
    this.chunks.push(copy);
    if (this.parser.complete) {
      const bad = checkPlan(member, this.plan);
      if (bad !== undefined) {
        this.chunks.pop();
        this.rebuild(member);
        return bad;
      }
      this.pendingPlan = this.plan;
      this.startNext();
    }
    return undefined;
  }

  private feed(member: VirtioMember, chunk: Uint8Array): string | undefined {
    try {
      this.parser.feed(chunk);
    } catch (e) {
      if (e instanceof DecodeError) return `malformed device context: ${e.message}`;
      throw e;
    }
    const fields = this.parser.fields;
    for (; this.checked < fields.length; this.checked++) {
      const bad = addField(member, this.plan, fields[this.checked], this.wire);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }

  /** Back to the state after the accepted chunks (only on a refused WRITE, so the cost is paid on errors). */
  private rebuild(member: VirtioMember): void {
    const accepted = this.chunks;
    this.startNext();
    for (const c of accepted) {
      if (this.feed(member, c) !== undefined) throw new Error('accepted context bytes no longer parse');
      this.chunks.push(c);
    }
  }

  private startNext(): void {
    this.parser = new DevCtxStreamParser(this.wire.ctxStreamAlignment, { allowReservedTypes: true });
    this.chunks = [];
    this.plan = emptyPlan();
    this.checked = 0;
  }

  /**
   * DEV_CTX_DISCARD: drops what was written since the last complete context (SD13, "as if those WRITEs
   * were never received"); a complete context written before them stays the one to apply.
   */
  discardPartial(): void {
    this.startNext();
  }

  applyTo(member: VirtioMember): void {
    if (this.pendingPlan) applyPlan(member, this.pendingPlan);
  }
}
