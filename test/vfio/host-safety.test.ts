/**
 * The safety rules of the vfio transport against the fake host (which carries this machine's own
 * devices): each refusal, the lock, and the host restored after a normal end, a thrown error, SIGINT
 * and SIGTERM (real signals to a real process).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../transports/vfio/fake/fake-host.ts';
import { DeviceLock, DeviceLockedError, lockPath } from '../../transports/vfio/host/device-lock.ts';
import { recordOriginals } from '../../transports/vfio/host/host-journal.ts';
import { prepareHost } from '../../transports/vfio/host/prepare-host.ts';
import { checkHost, HostRefusedError } from '../../transports/vfio/host/safety.ts';
import { TestEndpoint, TestSriov } from './support/test-endpoint.ts';

const PF = '0000:3b:00.0';
const ROOT = path.resolve(import.meta.dirname, '../..');

function card(opts: ConstructorParameters<typeof FakeHost>[0] = {}, extra: Partial<Parameters<FakeHost['addFunction']>[0]> = {}) {
  const host = new FakeHost(opts);
  host.addFunction({ bdf: PF, vendor: 0x1af4, device: 0x1041, endpoint: new TestEndpoint(0x1041), sriov: new TestSriov(2), driver: 'virtio-pci', ...extra });
  return host;
}

const rules = (host: FakeHost, named: Parameters<typeof checkHost>[1]) => checkHost(host, named).map((r) => `${r.bdf} ${r.rule}${r.forceable ? ' (forceable)' : ''}`);

describe('refusals', () => {
  it('a free virtio SR-IOV PF on a host with an IOMMU and vfio-pci passes every rule', () => {
    expect(rules(card(), { pf: PF })).toEqual([]);
  });

  it('this machine\'s own disk, network and balloon are refused, the root disk beyond any force', () => {
    const host = card();
    expect(rules(host, { pf: '0000:00:02.0' })).toEqual(['0000:00:02.0 no-sriov', '0000:00:02.0 in-use']);
    expect(checkHost(host, { pf: '0000:00:02.0' }).find((r) => r.rule === 'in-use')?.message).toMatch(/mounted at \/ .*never taken/);
    expect(rules(host, { pf: '0000:00:03.0' })).toEqual(['0000:00:03.0 no-sriov', '0000:00:03.0 in-use (forceable)']);
    expect(rules(host, { pf: '0000:00:01.0' })).toEqual(['0000:00:01.0 no-sriov']);
    expect(rules(host, { pf: '0000:00:00.0' })).toEqual(['0000:00:00.0 ids', '0000:00:00.0 no-sriov']);
    // And nothing was written: every function is still where it was.
    expect(host.drivers()).toMatchObject({ '0000:00:02.0': 'virtio-pci', '0000:00:03.0': 'virtio-pci' });
    expect(() => prepareHost(host, { pf: '0000:00:02.0', allowUnbind: true })).toThrow(HostRefusedError);
    expect(host.drivers()['0000:00:02.0']).toBe('virtio-pci');
  });

  it('addresses that are malformed or absent, and VFs of another PF, are refused', () => {
    const host = card();
    expect(rules(host, { pf: '3b:00.0' })).toEqual(['3b:00.0 named-only']);
    expect(rules(host, { pf: '0000:3c:00.0' })).toEqual(['0000:3c:00.0 not-found']);
    expect(rules(host, { pf: PF, vfs: ['0000:00:03.0'] })).toEqual(['0000:00:03.0 named-only']);
  });

  it('a card in use (a mounted filesystem, routes) is refused unless allowUnbind', () => {
    const host = card({}, { block: { name: 'nvme9n1', mountedAt: '/mnt/data' } });
    expect(rules(host, { pf: PF })).toEqual([`${PF} in-use (forceable)`]);
    expect(() => prepareHost(host, { pf: PF })).toThrow(/mounted at \/mnt\/data[\s\S]*allowUnbind/);
    expect(host.drivers()[PF]).toBe('virtio-pci');
    prepareHost(host, { pf: PF, allowUnbind: true });
    expect(host.drivers()[PF]).toBe('vfio-pci');
  });

  it('no IOMMU, no vfio-pci, wrong ids: refused with the fix', () => {
    expect(checkHost(card({ iommu: false }), { pf: PF }).map((r) => [r.rule, r.fix])).toEqual([['no-iommu', expect.stringMatching(/intel_iommu=on/)]]);
    expect(checkHost(card({ vfioPci: false }), { pf: PF }).map((r) => [r.rule, r.fix])).toEqual([['no-vfio-pci', 'modprobe vfio-pci enable_sriov=1']]);
    const other = new FakeHost();
    other.addFunction({ bdf: PF, vendor: 0x15b3, device: 0x101d, sriov: new TestSriov(2) });
    expect(rules(other, { pf: PF })).toEqual([`${PF} ids`]);
    expect(rules(other, { pf: PF, ids: [{ vendor: 0x15b3, device: 0x101d }] })).toEqual([]);
  });

  it('an IOMMU group shared with a device the config does not name is refused, and that device is not touched', () => {
    const host = card({}, { group: 9 });
    host.addFunction({ bdf: '0000:3b:00.3', vendor: 0x8086, device: 0x1572, driver: 'virtio-pci', group: 9, net: { name: 'eth9' } });
    expect(rules(host, { pf: PF })).toEqual(['0000:3b:00.3 group-member']);
    expect(() => prepareHost(host, { pf: PF, allowUnbind: true })).toThrow(HostRefusedError);
    expect(host.drivers()['0000:3b:00.3']).toBe('virtio-pci');
  });

  it('existing VFs on another driver are left alone unless allowUnbind', () => {
    const host = card();
    // The PF's own driver created them, and they were probed onto virtio-pci.
    host.writeText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`, '2');
    expect(rules(host, { pf: PF })).toEqual(['0000:3b:00.1 existing-vfs (forceable)', '0000:3b:00.2 existing-vfs (forceable)']);
    expect(() => prepareHost(host, { pf: PF })).toThrow(HostRefusedError);
    expect(host.drivers()['0000:3b:00.1']).toBe('virtio-pci');
  });
});

describe('binding and restore', () => {
  it('binds the PF to vfio-pci through driver_override and restores driver, override, VFs and enable_sriov', () => {
    const host = card({ enableSriov: false });
    // One VF created without autoprobe: it has no driver, so it is free to go.
    host.writeText(`/sys/bus/pci/devices/${PF}/sriov_drivers_autoprobe`, '0');
    host.writeText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`, '1');
    const p = prepareHost(host, { pf: PF });
    expect(host.readText(`/sys/bus/pci/devices/${PF}/sriov_drivers_autoprobe`).trim()).toBe('1');
    expect(host.drivers()[PF]).toBe('vfio-pci');
    expect(host.readText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`).trim()).toBe('0');
    expect(host.readText('/sys/module/vfio_pci/parameters/enable_sriov').trim()).toBe('Y');
    expect(host.exists(lockPath(PF))).toBe(true);
    // The run creates VFs of its own; restore removes them and puts the original one back.
    host.writeText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`, '2');
    expect(p.undo()).toEqual([]);
    expect(host.drivers()[PF]).toBe('virtio-pci');
    expect(host.readText(`/sys/bus/pci/devices/${PF}/driver_override`).trim()).toBe('(null)');
    expect(host.readText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`).trim()).toBe('1');
    expect(host.readText(`/sys/bus/pci/devices/${PF}/sriov_drivers_autoprobe`).trim()).toBe('0');
    expect(host.drivers()['0000:3b:00.1']).toBeNull();
    expect(host.readText('/sys/module/vfio_pci/parameters/enable_sriov').trim()).toBe('N');
    expect(host.exists(lockPath(PF))).toBe(false);
    expect(p.undo()).toEqual([]);
  });

  it('a PF that had no driver is left without one', () => {
    const host = card({}, { driver: undefined });
    const p = prepareHost(host, { pf: PF });
    expect(host.drivers()[PF]).toBe('vfio-pci');
    p.undo();
    expect(host.drivers()[PF]).toBeNull();
  });
});

describe('the lock', () => {
  it('two runs never share a device', () => {
    const host = card();
    const a = prepareHost(host, { pf: PF });
    expect(() => prepareHost(host, { pf: PF })).toThrow(DeviceLockedError);
    a.undo();
    prepareHost(host, { pf: PF }).undo();
  });

  it('a lock held by a live process is refused with its pid; a dead run\'s lock is taken over with its originals', () => {
    const host = card();
    const journal = recordOriginals(host, PF);
    host.createExclusive(lockPath(PF), JSON.stringify({ pid: process.ppid, startedAt: 'then', journal }));
    expect(() => DeviceLock.acquire(host, PF, journal)).toThrow(new RegExp(`pid ${process.ppid}`));
    host.unlink(lockPath(PF));
    // A run died after binding: the host shows vfio-pci, its lock says virtio-pci was the original.
    host.createExclusive(lockPath(PF), JSON.stringify({ pid: 2 ** 22 + 12345, startedAt: 'then', journal: { ...journal, done: ['pf-bound'] } }));
    host.writeText(`/sys/bus/pci/devices/${PF}/driver_override`, 'vfio-pci');
    host.writeText('/sys/bus/pci/drivers/virtio-pci/unbind', PF);
    host.writeText('/sys/bus/pci/drivers_probe', PF);
    const p = prepareHost(host, { pf: PF });
    expect(p.inheritedFrom?.pf.driver).toBe('virtio-pci');
    p.undo();
    expect(host.drivers()[PF]).toBe('virtio-pci');
  });
});

/** Runs the preparing child and ends it as asked; resolves with its READY and STATE lines. */
function child(mode: string, signal?: NodeJS.Signals): Promise<{ ready: Record<string, unknown>; state: Record<string, unknown>; out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/vfio/support/prepare-child.ts'), mode], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (signal && out.includes('READY') && !p.killed) p.kill(signal);
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`child did not end: ${out} ${err}`));
    }, 20_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      const line = (tag: string) => {
        const l = out.split('\n').find((x) => x.startsWith(tag + ' '));
        if (!l) return reject(new Error(`no ${tag} line from the child (exit ${code}): ${out} ${err}`));
        return JSON.parse(l.slice(tag.length + 1));
      };
      resolve({ ready: line('READY'), state: line('STATE'), out, code });
    });
  });
}

describe('restore on every exit path (a real process, real signals)', () => {
  const restored = { drivers: expect.objectContaining({ [PF]: 'virtio-pci', '0000:3b:00.1': null }), override: '(null)', numvfs: '1', enableSriov: 'N', lock: false };

  it('prepared: PF on vfio-pci, locked', async () => {
    const r = await child('normal');
    expect(r.ready).toMatchObject({ drivers: expect.objectContaining({ [PF]: 'vfio-pci' }), override: 'vfio-pci', numvfs: '0', enableSriov: 'Y', lock: true });
    expect(r.state).toMatchObject(restored);
    expect(r.code).toBe(0);
  });

  it('a thrown error (a crashed test worker)', async () => {
    const r = await child('throw');
    expect(r.state).toMatchObject(restored);
    expect(r.code).not.toBe(0);
  });

  it('SIGTERM', async () => {
    const r = await child('hang', 'SIGTERM');
    expect(r.state).toMatchObject(restored);
    expect(r.code).toBe(143);
  });

  it('SIGINT with nobody else handling it', async () => {
    const r = await child('hang', 'SIGINT');
    expect(r.state).toMatchObject(restored);
    expect(r.code).toBe(130);
  });

  it('SIGINT handled by the run (abort, report, restore in finally)', async () => {
    const r = await child('run-sigint', 'SIGINT');
    expect(r.out).toContain('ABORTED');
    expect(r.state).toMatchObject(restored);
    expect(r.code).toBe(0);
  });
});
