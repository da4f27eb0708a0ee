/**
 * `vmcts doctor`: reads the host and the card, never writes, and says what blocks a run with the fix.
 * Against the fake host, and once against this machine (read-only: it has no IOMMU and no VFIO).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../transports/vfio/fake/fake-host.ts';
import { formatDoctor, runDoctor } from '../../transports/vfio/host/doctor.ts';
import { lockPath } from '../../transports/vfio/host/device-lock.ts';
import { recordOriginals } from '../../transports/vfio/host/host-journal.ts';
import { TestEndpoint, TestSriov } from './support/test-endpoint.ts';

const PF = '0000:3b:00.0';
const ROOT = path.resolve(import.meta.dirname, '../..');

function card(opts: ConstructorParameters<typeof FakeHost>[0] = {}) {
  const host = new FakeHost(opts);
  host.addFunction({ bdf: PF, vendor: 0x1af4, device: 0x1041, endpoint: new TestEndpoint(0x1041), sriov: new TestSriov(4), driver: 'virtio-pci' });
  return host;
}

const blocks = (checks: ReturnType<typeof runDoctor>) => checks.filter((c) => c.status === 'block').map((c) => c.what);

describe('vmcts doctor', () => {
  it('a ready host and card: nothing blocks, and every device fact is reported', () => {
    const checks = runDoctor(card(), { pf: PF, uid: 0, kernelRelease: '6.8.0' });
    expect(blocks(checks)).toEqual([]);
    const text = formatDoctor(checks);
    expect(text).toMatch(/device ids: 1af4:1041 \(virtio device type 1\)/);
    expect(text).toMatch(/SR-IOV: up to 4 VFs/);
    expect(text).toMatch(/bound to virtio-pci; the run binds it to vfio-pci and restores virtio-pci/);
    expect(text).toMatch(/IOMMU group: group \d+: 0000:3b:00.0 \(virtio-pci\)/);
    expect(text.trim().split('\n').pop()).toBe('Nothing blocks a vfio run.');
  });

  it('no IOMMU, no vfio-pci, not root, low memlock: each blocks or warns with its fix', () => {
    const host = card({ iommu: false, vfioPci: false, memlock: 65536 });
    host.fs.file('/lib/modules/6.8.0/modules.dep', 'kernel/drivers/vfio/pci/vfio-pci.ko.zst: kernel/drivers/vfio/vfio.ko.zst\n');
    const checks = runDoctor(host, { uid: 1000, kernelRelease: '6.8.0' });
    expect(blocks(checks)).toEqual(['IOMMU', 'vfio-pci', 'VFIO interface', 'privileges']);
    const fix = (what: string) => checks.find((c) => c.what === what)?.fix;
    expect(fix('IOMMU')).toMatch(/VT-d.*intel_iommu=on/);
    expect(fix('vfio-pci')).toBe('modprobe vfio-pci enable_sriov=1');
    expect(checks.find((c) => c.what === 'locked memory')).toMatchObject({ status: 'warn', fix: expect.stringMatching(/ulimit -l/) });
  });

  it('this machine\'s own disk as --pf: blocked, with the reason, and nothing written', () => {
    const host = card();
    const checks = runDoctor(host, { pf: '0000:00:02.0', uid: 0 });
    expect(blocks(checks)).toEqual(['0000:00:02.0 (no-sriov)', '0000:00:02.0 (in-use)']);
    expect(checks.find((c) => c.what === '0000:00:02.0 (in-use)')?.found).toMatch(/mounted at \/ .*never taken/);
    expect(host.drivers()['0000:00:02.0']).toBe('virtio-pci');
  });

  it('reports a live run holding the card, and the commands to restore after a dead one', () => {
    const host = card();
    const journal = recordOriginals(host, PF);
    host.createExclusive(lockPath(PF), JSON.stringify({ pid: process.pid, startedAt: 'now', journal }));
    expect(runDoctor(host, { pf: PF, uid: 0 }).find((c) => c.what === 'lock')).toMatchObject({ status: 'block', found: expect.stringMatching(`pid ${process.pid}`) });
    host.unlink(lockPath(PF));
    host.createExclusive(lockPath(PF), JSON.stringify({ pid: 2 ** 22 + 777, startedAt: 'then', journal }));
    expect(runDoctor(host, { pf: PF, uid: 0 }).find((c) => c.what === 'lock')).toMatchObject({ status: 'warn', fix: expect.stringMatching(/drivers\/virtio-pci\/bind/) });
  });

  it('the command: exit 0 on the fake host, 1 on this machine (no IOMMU, no VFIO), and never a write', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/vmcts.mjs'), 'doctor', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const fake = run('--fake-host', '--pf', PF);
    expect(fake.stdout).toMatch(/Nothing blocks a vfio run\./);
    expect(fake.status).toBe(0);
    const here = run('--json');
    const checks = JSON.parse(here.stdout) as { what: string; status: string }[];
    expect(here.status).toBe(checks.some((c) => c.status === 'block') ? 1 : 0);
    expect(run('--pf', 'not-a-bdf').status).toBe(2);
  });
});
