import { describe, expect, it } from 'vitest';
import { AdminClient } from '../../harness/admin-client.ts';
import { DriverRuleMonitor } from '../../harness/driver-rules/monitor.ts';
import { END_OF_TEST_RULES, Rule, RULE_COMMAND_SET } from '../../harness/driver-rules/rules.ts';
import { blkRead } from '../../harness/guest/block-guest.ts';
import { GuestDriver } from '../../harness/guest/guest-driver.ts';
import { encodeAdminCmd } from '../../protocol/admin-frame.ts';
import { DeviceMode, encodeModeSetData, encodeOpcodeBitmap } from '../../protocol/commands.ts';
import type { MemberPort } from '../../protocol/member-port.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { VirtioPciCap } from '../../protocol/pci.ts';
import { GroupType } from '../../protocol/status.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { CapOffset } from '../../device/member/layout.ts';
import { loadCatalog } from '../../spec/catalog.ts';
import { SimulatorTransport } from '../../transports/simulator/simulator-transport.ts';
import { ReferenceDevice } from '../../device/reference-device.ts';
import { eachMember, patch } from '../../device/mutants/mutant.ts';
import type { VirtioAdminCmd } from '../../protocol/admin-frame.ts';

const OP = SEED_V2_WIRE.opcodes;
const PAGE = 4096n;

interface Bench {
  sim: SimulatorTransport;
  mon: DriverRuleMonitor;
  admin: AdminClient;
  port(id: number): MemberPort;
  /** Rules broken since the last call (endTest, then a new beginTest). */
  broken(info?: { bodyCompleted: boolean }): string[];
}

/** A simulator behind the monitor, an admin client on the monitored transport, LIST_QUERY + LIST_USE done. */
async function bench(o: { negotiate?: boolean; device?: (d: ReferenceDevice) => void } = {}): Promise<Bench> {
  const sim = new SimulatorTransport(
    o.device
      ? {
          createDevice: (opts, wiring) => {
            const d = new ReferenceDevice(opts, wiring);
            o.device!(d);
            return d;
          },
        }
      : {},
  );
  const mon = new DriverRuleMonitor(sim, SEED_V2_WIRE);
  const admin = new AdminClient(mon.transport, SEED_V2_WIRE, { timeoutMs: 2000 });
  mon.beginTest([]);
  if (o.negotiate !== false) await admin.enableAll();
  return {
    sim,
    mon,
    admin,
    port: (id) => mon.transport.member(id),
    broken(info) {
      const v = mon.endTest(info).map((x) => x.rule);
      mon.beginTest([]);
      return [...new Set(v)].sort();
    },
  };
}

/** A context of member 1, read in Freeze (member 1 left in Freeze, stream ended). */
async function contextOf(b: Bench): Promise<Uint8Array> {
  await b.admin.modeSetOk(1, DeviceMode.STOP);
  await b.admin.modeSetOk(1, DeviceMode.FREEZE);
  return b.admin.readContext(1, 4096);
}

/** A guest on member 1 with a few requests done (the member works and writes memory). */
async function guest(b: Bench): Promise<GuestDriver> {
  const drv = await new GuestDriver(b.port(1)).init({ queues: 1, queueSize: 64 });
  drv.post(0, blkRead(0n, 1));
  await drv.kick(0);
  await drv.poll(0, 1);
  return drv;
}

describe('driver-rule monitor: correct use stays quiet', () => {
  it('negotiation, modes, a whole context read and written in chunks, write recording drained before STOP, member accesses in Active', async () => {
    const b = await bench();
    const drv = await guest(b);
    const arena = drv.arena;
    await b.admin.recordsStartOk(1, { pageSize: PAGE, entries: [{ pageAddress: arena.base, pageCount: BigInt(arena.size) / PAGE }] });
    drv.post(0, blkRead(1n, 1));
    await drv.kick(0);
    await drv.poll(0, 1);
    await b.admin.sizeGetOk(1, 1);
    const ctx = await contextOf(b);
    await b.admin.drainRecords(1, arena.base, BigInt(arena.size));
    await b.admin.recordsStopOk(1);
    await b.admin.modeSetOk(2, DeviceMode.FREEZE);
    // Chunks of 24 bytes, the last one shorter (padded on the wire only after the end of the context).
    await b.admin.writeContext(2, ctx.subarray(0, ctx.length - (ctx.length % 24)), 24);
    if (ctx.length % 24) await b.admin.ctxWrite(2, ctx.subarray(ctx.length - (ctx.length % 24)));
    // PCI configuration in Freeze outside the PCI_CFG capability is the hypervisor's business (not virtio access).
    await drv.rebind(b.port(2));
    await b.admin.modeSetOk(2, DeviceMode.ACTIVE);
    await b.port(2).deviceCfgRead(0, 4);
    await b.admin.discardOk(1);
    await b.admin.modeSetOk(1, DeviceMode.ACTIVE);
    expect(b.broken({ bodyCompleted: true })).toEqual([]);
  });

  it('a partial read or write ended with DISCARD, and STOP of a member that cannot have written memory', async () => {
    const b = await bench();
    await b.admin.modeSetOk(1, DeviceMode.FREEZE);
    await b.admin.ctxReadOk(1, 16);
    await b.admin.discardOk(1);
    const ctx = await b.admin.readContext(1, 4096);
    await b.admin.modeSetOk(2, DeviceMode.FREEZE);
    await b.admin.ctxWrite(2, ctx.subarray(0, 16));
    await b.admin.discardOk(2);
    await b.admin.modeSetOk(2, DeviceMode.ACTIVE);
    // Member 2 is reset (device_status 0): it uses no queue, so there is nothing to drain.
    await b.port(2).commonCfgWrite(CommonCfg.DEVICE_STATUS.offset, 1, 0);
    await b.admin.recordsStartOk(2, { pageSize: PAGE, entries: [{ pageAddress: 0x100000n, pageCount: 4n }] });
    await b.admin.recordsStopOk(2);
    expect(b.broken({ bodyCompleted: true })).toEqual([]);
  });
});

describe('driver-rule monitor: each check fires on a hand-made breach', () => {
  it('GR2 and GR6: a command before LIST_USE', async () => {
    const b = await bench({ negotiate: false });
    await b.admin.modeGet(1);
    expect(b.broken()).toEqual([Rule.LIST_USE_FIRST, Rule.IN_USE_ONLY]);
  });

  it('GR6: an opcode the last LIST_USE left out (unassigned 0xe, and MODE_GET after a LIST_USE without it)', async () => {
    const b = await bench();
    await b.admin.sendOpcode(0xe, 1);
    expect(b.broken()).toEqual([Rule.IN_USE_ONLY]);
    await b.admin.listUse([OP.LIST_QUERY, OP.LIST_USE, OP.DEV_MODE_SET]);
    await b.admin.modeGet(1);
    expect(b.broken()).toEqual([Rule.IN_USE_ONLY]);
  });

  it('GR3: LIST_USE while another command is outstanding', async () => {
    const b = await bench();
    const pending = b.admin.modeGet(1);
    await b.admin.listUse(Object.values(OP));
    await pending;
    expect(b.broken()).toEqual([Rule.LIST_USE_IDLE]);
  });

  it('GR4 and GR5: LIST_USE with an opcode the suite does not know and the device did not report', async () => {
    const b = await bench();
    await b.admin.listUse([...Object.values(OP), 0x40]);
    expect(b.broken()).toEqual([Rule.LIST_USE_KNOWN, Rule.LIST_USE_SUPPORTED]);
  });

  it('GR5: LIST_USE before any LIST_QUERY', async () => {
    const b = await bench({ negotiate: false });
    await b.admin.listUse([OP.LIST_QUERY, OP.LIST_USE]);
    expect(b.broken()).toEqual([Rule.LIST_USE_SUPPORTED]);
  });

  it('GR10: group_member_id outside 1..NumVFs', async () => {
    const b = await bench();
    await b.admin.modeGet(0);
    await b.admin.modeGet(3);
    expect(b.broken()).toEqual([Rule.MEMBER_IN_RANGE]);
  });

  it('GR10: a command while VF Enable is clear, and NumVFs / VF Enable changed while a command is outstanding', async () => {
    // DEV_MODE_GET waits at a gate, so a command is certainly outstanding while SR-IOV changes.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const b = await bench({
      device: (d) => {
        const get = d.handlers.DEV_MODE_GET!;
        d.handlers.DEV_MODE_GET = async (c) => {
          await gate;
          return get(c);
        };
      },
    });
    const sriov = b.mon.transport.sriov!();
    const n = (await sriov.state()).numVfs;
    await sriov.setNumVfs(0);
    await b.admin.modeGet(1);
    // With no VFs (NumVFs 0, as the host sets it with VF Enable) member 1 is out of range too.
    expect(b.broken()).toEqual([Rule.MEMBER_IN_RANGE, Rule.VF_ENABLE]);
    await sriov.setNumVfs(n);
    expect(b.broken()).toEqual([]);
    const pending = b.admin.modeGet(1);
    await new Promise((r) => setImmediate(r));
    // The VFs go away only once the command holding member 1 is done: open the gate after the change began.
    const change = sriov.setNumVfs(0);
    setImmediate(open);
    await change;
    await pending;
    expect(b.broken()).toEqual([Rule.VF_ENABLE]);
  });

  it('VR2, VR3, VR4: a readable part short of the structure, parts not multiples of 8, an empty part', async () => {
    const b = await bench();
    await b.admin.send('DEV_MODE_SET', 1, new Uint8Array(0), { resultCapacity: 0 });
    expect(b.broken()).toEqual([Rule.READABLE_COVERS]);
    await b.admin.send('DEV_MODE_SET', 1, encodeModeSetData(DeviceMode.ACTIVE), { resultCapacity: 0, unpadded: true });
    expect(b.broken()).toEqual([Rule.PARTS_ALIGNED]);
    const readable = encodeAdminCmd({ opcode: OP.DEV_MODE_GET, groupType: GroupType.SRIOV, memberId: 1n, data: new Uint8Array(0) });
    await b.mon.transport.execFrame({ readable, writableLength: 12 });
    expect(b.broken()).toEqual([Rule.PARTS_ALIGNED]);
    await b.mon.transport.execFrame({ readable, writableLength: 0 });
    expect(b.broken()).toEqual([Rule.PARTS_NON_EMPTY]);
  });

  it('MODE_SET with a reserved mode, SIZE_GET with freeze_mode 2', async () => {
    const b = await bench();
    await b.admin.modeSet(1, 3);
    expect(b.broken()).toEqual([Rule.MODE_VALID]);
    await b.admin.sizeGet(1, 2);
    expect(b.broken()).toEqual([Rule.FREEZE_MODE_VALID]);
  });

  it('SR3: MODE_SET Stop or Active while the context write is partial', async () => {
    const b = await bench();
    const ctx = await contextOf(b);
    await b.admin.modeSetOk(2, DeviceMode.FREEZE);
    await b.admin.ctxWrite(2, ctx.subarray(0, 32));
    await b.admin.modeSet(2, DeviceMode.ACTIVE);
    await b.admin.modeSet(2, DeviceMode.STOP);
    expect(b.broken()).toEqual([Rule.NO_LEAVE_PARTIAL]);
    await b.admin.ctxWrite(2, ctx.subarray(32));
    await b.admin.modeSetOk(2, DeviceMode.ACTIVE);
    expect(b.broken()).toEqual([]);
  });

  it('WRITE chunks: a chunk that is not a multiple of 8 before the end of the context', async () => {
    const b = await bench();
    const ctx = await contextOf(b);
    await b.admin.modeSetOk(2, DeviceMode.FREEZE);
    await b.admin.ctxWrite(2, ctx.subarray(0, 12));
    expect(b.broken()).toEqual([Rule.WRITE_CHUNKS]);
  });

  it('SR6: START with overlapping and with duplicate ranges', async () => {
    const b = await bench();
    await b.admin.recordsStart(1, { pageSize: PAGE, entries: [{ pageAddress: 0x100000n, pageCount: 4n }, { pageAddress: 0x102000n, pageCount: 4n }] });
    expect(b.broken()).toEqual([Rule.START_NO_OVERLAP]);
    await b.admin.recordsStart(2, { pageSize: PAGE, entries: [{ pageAddress: 0x100000n, pageCount: 4n }, { pageAddress: 0x100000n, pageCount: 4n }] });
    expect(b.broken()).toEqual([Rule.START_NO_OVERLAP, Rule.START_UNIQUE]);
  });

  it('RECORDS_READ: a length that is not a multiple of the page size, a range outside the started one', async () => {
    const b = await bench();
    await b.admin.recordsStartOk(1, { pageSize: PAGE, entries: [{ pageAddress: 0x100000n, pageCount: 4n }] });
    await b.admin.recordsRead(1, 0x100000n, 100n);
    expect(b.broken()).toEqual([Rule.RECORDS_READ_LENGTH]);
    await b.admin.recordsRead(1, 0x103000n, 2n * PAGE);
    expect(b.broken()).toEqual([Rule.RECORDS_READ_RANGE]);
  });

  it('drain before STOP: the member worked since START and no READ came back short', async () => {
    const b = await bench();
    const drv = await guest(b);
    const range = { pageSize: PAGE, entries: [{ pageAddress: drv.arena.base, pageCount: BigInt(drv.arena.size) / PAGE }] };
    await b.admin.recordsStartOk(1, range);
    await b.admin.recordsStopOk(1);
    expect(b.broken()).toEqual([Rule.DRAIN_BEFORE_STOP]);
    // Drained, then the guest kicks again: the records must be read again before STOP.
    await b.admin.recordsStartOk(1, range);
    await b.admin.drainRecords(1, drv.arena.base, BigInt(drv.arena.size));
    drv.post(0, blkRead(2n, 1));
    await drv.kick(0);
    await drv.poll(0, 1);
    await b.admin.recordsStopOk(1);
    expect(b.broken()).toEqual([Rule.DRAIN_BEFORE_STOP]);
    // Drained after the member went to Freeze: nothing new can come.
    await b.admin.recordsStartOk(1, range);
    await b.admin.modeSetOk(1, DeviceMode.FREEZE);
    await b.admin.drainRecords(1, drv.arena.base, BigInt(drv.arena.size));
    await b.admin.recordsStopOk(1);
    expect(b.broken()).toEqual([]);
  });

  it('SR1: a partial read dropped by MODE_SET Freeze', async () => {
    const b = await bench();
    await b.admin.ctxReadOk(1, 16);
    await b.admin.modeSetOk(1, DeviceMode.FREEZE);
    expect(b.broken()).toEqual([Rule.READ_COMPLETE]);
  });

  it('end of a test whose body completed: a partial read, a partial write, recording left running', async () => {
    const b = await bench();
    const ctx = await contextOf(b);
    await b.admin.modeSetOk(2, DeviceMode.FREEZE);
    await b.admin.ctxWrite(2, ctx.subarray(0, 32));
    await b.admin.ctxReadOk(2, 16);
    await b.admin.recordsStartOk(2, { pageSize: PAGE, entries: [{ pageAddress: 0x100000n, pageCount: 4n }] });
    expect(b.broken({ bodyCompleted: true })).toEqual([Rule.READ_COMPLETE, Rule.STOP_RECORDING, Rule.WRITE_COMPLETE].sort());
  });

  it('end of a test cut short: what it left is the next baseline\'s to clean up, with no breach', async () => {
    const b = await bench();
    const drv = await guest(b);
    await b.admin.recordsStartOk(1, { pageSize: PAGE, entries: [{ pageAddress: drv.arena.base, pageCount: BigInt(drv.arena.size) / PAGE }] });
    await drv.kick(0);
    await b.admin.ctxReadOk(1, 16);
    expect(b.broken({ bodyCompleted: false })).toEqual([]);
    // The next test's baseline: DISCARD, Active, STOP of the orphaned recording (no drain needed).
    await b.admin.discardOk(1);
    await b.admin.recordsStopOk(1);
    expect(b.broken({ bodyCompleted: true })).toEqual([]);
  });

  it('member side: device configuration in Stop, any virtio access in Freeze, the PCI_CFG window and capability in Freeze', async () => {
    const b = await bench();
    const p = b.port(1);
    await b.admin.modeSetOk(1, DeviceMode.STOP);
    await p.deviceCfgRead(0, 4);
    await p.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
    await p.notify(0);
    expect(b.broken()).toEqual([Rule.NO_CONFIG_STOP_FREEZE]);
    // The window pointed at the device configuration (BAR0 + 0x2000), read in Stop.
    await b.admin.modeSetOk(1, DeviceMode.ACTIVE);
    await p.pciConfigWrite(CapOffset.PCI_CFG + VirtioPciCap.BAR, 1, 0);
    await p.pciConfigWrite(CapOffset.PCI_CFG + VirtioPciCap.OFFSET, 4, 0x2000);
    await p.pciConfigWrite(CapOffset.PCI_CFG + VirtioPciCap.LENGTH, 4, 4);
    await b.admin.modeSetOk(1, DeviceMode.STOP);
    await p.pciConfigRead(CapOffset.PCI_CFG + VirtioPciCap.EXTRA, 4);
    expect(b.broken()).toEqual([Rule.NO_CONFIG_STOP_FREEZE]);
    await b.admin.modeSetOk(1, DeviceMode.FREEZE);
    await p.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
    await p.notify(0);
    await p.isrRead();
    expect(b.broken()).toEqual([Rule.NO_VIRTIO_FREEZE]);
    await p.deviceCfgWrite(32, 1, 0);
    expect(b.broken()).toEqual([Rule.NO_CONFIG_STOP_FREEZE, Rule.NO_VIRTIO_FREEZE]);
    await p.pciConfigWrite(CapOffset.PCI_CFG + VirtioPciCap.OFFSET, 4, 0);
    expect(b.broken()).toEqual([Rule.NO_PCI_CFG_WRITE_FREEZE]);
    await p.pciConfigRead(CapOffset.PCI_CFG + VirtioPciCap.EXTRA, 4);
    expect(b.broken()).toEqual([Rule.NO_CONFIG_STOP_FREEZE, Rule.NO_VIRTIO_FREEZE]);
    // PCI-architected registers are not virtio access: fine in Freeze.
    await p.pciConfigRead(0, 4);
    await p.pciConfigWrite(4, 2, await p.pciConfigRead(4, 2));
    await p.settle();
    expect(b.broken()).toEqual([]);
  });

  it('MODE_SET Freeze while an access to the member is in progress', async () => {
    const b = await bench();
    const flr = b.port(1).flr();
    await b.admin.modeSet(1, DeviceMode.FREEZE);
    await flr;
    expect(b.broken()).toEqual([Rule.FREEZE_AFTER_QUIET]);
  });

  it('a breach the test declares in `breaks` is not reported', async () => {
    const b = await bench();
    b.mon.beginTest([Rule.MODE_VALID]);
    await b.admin.modeSet(1, 7);
    expect(b.mon.endTest()).toEqual([]);
  });

  it('an owner reset (recover) starts GR2 over: LIST_QUERY and LIST_USE first again', async () => {
    const b = await bench();
    expect(await b.mon.transport.recover()).toBe(true);
    await b.admin.modeGet(1);
    expect(b.broken()).toEqual([Rule.LIST_USE_FIRST, Rule.IN_USE_ONLY]);
    await b.admin.enableAll();
    await b.admin.modeGet(1);
    expect(b.broken()).toEqual([]);
  });

  it('clearing VF Enable forgets what the monitor knew of the members (the VFs come back new, in Active)', async () => {
    const b = await bench();
    await b.admin.modeSetOk(1, DeviceMode.FREEZE);
    const sriov = b.mon.transport.sriov!();
    const n = (await sriov.state()).numVfs;
    await sriov.setNumVfs(0);
    await sriov.setNumVfs(n);
    await b.port(1).commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
    expect(b.broken()).toEqual([]);
  });
});

describe('driver-rule monitor: what a faulty device makes of a probe is not the harness\'s breach', () => {
  it('commands to a member outside 1..NumVFs that the device wrongly accepts leave no member state behind', async () => {
    const b = await bench({
      device: (d) => patch(d, 'execute', (orig) => (cmd: VirtioAdminCmd, cap: number) => orig(cmd.memberId === 3n ? { ...cmd, memberId: 1n } : cmd, cap)),
    });
    await guest(b);
    // The probe breaks GR10 on purpose; the device takes member 3 for member 1 and starts recording.
    await b.admin.recordsStartOk(3, { pageSize: PAGE, entries: [{ pageAddress: 0x100000n, pageCount: 4n }] });
    await b.admin.recordsStopOk(3);
    expect(b.broken()).toEqual([Rule.MEMBER_IN_RANGE]);
  });

  it('data a READ returns in Freeze after the stream ended does not make the harness\'s read partial', async () => {
    const b = await bench({
      // The device restarts the stream after its end (SD6 broken): the next READ returns a full chunk.
      device: (d) => eachMember(d, (m) => patch(m.readStream, 'read', (orig) => (cap: number, take: () => Uint8Array) => (m.readStream.ended ? (m.readStream.reset(), orig(cap, take)) : orig(cap, take)))),
    });
    await b.admin.modeSetOk(1, DeviceMode.FREEZE);
    await b.admin.readContext(1, 4096);
    await b.admin.ctxReadOk(1, 8);
    expect(b.broken({ bodyCompleted: true })).toEqual([]);
    // In Active a new context may follow the end of a stream: a chunk of it left unread is partial.
    await b.admin.discardOk(1);
    await b.admin.modeSetOk(1, DeviceMode.ACTIVE);
    await b.admin.readContext(1, 4096);
    await b.admin.ctxReadOk(1, 8);
    expect(b.broken({ bodyCompleted: true })).toEqual([Rule.READ_COMPLETE]);
  });

  it('LIST_QUERY after a LIST_USE that left out LIST_QUERY because the device did not report it', async () => {
    const b = await bench({
      negotiate: false,
      device: (d) => patch(d, 'listQuery', (orig) => () => ({ ...orig(), result: encodeOpcodeBitmap([OP.DEV_MODE_GET, OP.DEV_MODE_SET]) })),
    });
    await b.admin.enableAll();
    await b.admin.send('LIST_QUERY', 0, undefined, { resultCapacity: 64 });
    expect(b.broken()).toEqual([]);
    // Any other opcode outside the list is still the harness's breach.
    await b.admin.ctxRead(1, 16);
    expect(b.broken()).toEqual([Rule.IN_USE_ONLY]);
  });
});

describe('driver-rule monitor: what it claims to enforce', () => {
  it('names only driver rules of the catalog (testability suite-obligation), with the command set the catalog conditions them on', () => {
    const catalog = loadCatalog();
    for (const id of Object.values(Rule)) {
      const r = catalog.byId(id);
      expect(r, id).toBeDefined();
      expect(r!.testability.class, id).toBe('suite-obligation');
      const set = (r!.conditions as { commandSet?: string } | undefined)?.commandSet;
      if (set === 'context' || set === 'write-record') expect(RULE_COMMAND_SET[id], id).toBe(set);
      else expect(RULE_COMMAND_SET[id], id).toBeUndefined();
    }
  });

  it('lists the end-of-test obligations only once the harness says how test bodies ended', async () => {
    const b = await bench();
    for (const r of END_OF_TEST_RULES) expect(b.mon.enforced).not.toContain(r);
    b.mon.endTest({ bodyCompleted: false });
    for (const r of END_OF_TEST_RULES) expect(b.mon.enforced).toContain(r);
  });

  it('lists the rules of an optional command set only when the device offers it', async () => {
    const sim = new SimulatorTransport({ device: { commandSets: { context: true, fieldsQuery: true, writeRecords: false } } });
    const mon = new DriverRuleMonitor(sim, SEED_V2_WIRE);
    mon.beginTest([]);
    await new AdminClient(mon.transport, SEED_V2_WIRE).enableAll();
    expect(mon.enforced).toContain(Rule.MODE_VALID);
    expect(mon.enforced).not.toContain(Rule.DRAIN_BEFORE_STOP);
    expect(mon.enforced).not.toContain(Rule.START_NO_OVERLAP);
    expect(mon.enforced).toContain(Rule.LIST_USE_FIRST);
  });
});
