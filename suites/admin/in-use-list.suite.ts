import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeOpcodeBitmap } from '../../protocol/commands.ts';
import { type CommandName, CONTEXT_GROUP, WRITE_RECORD_GROUP } from '../../protocol/opcodes.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import { DeviceMode, describeStatus, memberCommandsInUse, probeCommand } from './helpers.ts';

const hexList = (ops: Iterable<number>) => [...ops].sort((a, b) => a - b).map((o) => `0x${o.toString(16)}`).join(', ');

/** LIST_QUERY must keep reporting everything it reported when the session opened (GD11). */
async function checkNoShrink(t: ConformanceContext, when: string): Promise<boolean> {
  const now = await t.admin.listQuery({ resultCapacity: 256 });
  const lost = [...t.session.supported].filter((o) => !now.has(o));
  return t.check('admin.gd11-supported-list-never-shrinks', lost.length === 0, `${when}: LIST_QUERY no longer reports ${hexList(lost)} (reported when the session opened)`);
}

/**
 * One member command for the in-use probes: side-effect free or undone by the baseline (MODE_SET
 * to Active, the mode every test starts in; WRITE outside Freeze, which the device refuses).
 */
function probe(t: ConformanceContext, name: CommandName): Promise<AdminCommandResponse> {
  return probeCommand(t, name, t.src);
}

conformanceTest(
  {
    id: 'admin.list-use-sets-in-use-list',
    title: 'LIST_USE makes its list the in-use list: commands outside it fail with EINVAL/INVALID_OPCODE, commands in it work',
    requirements: [
      'admin.gd9-list-use-sets-in-use',
      'admin.gd10-check-in-use-list',
      'admin.gd10-unlisted-opcode-invalid-opcode',
      'admin.gd11-supported-list-never-shrinks',
      'admin.gd6-list-use-may-fail-on-dependencies',
    ],
    // Sends commands that the in-use list does not hold, on purpose (GD10 probe).
    breaks: ['admin.gr6-no-command-before-list-use'],
  },
  async (t: ConformanceContext) => {
    const op = t.opcodes;
    const all = memberCommandsInUse(t);
    if (!all.length) t.notApplicable('the device offers no command besides LIST_QUERY and LIST_USE');
    const base = [op.LIST_QUERY, op.LIST_USE];
    const inGroup = (g: readonly CommandName[]) => all.filter((n) => g.includes(n) || (g === CONTEXT_GROUP && n === 'DEV_CTX_FIELDS_QUERY'));
    // Lists to try: only the list commands (the state after a reset), then each command group alone.
    const lists: { what: string; cmds: CommandName[] }[] = [{ what: 'LIST_QUERY and LIST_USE only', cmds: [] }];
    const ctx = inGroup(CONTEXT_GROUP);
    const wr = inGroup(WRITE_RECORD_GROUP);
    if (ctx.length && wr.length) {
      lists.push({ what: 'the mode/context commands only', cmds: ctx });
      lists.push({ what: 'the write-record commands only', cmds: wr });
    }
    // All but one command the undo of a probe never needs (READ, DISCARD, START, STOP, WRITE_RECORDS_READ).
    const undo: CommandName[] = ['DEV_CTX_READ', 'DEV_CTX_DISCARD', 'DEV_WRITE_RECORDS_START', 'DEV_WRITE_RECORDS_STOP', 'DEV_WRITE_RECORDS_READ'];
    const left = all.find((n) => !undo.includes(n));
    if (left && all.length > 1) lists.push({ what: `every command but ${left}`, cmds: all.filter((n) => n !== left) });
    let accepted = 0;
    try {
      for (const l of lists) {
        const list = [...base, ...l.cmds.map((n) => op[n])];
        const r = await t.admin.listUse(list);
        if (r.status !== Status.OK) {
          // GD6: a device may refuse a list that breaks its dependencies, but only as EINVAL/INVALID_FIELD.
          t.expectStatus('admin.gd6-list-use-may-fail-on-dependencies', r, Status.EINVAL, Qualifier.INVALID_FIELD, `LIST_USE of ${l.what} (${hexList(list)}) refused`);
          t.finding(`the device refused LIST_USE of ${l.what} (${hexList(list)}): ${describeStatus(r)} (GD6 allows it)`);
          continue;
        }
        accepted++;
        for (const name of all) {
          const r2 = await probe(t, name);
          const listed = l.cmds.includes(name);
          if (listed) {
            t.check('admin.gd9-list-use-sets-in-use', !(r2.status === Status.EINVAL && r2.qualifier === Qualifier.INVALID_OPCODE), `after LIST_USE of ${l.what}: ${name} is in the list, yet it failed with ${describeStatus(r2)}`);
          } else {
            t.check('admin.gd10-check-in-use-list', r2.status !== Status.OK, `after LIST_USE of ${l.what}: ${name} is not in the in-use list, yet it completed OK`);
            t.expectStatus('admin.gd10-unlisted-opcode-invalid-opcode', r2, Status.EINVAL, Qualifier.INVALID_OPCODE, `after LIST_USE of ${l.what}: ${name} (not in the in-use list)`);
          }
        }
        // LIST_QUERY is in every list here: it must work and still report the supported commands (GD11).
        // If it shrank, a wider LIST_USE would ask for unreported commands (GR5): stop here.
        if (!(await checkNoShrink(t, `after LIST_USE of ${l.what}`))) return;
      }
      // Back to the full list (what LIST_QUERY offers now): everything in it works again (GD9).
      const full = await t.admin.enableAll();
      for (const name of all.filter((n) => full.has(op[n]))) {
        const r2 = await probe(t, name);
        t.check('admin.gd9-list-use-sets-in-use', !(r2.status === Status.EINVAL && r2.qualifier === Qualifier.INVALID_OPCODE), `after LIST_USE of the full list: ${name} failed with ${describeStatus(r2)}`);
      }
    } finally {
      await t.admin.enableAll();
    }
    if (accepted === 0) t.finding('the device refused every reduced in-use list; GD9 and GD10 were checked only with the full list');
  },
);

conformanceTest(
  {
    id: 'admin.list-query-list-bits',
    title: 'LIST_QUERY always reports LIST_QUERY (bit 0) and LIST_USE (bit 1) in its first word',
    requirements: ['admin.list-query-reports-list-commands'],
  },
  async (t: ConformanceContext) => {
    for (const room of [8, 64, 512]) {
      const r = await t.admin.send('LIST_QUERY', 0, undefined, { resultCapacity: room });
      t.requireOk('admin.list-query-reports-list-commands', r, `LIST_QUERY with a ${room}-byte result buffer`);
      const got = decodeOpcodeBitmap(r.result);
      t.check('admin.list-query-reports-list-commands', got.has(0), `LIST_QUERY (${room}-byte buffer): bit 0 (LIST_QUERY) is clear; reported ${hexList(got)}`);
      t.check('admin.list-query-reports-list-commands', got.has(1), `LIST_QUERY (${room}-byte buffer): bit 1 (LIST_USE) is clear; reported ${hexList(got)}`);
    }
  },
);

conformanceTest(
  {
    id: 'admin.supported-list-stable',
    title: 'LIST_QUERY never drops a command it reported before (mode changes, context reads, LIST_USE)',
    requirements: ['admin.gd11-supported-list-never-shrinks'],
  },
  async (t: ConformanceContext) => {
    await checkNoShrink(t, 'at the start of the test');
    if (t.session.commandSets.context) {
      for (const m of [DeviceMode.STOP, DeviceMode.FREEZE, DeviceMode.ACTIVE]) {
        await t.admin.modeSetOk(t.src, m);
        await checkNoShrink(t, `after DEV_MODE_SET ${['Active', 'Stop', 'Freeze'][m]}`);
      }
    }
    await t.admin.enableAll();
    await checkNoShrink(t, 'after LIST_USE');
  },
);

conformanceTest(
  {
    id: 'admin.in-use-list-after-owner-reset',
    title: 'After an owner reset only LIST_QUERY and LIST_USE are in use (GD8), and the device accepts the list it accepted before (GD12)',
    requirements: ['admin.gd8-initial-in-use-list', 'admin.gd12-same-list-after-reset', 'admin.gd12-no-failure-because-of-list'],
    // Sends a migration command after the reset and before LIST_USE, on purpose (GD8 probe).
    breaks: ['admin.gr2-list-use-before-commands', 'admin.gr6-no-command-before-list-use'],
  },
  async (t: ConformanceContext) => {
    const tr = t.session.transport;
    if (!tr.capabilities.recover) t.notTested('the transport cannot reset the owner (no recover())');
    const probeCmd = memberCommandsInUse(t).find((n) => n === 'DEV_MODE_GET') ?? memberCommandsInUse(t)[0];
    if (!probeCmd) t.notApplicable('the device offers no command besides LIST_QUERY and LIST_USE');
    const before = [...t.session.inUse];
    try {
      // The transport's recovery path: queue reset and, where it can, an owner reset.
      if (!(await tr.recover())) t.notTested('the transport could not reset the owner');
      const lq = await t.admin.send('LIST_QUERY', 0, undefined, { resultCapacity: 64 });
      const p = await probe(t, probeCmd);
      if (p.status === Status.OK) {
        // Either the transport did not reset the owner, or the device kept its in-use list across the
        // reset: the harness cannot tell the two apart (it has no owner reset of its own).
        t.finding(`after the transport's recover() ${probeCmd} completed OK before any LIST_USE: either recover() did not reset the owner or the device kept its in-use list across a reset (GD8); not judged`);
        t.notTested('no owner reset observed: the transport gives no way to reset the owner that the suite can verify');
      }
      // The owner was reset (the probe was refused): LIST_QUERY and LIST_USE are the in-use list.
      t.expectOk('admin.gd8-initial-in-use-list', lq, 'LIST_QUERY after the owner reset');
      t.expectStatus('admin.gd8-initial-in-use-list', p, Status.EINVAL, Qualifier.INVALID_OPCODE, `${probeCmd} after the owner reset, before LIST_USE`);
      const now = lq.status === Status.OK ? decodeOpcodeBitmap(lq.result) : new Set<number>();
      const gone = before.filter((o) => !now.has(o));
      if (gone.length) {
        // GD11 (judged by admin.supported-list-stable): the same list can no longer be asked for (GR5).
        t.finding(`after the owner reset LIST_QUERY no longer reports ${hexList(gone)}; LIST_USE of the earlier list was not sent`);
        return;
      }
      const r = await t.admin.listUse(before);
      t.check('admin.gd8-initial-in-use-list', !(r.status === Status.EINVAL && r.qualifier === Qualifier.INVALID_OPCODE), `LIST_USE after the owner reset failed as not in use: ${describeStatus(r)}`);
      t.should('admin.gd12-same-list-after-reset', r.status === Status.OK, `LIST_USE of the list accepted before the reset (${hexList(before)}) failed: ${describeStatus(r)}`);
      t.check('admin.gd12-no-failure-because-of-list', !(r.status === Status.EINVAL && r.qualifier === Qualifier.INVALID_FIELD), `LIST_USE of the list accepted before the reset was refused because of the list: ${describeStatus(r)}`);
    } finally {
      await t.admin.enableAll();
    }
  },
);
