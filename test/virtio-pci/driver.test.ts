import { afterEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../harness/admin-client.ts';
import { READABLE_HEADER_SIZE } from '../../protocol/admin-frame.ts';
import type { AdminCommandRequest } from '../../protocol/admin-transport.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import type { HostBinding } from '../../protocol/host-binding.ts';
import type { IrqSource } from '../../protocol/irq-source.ts';
import { CommonCfg, DeviceStatus, Feature } from '../../protocol/pci-common-cfg.ts';
import type { PciFunction } from '../../protocol/pci-function.ts';
import { MSIX_CTRL_ENABLE, MsixCap, PCI_VENDOR_ID_REDHAT_QUMRANET, PciCapId, PciCfg } from '../../protocol/pci.ts';
import { findCapability } from '../../protocol/pci-capabilities.ts';
import { GroupType, Status } from '../../protocol/status.ts';
import { TransportAbortedError, TransportClosedError, TransportTimeoutError } from '../../protocol/transport-errors.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { openSimulatorPciBinding, type SimulatorPciOptions } from '../../transports/simulator-pci/index.ts';
import { VirtioPciError, VirtioPciTransport } from '../../transports/virtio-pci/index.ts';

const ops = SEED_V2_WIRE.opcodes;
const cmd = (opcode: number, memberId = 0n, data = new Uint8Array(0), resultCapacity = 64): AdminCommandRequest => ({ opcode, groupType: GroupType.SRIOV, memberId, data, resultCapacity });

const open: VirtioPciTransport[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

/** The driver over the in-process binding; `wrap` lets a test change what the host or the function shows. */
async function driver(o: SimulatorPciOptions & { commandMs?: number; wrap?: (b: HostBinding) => HostBinding } = {}): Promise<VirtioPciTransport> {
  const binding = await openSimulatorPciBinding({ device: { wire: SEED_V2_WIRE }, latencyMs: 0, ...o });
  const t = await VirtioPciTransport.open(o.wrap ? o.wrap(binding) : binding, { wire: SEED_V2_WIRE, defaultTimeoutMs: o.commandMs ?? 500 });
  open.push(t);
  return t;
}

/** The binding with another PF interrupt source (the rest delegated). */
function withPfIrq(b: HostBinding, pfIrq: IrqSource): HostBinding {
  return Object.assign(Object.create(b) as HostBinding, { pfIrq });
}

const NO_IRQ: IrqSource = { delivery: 'none', pollMs: 0, take: () => [], wait: async () => false, close: async () => undefined };

/** The PF with device_feature word 1 (bits 32..63) filtered through `mask`. */
function withFeatureMask(b: HostBinding, word1Mask: number): HostBinding {
  let select = 0;
  const pf = b.pf;
  const masked: PciFunction = Object.assign(Object.create(pf) as PciFunction, {
    barWrite: async (bar: number, offset: number, width: 1 | 2 | 4, value: number) => {
      if (bar === 0 && offset === CommonCfg.DEVICE_FEATURE_SELECT.offset) select = value;
      return pf.barWrite(bar, offset, width, value);
    },
    barRead: async (bar: number, offset: number, width: 1 | 2 | 4) => {
      const v = await pf.barRead(bar, offset, width);
      return bar === 0 && offset === CommonCfg.DEVICE_FEATURE.offset && select === 1 ? (v & word1Mask) >>> 0 : v;
    },
  });
  return Object.assign(Object.create(b) as HostBinding, { pf: masked });
}

describe('the virtio-pci driver over simulator-pci', () => {
  it('negotiates VERSION_1, ADMIN_VQ and SR_IOV and leaves the owner DRIVER_OK', async () => {
    const t = await driver();
    const bit = (n: number) => 1n << BigInt(n);
    expect(t.features & (bit(Feature.VERSION_1) | bit(Feature.ADMIN_VQ) | bit(Feature.SR_IOV))).toBe(bit(Feature.VERSION_1) | bit(Feature.ADMIN_VQ) | bit(Feature.SR_IOV));
    const status = await t.owner().commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
    expect(status & (DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK)).toBe(DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK);
    expect(t.completion).toBe('msix');
  });

  it('reads who the device is from configuration space', async () => {
    const t = await driver();
    const id = await t.identity();
    expect(id.transport).toBe('simulator-pci');
    expect(id.pci?.vendorId).toBe(PCI_VENDOR_ID_REDHAT_QUMRANET);
    expect(id.pci?.deviceId).toBe(await t.owner().pciConfigRead(PciCfg.DEVICE_ID, 2));
    expect(id.members.map((m) => [m.id, m.virtioType])).toEqual([
      [1, 2],
      [2, 2],
    ]);
  });

  it('unmasks the MSI-X entries it uses where the host leaves the table to the driver (bare metal)', async () => {
    const t = await driver({ msixTable: 'driver' });
    expect(t.completion).toBe('msix');
    const a = new AdminClient(t, SEED_V2_WIRE);
    await a.enableAll();
    expect((await a.modeGet(1)).result[0]).toBe(DeviceMode.ACTIVE);
    // A member vector the guest routes (config_msix_vector) is unmasked by the port, so its message arrives.
    const port = t.member(1);
    const msix = (await findCapability((o, w) => port.pciConfigRead(o, w), PciCapId.MSIX))!;
    await port.pciConfigWrite(msix + MsixCap.CTRL, 2, (await port.pciConfigRead(msix + MsixCap.CTRL, 2)) | MSIX_CTRL_ENABLE);
    await port.commonCfgWrite(CommonCfg.CONFIG_MSIX_VECTOR.offset, 2, 0);
    port.takeEvents();
    await port.stimuli!.configChange();
    const until = Date.now() + port.timing.completionMs;
    let events = port.takeEvents();
    while (!events.length && Date.now() < until) {
      await port.settle(5);
      events = port.takeEvents();
    }
    expect(events).toContainEqual(expect.objectContaining({ kind: 'msix', vector: 0 }));
  });

  it('polls the used ring when the host delivers no interrupts', async () => {
    const t = await driver({ wrap: (b) => withPfIrq(b, NO_IRQ) });
    expect(t.completion).toBe('polling');
    const a = new AdminClient(t, SEED_V2_WIRE);
    await a.enableAll();
    for (let i = 0; i < 20; i++) expect((await a.modeGet(1)).result[0]).toBe(DeviceMode.ACTIVE);
  });

  it('sends short, long and unpadded frames as they are', async () => {
    const t = await driver();
    // A readable part shorter than the header: the device reads the rest as 0 (LIST_QUERY of group type 0).
    const short = await t.execFrame({ readable: new Uint8Array(4), writableLength: 8 });
    expect(short.usedLength).toBeGreaterThan(0);
    expect(short.writable[0] | (short.writable[1] << 8)).toBe(Status.EINVAL);
    // LIST_QUERY with 17 bytes of data (unpadded, longer than needed) and a 3-byte writable part.
    const readable = new Uint8Array(READABLE_HEADER_SIZE + 17);
    readable[2] = GroupType.SRIOV;
    const tiny = await t.execFrame({ readable, writableLength: 3 });
    expect(tiny.writable).toHaveLength(3);
    expect(tiny.usedLength).toBeLessThanOrEqual(3);
  });

  it('times a hung command out naming it, and recover() resets the device so commands are answered again', async () => {
    const t = await driver({ mutant: 'hang-on-mode-set', commandMs: 200 });
    const a = new AdminClient(t, SEED_V2_WIRE);
    await a.enableAll();
    const hung = await t.exec(cmd(ops.DEV_MODE_SET, 1n, Uint8Array.of(DeviceMode.STOP), 8)).catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(TransportTimeoutError);
    expect(String(hung)).toMatch(/DEV_MODE_SET did not complete within 200 ms/);
    // The queue is served in order: what follows waits behind the hung command.
    await expect(t.exec(cmd(ops.LIST_QUERY))).rejects.toThrow(/LIST_QUERY did not complete/);
    expect(await t.recover()).toBe(true);
    expect((await t.exec(cmd(ops.LIST_QUERY))).status).toBe(Status.OK);
    // A device reset is an owner reset: only LIST_QUERY and LIST_USE are in use again (GD8).
    expect((await t.exec(cmd(ops.DEV_MODE_GET, 1n, new Uint8Array(0), 8))).status).toBe(Status.EINVAL);
  });

  it('keeps a timed-out chain out of use: its late completion lands nowhere and later commands get their own answers', async () => {
    const t = await driver({ latencyMs: 150, commandMs: 50 });
    await expect(t.exec(cmd(ops.LIST_QUERY))).rejects.toBeInstanceOf(TransportTimeoutError);
    // The late completion arrives while this command waits (its deadline is longer).
    const r = await t.exec(cmd(ops.LIST_USE, 0n, new Uint8Array(8), 64), { timeoutMs: 2000 });
    // LIST_USE's own answer (OK, no result), not the LIST_QUERY bitmap that arrived late.
    expect(r.status).toBe(Status.OK);
    expect(r.usedLength).toBe(8);
  });

  it('rejects an aborted command with TransportAbortedError', async () => {
    const t = await driver({ latencyMs: 100 });
    const ac = new AbortController();
    const p = t.exec(cmd(ops.LIST_QUERY), { signal: ac.signal, timeoutMs: 2000 });
    setTimeout(() => ac.abort(), 10);
    await expect(p).rejects.toBeInstanceOf(TransportAbortedError);
  });

  it('refuses a device that does not offer VIRTIO_F_ADMIN_VQ, with one message', async () => {
    const e = await driver({ wrap: (b) => withFeatureMask(b, ~(1 << (Feature.ADMIN_VQ - 32))) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(VirtioPciError);
    expect(String(e)).toMatch(/does not offer VIRTIO_F_ADMIN_VQ \(bit 41\): it has no administration virtqueue/);
  });

  it('refuses a device that does not offer VIRTIO_F_VERSION_1', async () => {
    await expect(driver({ wrap: (b) => withFeatureMask(b, ~1) })).rejects.toThrow(/does not offer VIRTIO_F_VERSION_1/);
  });

  it('does not negotiate SR_IOV when the device does not offer it', async () => {
    const t = await driver({ wrap: (b) => withFeatureMask(b, ~(1 << (Feature.SR_IOV - 32))) });
    expect(t.features & (1n << BigInt(Feature.SR_IOV))).toBe(0n);
  });

  it('member ports follow SR-IOV changes made through the host', async () => {
    const t = await driver();
    const port = t.member(2);
    expect(await port.pciConfigRead(PciCfg.REVISION_ID, 1)).not.toBe(0xff);
    await t.sriov().setNumVfs(0);
    expect(t.memberIds()).toEqual([]);
    await expect(port.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1)).rejects.toBeInstanceOf(TransportClosedError);
    await t.sriov().setNumVfs(2);
    expect(t.memberIds()).toEqual([1, 2]);
    expect(await port.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1)).toBe(0);
  });

  it('member FLR and power-state changes resolve once the function answers configuration reads', async () => {
    const t = await driver();
    const port = t.member(1);
    expect(port.capabilities).toMatchObject({ flr: true, powerManagement: true, dmaObservation: true, interruptObservation: true, pciConfig: true });
    await port.flr();
    expect(await port.pciConfigRead(PciCfg.REVISION_ID, 4)).not.toBe(0xffffffff);
    await port.setPowerState('D3hot');
    await port.setPowerState('D0');
    expect(await port.pciConfigRead(PciCfg.REVISION_ID, 4)).not.toBe(0xffffffff);
  });

  it('rejects every call once closed', async () => {
    const t = await driver();
    await t.close();
    await expect(t.exec(cmd(ops.LIST_QUERY))).rejects.toBeInstanceOf(TransportClosedError);
    expect(await t.recover()).toBe(false);
  });
});
