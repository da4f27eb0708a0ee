import { describe, expect, it } from 'vitest';
import { encodeAdminCmd, decodeAdminCmd } from '../../protocol/admin-frame.ts';

describe('admin frame', () => {
  it('round-trips the readable header', () => {
    const bytes = encodeAdminCmd({ opcode: 8, groupType: 1, memberId: 3n, data: Uint8Array.of(2) });
    expect(bytes.length).toBe(32);
    expect(decodeAdminCmd(bytes)).toMatchObject({ opcode: 8, groupType: 1, memberId: 3n });
  });
});
