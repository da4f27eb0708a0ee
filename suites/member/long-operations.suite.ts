/**
 * MODE_SET, DEV_CTX_READ and DEV_CTX_WRITE for a member that arrive while its FLR, virtio device reset
 * or power-management transition is in progress complete after it, successfully (SD14c-e; E22: the
 * owner answers, so the owner delays the completion). FLR and reset keep the mode (E22, SHOULD).
 */
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { DEFAULT_READ_CHUNK } from '../../harness/admin-client.ts';
import { decodeCtxReadOutput, DeviceMode, modeName } from '../../protocol/commands.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { Status } from '../../protocol/status.ts';

type Op = 'flr' | 'pm';
type Cmd = 'DEV_MODE_SET' | 'DEV_CTX_READ' | 'DEV_CTX_WRITE';

const OP: Record<Op, { req: string; what: string; start: (t: ConformanceContext) => Promise<void> }> = {
  flr: { req: 'member.cmds-complete-after-flr', what: 'the member FLR', start: (t) => t.port(t.src).flr() },
  pm: { req: 'member.cmds-complete-after-pm-transition', what: 'the D0 -> D3hot transition', start: (t) => t.port(t.src).setPowerState('D3hot') },
};

/** Ends a context read the test started, so no partial read is left (driver.read-complete-context). */
async function finishRead(t: ConformanceContext, first: AdminCommandResponse, chunk: number): Promise<void> {
  if (first.status !== Status.OK || decodeCtxReadOutput(first.output) < chunk) return;
  await t.admin.readContext(t.src, chunk);
}

/** The context of the member read in Freeze (the member is left in Freeze). */
async function contextInFreeze(t: ConformanceContext): Promise<Uint8Array> {
  await t.admin.modeSetOk(t.src, DeviceMode.STOP);
  await t.admin.modeSetOk(t.src, DeviceMode.FREEZE);
  return t.admin.readContext(t.src);
}

/**
 * Starts the FLR or power transition without waiting for it, sends the command at once, and records
 * which of the two finished first: the command must come second, and complete with OK.
 */
async function commandDuringOp(t: ConformanceContext, op: Op, cmd: Cmd): Promise<void> {
  const { req, what } = OP[op];
  await t.guest(t.src, { queues: 1 });
  let stream: Uint8Array | undefined;
  if (cmd === 'DEV_CTX_WRITE') stream = await contextInFreeze(t);
  const order: string[] = [];
  const opDone = OP[op].start(t).then(() => {
    order.push(what);
  });
  let chunk = DEFAULT_READ_CHUNK;
  const send = (): Promise<AdminCommandResponse> => {
    if (cmd === 'DEV_MODE_SET') return t.admin.modeSet(t.src, DeviceMode.STOP);
    if (cmd === 'DEV_CTX_READ') return t.admin.ctxRead(t.src, chunk);
    chunk = stream!.length <= DEFAULT_READ_CHUNK ? stream!.length : DEFAULT_READ_CHUNK;
    return t.admin.ctxWrite(t.src, stream!.subarray(0, chunk));
  };
  const answered = send().then((r) => {
    order.push(cmd);
    return r;
  });
  const [r] = await Promise.all([answered, opDone]);
  t.check(req, order[0] === what, `${cmd} sent while ${what} was in progress completed before it (completion order: ${order.join(', ')})`);
  t.expectOk(req, r, `${cmd} sent while ${what} was in progress`);
  if (cmd === 'DEV_MODE_SET' && r.status === Status.OK) {
    const mode = await t.admin.modeGetOk(t.src);
    t.check(req, mode === DeviceMode.STOP, `after DEV_MODE_SET Stop completed with OK, DEV_MODE_GET returns ${modeName(mode)}`);
  }
  if (cmd === 'DEV_CTX_READ') await finishRead(t, r, chunk);
  if (cmd === 'DEV_CTX_WRITE' && r.status === Status.OK && chunk < stream!.length) await t.admin.writeContext(t.src, stream!.subarray(chunk));
}

conformanceTest(
  {
    id: 'member.mode-set-during-flr',
    title: 'DEV_MODE_SET Stop sent during a member FLR completes after the FLR, with OK',
    requirements: ['member.cmds-complete-after-flr'],
    commandSets: ['context'],
    needs: ['member-port', 'flr'],
  },
  (t) => commandDuringOp(t, 'flr', 'DEV_MODE_SET'),
);

conformanceTest(
  {
    id: 'member.ctx-read-during-flr',
    title: 'DEV_CTX_READ sent during a member FLR completes after the FLR, with OK',
    requirements: ['member.cmds-complete-after-flr'],
    commandSets: ['context'],
    needs: ['member-port', 'flr'],
  },
  (t) => commandDuringOp(t, 'flr', 'DEV_CTX_READ'),
);

conformanceTest(
  {
    id: 'member.ctx-write-during-flr',
    title: 'DEV_CTX_WRITE (in Freeze, of the context read in Freeze) sent during a member FLR completes after the FLR, with OK',
    requirements: ['member.cmds-complete-after-flr'],
    commandSets: ['context'],
    needs: ['member-port', 'flr'],
  },
  (t) => commandDuringOp(t, 'flr', 'DEV_CTX_WRITE'),
);

conformanceTest(
  {
    id: 'member.mode-set-during-pm-transition',
    title: 'DEV_MODE_SET Stop sent during a D0 -> D3hot transition completes after it, with OK',
    requirements: ['member.cmds-complete-after-pm-transition'],
    commandSets: ['context'],
    needs: ['member-port', 'power-management'],
  },
  (t) => commandDuringOp(t, 'pm', 'DEV_MODE_SET'),
);

conformanceTest(
  {
    id: 'member.ctx-read-during-pm-transition',
    title: 'DEV_CTX_READ sent during a D0 -> D3hot transition completes after it, with OK',
    requirements: ['member.cmds-complete-after-pm-transition'],
    commandSets: ['context'],
    needs: ['member-port', 'power-management'],
  },
  (t) => commandDuringOp(t, 'pm', 'DEV_CTX_READ'),
);

conformanceTest(
  {
    id: 'member.ctx-write-during-pm-transition',
    title: 'DEV_CTX_WRITE (in Freeze) sent during a D0 -> D3hot transition completes after it, with OK',
    requirements: ['member.cmds-complete-after-pm-transition'],
    commandSets: ['context'],
    needs: ['member-port', 'power-management'],
  },
  (t) => commandDuringOp(t, 'pm', 'DEV_CTX_WRITE'),
);

// ---- virtio device reset ----------------------------------------------------------------------------
//
// A reset is complete when device_status reads 0 again (virtio 1.3 transport-pci), and nothing else
// marks its end, so the check reads device_status the moment the command completes: it must be 0.

const RESET = 'member.cmds-complete-after-reset';

/** Starts a virtio device reset of the member (0 written to device_status); the guest is live, so there is something to reset. */
async function startReset(t: ConformanceContext): Promise<void> {
  await t.port(t.src).commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, 0);
}

/** The command's response and device_status read as soon as it completed. */
async function withStatusAtAnswer(t: ConformanceContext, p: Promise<AdminCommandResponse>): Promise<{ r: AdminCommandResponse; status: number }> {
  const r = await p;
  const status = await t.port(t.src).commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
  return { r, status };
}

conformanceTest(
  {
    id: 'member.mode-set-during-reset',
    title: 'DEV_MODE_SET Stop sent during a virtio device reset of the member completes after the reset (device_status reads 0), with OK',
    requirements: ['member.cmds-complete-after-reset'],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t) => {
    await t.guest(t.src, { queues: 1 });
    await startReset(t);
    const { r, status } = await withStatusAtAnswer(t, t.admin.modeSet(t.src, DeviceMode.STOP));
    t.check(RESET, status === 0, `DEV_MODE_SET Stop completed while the reset was still in progress: device_status read 0x${status.toString(16)} at its completion`);
    t.expectOk(RESET, r, 'DEV_MODE_SET Stop sent during a device reset');
    if (r.status === Status.OK) {
      const mode = await t.admin.modeGetOk(t.src);
      t.check(RESET, mode === DeviceMode.STOP, `after DEV_MODE_SET Stop completed with OK, DEV_MODE_GET returns ${modeName(mode)}`);
    }
  },
);

conformanceTest(
  {
    id: 'member.ctx-read-during-reset',
    title: 'DEV_CTX_READ sent during a virtio device reset of the member completes after the reset (device_status reads 0), with OK',
    requirements: ['member.cmds-complete-after-reset'],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t) => {
    await t.guest(t.src, { queues: 1 });
    await startReset(t);
    const { r, status } = await withStatusAtAnswer(t, t.admin.ctxRead(t.src, DEFAULT_READ_CHUNK));
    t.check(RESET, status === 0, `DEV_CTX_READ completed while the reset was still in progress: device_status read 0x${status.toString(16)} at its completion`);
    t.expectOk(RESET, r, 'DEV_CTX_READ sent during a device reset');
    await finishRead(t, r, DEFAULT_READ_CHUNK);
  },
);

conformanceTest(
  {
    id: 'member.ctx-write-during-reset',
    title: 'DEV_MODE_SET Freeze and DEV_CTX_WRITE sent during a virtio device reset complete with OK, and the context written is not undone by the reset',
    requirements: ['member.cmds-complete-after-reset'],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t) => {
    const port = t.port(t.src);
    await t.guest(t.src, { queues: 1 });
    const live = await port.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
    const stream = await contextInFreeze(t);
    // A reset needs a device_status write, which Freeze ignores: it starts in Stop, and the move to
    // Freeze and the context write are sent while it runs. device_status is not read in Freeze (its
    // reads may return anything there), so the end of the reset is judged by the result: the context
    // written must survive it.
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    await startReset(t);
    const chunk = Math.min(stream.length, DEFAULT_READ_CHUNK);
    const [freeze, write] = await Promise.all([t.admin.modeSet(t.src, DeviceMode.FREEZE), t.admin.ctxWrite(t.src, stream.subarray(0, chunk))]);
    t.expectOk(RESET, freeze, 'DEV_MODE_SET Freeze sent during a device reset');
    t.expectOk(RESET, write, 'DEV_CTX_WRITE sent during a device reset');
    if (freeze.status !== Status.OK || write.status !== Status.OK) return;
    if (chunk < stream.length) await t.admin.writeContext(t.src, stream.subarray(chunk));
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    const status = await port.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
    t.check(RESET, status !== 0, `after the context written during the reset was applied (MODE_SET Stop), device_status reads 0: the reset, still in progress when DEV_CTX_WRITE was taken, undid it (the context carried 0x${live.toString(16)})`);
    if (status !== 0 && status !== live) t.finding(`after the context was applied device_status reads 0x${status.toString(16)}; the context carried 0x${live.toString(16)}`);
  },
);

// ---- mode after FLR and reset (E22: SHOULD, reported as WARN) -----------------------------------------

conformanceTest(
  {
    id: 'member.flr-keeps-mode',
    title: 'A member FLR in Stop or Freeze leaves the mode as it was',
    requirements: ['member.flr-keeps-mode'],
    commandSets: ['context'],
    needs: ['member-port', 'flr'],
  },
  async (t) => {
    const port = t.port(t.src);
    await t.guest(t.src, { queues: 1 });
    for (const mode of [DeviceMode.STOP, DeviceMode.FREEZE]) {
      await t.admin.modeSetOk(t.src, mode);
      await port.flr();
      const after = await t.admin.modeGetOk(t.src);
      t.should('member.flr-keeps-mode', after === mode, `DEV_MODE_GET after a member FLR in ${modeName(mode)} returns ${modeName(after)} (E22)`);
    }
  },
);

conformanceTest(
  {
    id: 'member.reset-keeps-mode',
    title: 'A virtio device reset of the member in Stop leaves the mode as it was',
    requirements: ['member.reset-keeps-mode'],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t) => {
    const drv = await t.guest(t.src, { queues: 1 });
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    // Writes in Freeze are ignored (SD14a), so a driver can reset the member only in Active or Stop.
    await drv.reset();
    const after = await t.admin.modeGetOk(t.src);
    t.should('member.reset-keeps-mode', after === DeviceMode.STOP, `DEV_MODE_GET after a device reset in Stop returns ${modeName(after)} (E22)`);
  },
);
