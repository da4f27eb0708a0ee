/**
 * MODE_SET, DEV_CTX_READ and DEV_CTX_WRITE for a member that arrive while its FLR, virtio device reset
 * or power-management transition is in progress complete after it, successfully (SD14c-e; E22: the
 * owner answers, so the owner delays the completion). FLR and reset keep the mode (E22, SHOULD).
 *
 * Each test shows through the transport that the operation was in progress when the command was sent:
 * a function in an FLR or a D3hot -> D0 transition answers no configuration read (all ones), a virtio
 * reset is in progress until device_status reads 0. It reads that state right after starting the
 * operation and again after sending the command; the command must complete only once the operation
 * is over (a read issued after its completion shows the operation finished). Where the operation
 * cannot be seen in progress (it ends before a read can tell), the test is NOT_TESTED: nothing was
 * shown. No wait is a fixed sleep: the device's own end of the operation is waited for, bounded by
 * the reset time the transport declares, so the same test holds on a card whose FLR takes 100 ms.
 */
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { DEFAULT_READ_CHUNK } from '../../harness/admin-client.ts';
import { waitForDevice } from '../../harness/wait.ts';
import { decodeCtxReadOutput, DeviceMode, modeName } from '../../protocol/commands.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { configReaderOf, findCapability } from '../../protocol/pci-capabilities.ts';
import { answersConfigReads, configAccessOf, requestFlr, requestPowerState } from '../../protocol/pci-function-control.ts';
import { PciCapId } from '../../protocol/pci.ts';
import { Status } from '../../protocol/status.ts';

type Op = 'flr' | 'pm';
type Cmd = 'DEV_MODE_SET' | 'DEV_CTX_READ' | 'DEV_CTX_WRITE';

interface LongOp {
  req: string;
  what: string;
  /** The capability whose register starts the operation. */
  cap: number;
  capName: string;
  /** Brings the member where the operation can start (D3hot for the D3hot -> D0 transition). */
  prepare(port: MemberPort): Promise<void>;
  /** Starts the operation through the capability at `at`, without waiting for it. */
  start(port: MemberPort, at: number): Promise<void>;
}

const OP: Record<Op, LongOp> = {
  flr: {
    req: 'member.cmds-complete-after-flr',
    what: 'the member FLR',
    cap: PciCapId.EXP,
    capName: 'PCI Express',
    prepare: async () => undefined,
    start: (port, at) => requestFlr(configAccessOf(port), at),
  },
  pm: {
    req: 'member.cmds-complete-after-pm-transition',
    what: 'the D3hot -> D0 transition',
    cap: PciCapId.PM,
    capName: 'power management',
    prepare: (port) => port.setPowerState('D3hot'),
    start: (port, at) => requestPowerState(configAccessOf(port), at, 'D0'),
  },
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
 * Starts the FLR or the D3hot -> D0 transition, shows it in progress (configuration reads return all
 * ones), sends the command, shows the operation still in progress, and requires the command to
 * complete only once the function answers again, with OK.
 */
async function commandDuringOp(t: ConformanceContext, op: Op, cmd: Cmd): Promise<void> {
  const { req, what } = OP[op];
  const port = t.port(t.src);
  const answering = () => answersConfigReads(configReaderOf(port));
  await t.guest(t.src, { queues: 1 });
  let stream: Uint8Array | undefined;
  if (cmd === 'DEV_CTX_WRITE') stream = await contextInFreeze(t);
  const at = await findCapability(configReaderOf(port), OP[op].cap);
  if (at === undefined) return t.notApplicable(`the member has no ${OP[op].capName} capability`);
  await OP[op].prepare(port);
  let chunk = DEFAULT_READ_CHUNK;
  const send = (): Promise<AdminCommandResponse> => {
    if (cmd === 'DEV_MODE_SET') return t.admin.modeSet(t.src, DeviceMode.STOP);
    if (cmd === 'DEV_CTX_READ') return t.admin.ctxRead(t.src, chunk);
    chunk = stream!.length <= DEFAULT_READ_CHUNK ? stream!.length : DEFAULT_READ_CHUNK;
    return t.admin.ctxWrite(t.src, stream!.subarray(0, chunk));
  };

  await OP[op].start(port, at);
  const startedSilent = !(await answering());
  const pending = send();
  const silentAfterSend = startedSilent && !(await answering());
  const r = await pending;
  const answersAtCompletion = await answering();
  // The function comes back within the reset time the transport declares (whatever the verdict).
  await waitForDevice(port, answering, t.timing.resetMs);
  if (!startedSilent || !silentAfterSend) {
    await cleanUp(t, cmd, r, chunk, stream);
    t.notTested(
      `${what} could not be shown in progress ${startedSilent ? 'when the command was sent' : 'at all'}: configuration reads answered ${startedSilent ? 'again right after the command was sent' : 'right after it was started'}, so the command may have arrived after it`,
    );
  }
  t.check(req, answersAtCompletion, `${cmd} sent while ${what} was in progress (configuration reads returned all ones before and after it was sent) completed while it was still in progress: a configuration read issued after the completion still returned all ones`);
  t.expectOk(req, r, `${cmd} sent while ${what} was in progress`);
  if (cmd === 'DEV_MODE_SET' && r.status === Status.OK) {
    const mode = await t.admin.modeGetOk(t.src);
    t.check(req, mode === DeviceMode.STOP, `after DEV_MODE_SET Stop completed with OK, DEV_MODE_GET returns ${modeName(mode)}`);
  }
  await cleanUp(t, cmd, r, chunk, stream);
}

/** Leaves no partial context read or write behind (driver.read-complete-context, driver.write-complete-context). */
async function cleanUp(t: ConformanceContext, cmd: Cmd, r: AdminCommandResponse, chunk: number, stream: Uint8Array | undefined): Promise<void> {
  if (cmd === 'DEV_CTX_READ') await finishRead(t, r, chunk);
  if (cmd === 'DEV_CTX_WRITE' && r.status === Status.OK && chunk < stream!.length) await t.admin.writeContext(t.src, stream!.subarray(chunk));
}

conformanceTest(
  {
    id: 'member.mode-set-during-flr',
    title: 'DEV_MODE_SET Stop sent during a member FLR completes after the FLR, with OK',
    requirements: ['member.cmds-complete-after-flr'],
    commandSets: ['context'],
    needs: ['member-port', 'flr', 'pci-config'],
  },
  (t) => commandDuringOp(t, 'flr', 'DEV_MODE_SET'),
);

conformanceTest(
  {
    id: 'member.ctx-read-during-flr',
    title: 'DEV_CTX_READ sent during a member FLR completes after the FLR, with OK',
    requirements: ['member.cmds-complete-after-flr'],
    commandSets: ['context'],
    needs: ['member-port', 'flr', 'pci-config'],
  },
  (t) => commandDuringOp(t, 'flr', 'DEV_CTX_READ'),
);

conformanceTest(
  {
    id: 'member.ctx-write-during-flr',
    title: 'DEV_CTX_WRITE (in Freeze, of the context read in Freeze) sent during a member FLR completes after the FLR, with OK',
    requirements: ['member.cmds-complete-after-flr'],
    commandSets: ['context'],
    needs: ['member-port', 'flr', 'pci-config'],
  },
  (t) => commandDuringOp(t, 'flr', 'DEV_CTX_WRITE'),
);

conformanceTest(
  {
    id: 'member.mode-set-during-pm-transition',
    title: 'DEV_MODE_SET Stop sent during a D3hot -> D0 transition completes after it, with OK',
    requirements: ['member.cmds-complete-after-pm-transition'],
    commandSets: ['context'],
    needs: ['member-port', 'power-management', 'pci-config'],
  },
  (t) => commandDuringOp(t, 'pm', 'DEV_MODE_SET'),
);

conformanceTest(
  {
    id: 'member.ctx-read-during-pm-transition',
    title: 'DEV_CTX_READ sent during a D3hot -> D0 transition completes after it, with OK',
    requirements: ['member.cmds-complete-after-pm-transition'],
    commandSets: ['context'],
    needs: ['member-port', 'power-management', 'pci-config'],
  },
  (t) => commandDuringOp(t, 'pm', 'DEV_CTX_READ'),
);

conformanceTest(
  {
    id: 'member.ctx-write-during-pm-transition',
    title: 'DEV_CTX_WRITE (in Freeze) sent during a D3hot -> D0 transition completes after it, with OK',
    requirements: ['member.cmds-complete-after-pm-transition'],
    commandSets: ['context'],
    needs: ['member-port', 'power-management', 'pci-config'],
  },
  (t) => commandDuringOp(t, 'pm', 'DEV_CTX_WRITE'),
);

// ---- virtio device reset ----------------------------------------------------------------------------
//
// A reset is complete when device_status reads 0 again (virtio 1.3 transport-pci), and nothing else
// marks its end: it is in progress while device_status still reads what it held.

const RESET = 'member.cmds-complete-after-reset';

/** device_status of the member. */
function deviceStatus(t: ConformanceContext): Promise<number> {
  return t.port(t.src).commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
}

/**
 * Starts a virtio device reset of the live member (0 written to device_status) and tells whether it
 * is seen in progress (device_status does not read 0 yet).
 */
async function startReset(t: ConformanceContext): Promise<boolean> {
  await t.port(t.src).commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, 0);
  return (await deviceStatus(t)) !== 0;
}

/**
 * A command sent during a reset: the reset shown in progress before and after the command was sent,
 * device_status 0 (the reset over) when the command completed.
 */
async function commandDuringReset(t: ConformanceContext, cmd: string, send: () => Promise<AdminCommandResponse>, after: (r: AdminCommandResponse) => Promise<void>): Promise<void> {
  await t.guest(t.src, { queues: 1 });
  const startedBusy = await startReset(t);
  const pending = send();
  const busyAfterSend = startedBusy && (await deviceStatus(t)) !== 0;
  const r = await pending;
  const atCompletion = await deviceStatus(t);
  if (!startedBusy || !busyAfterSend) {
    await after(r);
    t.notTested(`the reset could not be shown in progress ${startedBusy ? 'when the command was sent' : 'at all'}: device_status read 0 ${startedBusy ? 'right after the command was sent' : 'right after 0 was written'}, so the command may have arrived after it`);
  }
  t.check(RESET, atCompletion === 0, `${cmd} sent while the reset was in progress (device_status still non-zero after it was sent) completed while it was still in progress: device_status read 0x${atCompletion.toString(16)} after the completion`);
  t.expectOk(RESET, r, `${cmd} sent during a device reset`);
  await after(r);
}

conformanceTest(
  {
    id: 'member.mode-set-during-reset',
    title: 'DEV_MODE_SET Stop sent during a virtio device reset of the member completes after the reset (device_status reads 0), with OK',
    requirements: ['member.cmds-complete-after-reset'],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  (t) =>
    commandDuringReset(
      t,
      'DEV_MODE_SET Stop',
      () => t.admin.modeSet(t.src, DeviceMode.STOP),
      async (r) => {
        if (r.status !== Status.OK) return;
        const mode = await t.admin.modeGetOk(t.src);
        t.check(RESET, mode === DeviceMode.STOP, `after DEV_MODE_SET Stop completed with OK, DEV_MODE_GET returns ${modeName(mode)}`);
      },
    ),
);

conformanceTest(
  {
    id: 'member.ctx-read-during-reset',
    title: 'DEV_CTX_READ sent during a virtio device reset of the member completes after the reset (device_status reads 0), with OK',
    requirements: ['member.cmds-complete-after-reset'],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  (t) =>
    commandDuringReset(
      t,
      'DEV_CTX_READ',
      () => t.admin.ctxRead(t.src, DEFAULT_READ_CHUNK),
      (r) => finishRead(t, r, DEFAULT_READ_CHUNK),
    ),
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
    // Freeze and the context write are sent while it runs. device_status is not read once MODE_SET
    // Freeze is sent (a driver does not touch the member around Freeze, and its reads may return
    // anything there), so the reset is shown in progress right before the commands were sent and its
    // end is judged by the result: the context written must survive it.
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    const busy = await startReset(t);
    const chunk = Math.min(stream.length, DEFAULT_READ_CHUNK);
    const [freeze, write] = await Promise.all([t.admin.modeSet(t.src, DeviceMode.FREEZE), t.admin.ctxWrite(t.src, stream.subarray(0, chunk))]);
    if (freeze.status === Status.OK && write.status === Status.OK && chunk < stream.length) await t.admin.writeContext(t.src, stream.subarray(chunk));
    if (!busy) t.notTested('the reset could not be shown in progress: device_status read 0 right after 0 was written, so the commands may have arrived after it');
    t.expectOk(RESET, freeze, 'DEV_MODE_SET Freeze sent during a device reset');
    t.expectOk(RESET, write, 'DEV_CTX_WRITE sent during a device reset');
    if (freeze.status !== Status.OK || write.status !== Status.OK) return;
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
