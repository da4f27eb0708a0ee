import type { AdminExecOptions, AdminFrame, AdminTransport, DeviceIdentity } from '../../protocol/admin-transport.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { CONTEXT_GROUP, WRITE_RECORD_GROUP } from '../../protocol/opcodes.ts';
import { Status } from '../../protocol/status.ts';
import { TransportTimeoutError } from '../../protocol/transport-errors.ts';
import { wireOptions, type WireOptions } from '../../protocol/wire-options.ts';
import type { SessionRecord } from '../../reports/results.ts';
import { AdminClient } from '../admin-client.ts';
import type { RunPlan } from '../run/run-plan.ts';
import { openTransport } from '../../transports/index.ts';
import { DriverRuleMonitor } from '../driver-rules/monitor.ts';
import { waitForReset } from '../guest/guest-driver.ts';

/** Which optional command sets the device offers, from LIST_QUERY. A set counts as offered when any of its opcodes is. */
export interface CommandSetsPresent {
  context: boolean;
  fieldsQuery: boolean;
  writeRecords: boolean;
}

/**
 * The device under test as one test worker sees it: the transport, opened once per run and shared by
 * every conformance file (a VFIO group opens in one process only), the admin client, and what the
 * device said about itself. It also owns the baseline every test starts from, and recovery.
 */
export class Session {
  readonly admin: AdminClient;
  supported = new Set<number>();
  inUse = new Set<number>();
  commandSets: CommandSetsPresent = { context: false, fieldsQuery: false, writeRecords: false };
  membersUnderTest: number[] = [];
  identity: DeviceIdentity | undefined;
  readonly findings: string[] = [];
  /** NumVFs when the session opened (restored if a test changed it). */
  vfCount = 0;
  /** Set when the device stopped answering and recovery failed; later tests are WEDGED until recovery works. */
  wedged: string | undefined;

  private constructor(
    readonly plan: RunPlan,
    readonly transport: AdminTransport,
    readonly wire: WireOptions,
    /** Checks that the harness itself obeys the driver rules. */
    readonly monitor: DriverRuleMonitor,
  ) {
    this.admin = new AdminClient(transport, wire, { timeoutMs: plan.timeouts.commandMs });
  }

  /** Opens the transport the plan names, or works over `transport` when given (self-tests of a particular device). */
  static async open(plan: RunPlan, given?: AdminTransport): Promise<Session> {
    const wire = wireOptions(plan.profile.settings);
    const raw = given ?? (await openTransport(plan.config.transport, { wire, commandMs: plan.timeouts.commandMs, seed: plan.seed }));
    const monitor = new DriverRuleMonitor(raw, wire);
    // Raw frames that tests send go into the admin client's log too, so they appear in wire traces.
    let client: AdminClient | undefined;
    const checked = monitor.transport;
    const logged: AdminTransport = Object.assign(Object.create(checked) as AdminTransport, {
      execFrame: async (frame: AdminFrame, opts?: AdminExecOptions) => {
        try {
          const completion = await checked.execFrame(frame, opts);
          client?.recordFrame(frame, { completion });
          return completion;
        } catch (error) {
          client?.recordFrame(frame, { error });
          throw error;
        }
      },
    });
    const s = new Session(plan, logged, wire, monitor);
    client = s.admin;
    const transport = s.transport;
    s.identity = await transport.identity();
    const ids = transport.memberIds();
    s.membersUnderTest = plan.config.members?.length ? plan.config.members.filter((m) => ids.includes(m)) : ids.slice(0, 2);
    for (const m of plan.config.members ?? []) if (!ids.includes(m)) s.findings.push(`configured member ${m} does not exist on the device (members: ${ids.join(', ')})`);
    if (transport.capabilities.sriovControl && transport.sriov) s.vfCount = (await transport.sriov().state()).numVfs;
    await s.negotiate();
    return s;
  }

  /** LIST_QUERY, then LIST_USE of every supported opcode the active profile knows (GR2, GR4, GR5). */
  async negotiate(): Promise<void> {
    this.supported = await this.admin.listQuery();
    const t = this.wire.opcodes;
    const any = (names: readonly (keyof typeof t)[]) => names.some((n) => this.supported.has(t[n]));
    this.commandSets = {
      context: any(CONTEXT_GROUP),
      fieldsQuery: this.supported.has(t.DEV_CTX_FIELDS_QUERY),
      writeRecords: any(WRITE_RECORD_GROUP),
    };
    this.noteNumberingHint();
    this.inUse = await this.admin.enableAll();
  }

  /** E1: a device advertising 0xd..0x10 but neither 0x11 nor 0x12 looks like it follows the paragraph numbering. */
  private noteNumberingHint(): void {
    const s = this.supported;
    if (this.plan.profile.settings.opcodeNumbering === 'table' && [0xd, 0xe, 0xf, 0x10].every((o) => s.has(o)) && !s.has(0x11) && !s.has(0x12)) {
      const f = 'E1: LIST_QUERY advertises opcodes 0xd..0x10 but not 0x11/0x12: the device may implement the paragraph-text numbering of the write-record commands (profile seed-v2-text-opcodes)';
      if (!this.findings.includes(f)) this.findings.push(f);
    }
  }

  record(): SessionRecord {
    return {
      supportedOpcodes: [...this.supported].sort((a, b) => a - b),
      inUseOpcodes: [...this.inUse].sort((a, b) => a - b),
      commandSets: { ...this.commandSets },
      membersUnderTest: [...this.membersUnderTest],
      findings: [...this.findings],
      driverRulesEnforced: [...this.monitor.enforced],
    };
  }

  /**
   * Brings members to the baseline every test starts from: no partial context (DISCARD), write
   * recording stopped, mode Active, and, where a member port exists, the function in D0 and its
   * virtio device reset (so requests of an earlier test never complete into this one).
   */
  async baseline(members: readonly number[]): Promise<void> {
    const a = this.admin;
    // A test that cleared VF Enable on purpose (GD13) and did not get to restore it: the group must exist.
    if (this.transport.capabilities.sriovControl && this.transport.sriov && this.vfCount) {
      const sriov = this.transport.sriov();
      const now = await sriov.state();
      if (!now.vfEnable || now.numVfs !== this.vfCount) {
        if (now.vfEnable) await sriov.setNumVfs(0);
        await sriov.setNumVfs(this.vfCount);
      }
    }
    // Only commands in the in-use list (GR6): a device that lacks some gets the baseline it can have.
    const t = this.wire.opcodes;
    const usable = (op: number) => this.inUse.has(op);
    for (const m of members) {
      if (usable(t.DEV_CTX_DISCARD)) await a.discard(m);
      if (usable(t.DEV_MODE_GET)) {
        const mode = await a.modeGet(m);
        if (mode.status !== Status.OK) throw new BaselineError(`member ${m}: DEV_MODE_GET failed while restoring the baseline`);
        if (mode.result[0] !== DeviceMode.ACTIVE && usable(t.DEV_MODE_SET)) {
          const r = await a.modeSet(m, DeviceMode.ACTIVE);
          if (r.status !== Status.OK) throw new BaselineError(`member ${m}: DEV_MODE_SET Active failed while restoring the baseline`);
        }
      }
      if (usable(t.DEV_WRITE_RECORDS_STOP)) await a.recordsStop(m);
      if (this.transport.capabilities.memberPort) {
        const port = this.transport.member(m);
        // A backend a test stalled goes on again (its requests die with the reset below).
        await port.stimuli?.holdRequests?.(false);
        if (port.capabilities.powerManagement) await port.setPowerState('D0');
        await port.commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, 0);
        if (!(await waitForReset(port))) throw new TransportTimeoutError(`member ${m} reset`, port.timing.resetMs);
        port.takeDmaLog();
        port.takeEvents();
      }
    }
  }

  /** After a timeout or a lost device: reset the transport's queue, negotiate again, restore the baseline. */
  async recover(members: readonly number[]): Promise<boolean> {
    try {
      if (!(await this.transport.recover())) return false;
      await this.negotiate();
      await this.baseline(members);
      this.wedged = undefined;
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}

/** The device did not come back to the baseline state between tests. */
export class BaselineError extends Error {
  override name = 'BaselineError';
}

let current: Promise<Session> | undefined;

/** The worker's session, opened on first use (conformance files share it: one worker, no isolation). */
export function getSession(plan: RunPlan): Promise<Session> {
  if (!current) {
    current = Session.open(plan);
    current.catch(() => undefined);
  }
  return current;
}
