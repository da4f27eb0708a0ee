/** The owner transport of a card revokes a member's memory after it leaves Active and maps it back before it returns. */
import { describe, expect, it } from 'vitest';
import { encodeAdminCmdResult } from '../../protocol/admin-frame.ts';
import { frameOf } from '../../protocol/admin-exec.ts';
import type { AdminFrame, AdminFrameCompletion, AdminTransport } from '../../protocol/admin-transport.ts';
import { DeviceMode, encodeModeSetData } from '../../protocol/commands.ts';
import { GroupType, Status } from '../../protocol/status.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { ModeWindowTransport } from '../../transports/vfio/mode-windows.ts';

function harness(answer: (frame: AdminFrame) => number | 'hang') {
  const events: string[] = [];
  const inner = {
    name: 'stub',
    capabilities: { memberPort: true, rawFrames: true, recover: true, ownerPci: false },
    async execFrame(frame: AdminFrame): Promise<AdminFrameCompletion> {
      const mode = frame.readable[24];
      events.push(`send mode ${mode}`);
      const status = answer(frame);
      if (status === 'hang') throw new Error('timed out');
      return encodeAdminCmdResult({ status, qualifier: 0 }, frame.writableLength);
    },
    async recover() {
      return true;
    },
    async close() {},
  } as unknown as AdminTransport;
  const windows = {
    closeWindow: (m: number) => events.push(`revoke ${m}`),
    openWindow: (m: number) => events.push(`restore ${m}`),
    openAllWindows: () => events.push('restore all'),
  };
  const t = new ModeWindowTransport(inner, windows, SEED_V2_WIRE);
  const modeSet = (member: number, mode: number) =>
    t.execFrame(frameOf({ opcode: SEED_V2_WIRE.opcodes.DEV_MODE_SET, groupType: GroupType.SRIOV, memberId: BigInt(member), data: encodeModeSetData(mode), resultCapacity: 0 }));
  return { t, events, modeSet };
}

describe('mode windows of the vfio transport', () => {
  it('revokes after Stop or Freeze completed with OK, restores before Active is sent', async () => {
    const { events, modeSet } = harness(() => Status.OK);
    await modeSet(1, DeviceMode.STOP);
    await modeSet(1, DeviceMode.FREEZE);
    await modeSet(1, DeviceMode.ACTIVE);
    await modeSet(2, DeviceMode.ACTIVE);
    expect(events).toEqual(['send mode 1', 'revoke 1', 'send mode 2', 'revoke 1', 'restore 1', 'send mode 0', 'send mode 0']);
  });

  it('a refused Stop changes nothing; a refused or unanswered Active revokes again', async () => {
    let status: number | 'hang' = Status.EINVAL;
    const { events, modeSet } = harness(() => status);
    await modeSet(1, DeviceMode.STOP);
    status = Status.OK;
    await modeSet(1, DeviceMode.STOP);
    status = Status.EINVAL;
    await modeSet(1, DeviceMode.ACTIVE);
    status = 'hang';
    await expect(modeSet(1, DeviceMode.ACTIVE)).rejects.toThrow();
    expect(events).toEqual(['send mode 1', 'send mode 1', 'revoke 1', 'restore 1', 'send mode 0', 'revoke 1', 'restore 1', 'send mode 0', 'revoke 1']);
  });

  it('recovery brings every member back in Active, mapped', async () => {
    const { t, events, modeSet } = harness(() => Status.OK);
    await modeSet(1, DeviceMode.STOP);
    await t.recover();
    await modeSet(1, DeviceMode.ACTIVE);
    expect(events).toEqual(['send mode 1', 'revoke 1', 'restore all', 'send mode 0']);
  });
});
