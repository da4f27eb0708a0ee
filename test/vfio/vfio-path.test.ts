/**
 * The vfio code path against the fake host: both IOMMU flows, config and BAR access at exact width,
 * MSI-X through eventfds, reset, DMA through the IOMMU, faults when mappings are revoked, canaries,
 * VF tokens, and the kernel's refusals.
 */
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../transports/vfio/fake/fake-host.ts';
import type { IommuFlow } from '../../transports/vfio/iommu/iommu-context.ts';
import { openIommu } from '../../transports/vfio/iommu/open-iommu.ts';
import { IommuFaultLog, parseFaultLine } from '../../transports/vfio/observe/iommu-faults.ts';
import { SysError } from '../../transports/vfio/sys/syscalls.ts';
import { VfioDmaSpace } from '../../transports/vfio/vfio-dma-space.ts';
import { VfioIrqSource } from '../../transports/vfio/vfio-irq-source.ts';
import { VfioPciFunction } from '../../transports/vfio/vfio-pci-function.ts';
import { MSIX_AT, Reg, TestEndpoint, TestSriov } from './support/test-endpoint.ts';

const PF = '0000:3b:00.0';

function hostWithCard(opts: ConstructorParameters<typeof FakeHost>[0] = {}) {
  const host = new FakeHost(opts);
  const ep = new TestEndpoint();
  const sriov = new TestSriov(2);
  host.addFunction({ bdf: PF, vendor: 0x1af4, device: 0x1042, endpoint: ep, sriov });
  host.writeText(`/sys/bus/pci/devices/${PF}/driver_override`, 'vfio-pci');
  host.writeText('/sys/bus/pci/drivers_probe', PF);
  return { host, ep, sriov };
}

let seq = 0;
const nextSeq = () => seq++;

for (const flow of ['group', 'iommufd'] as IommuFlow[]) {
  describe(`vfio over the fake host (${flow} flow)`, () => {
    it('reads and writes config space and BARs at exact width, 64-bit in one access', async () => {
      const { host, ep } = hostWithCard();
      const iommu = openIommu(host, flow);
      const fn = new VfioPciFunction(iommu.openDevice(PF), 1000);
      expect(fn.configSize).toBe(4096);
      expect(fn.bars).toEqual([{ index: 0, size: 0x4000n, kind: 'memory', is64: true, prefetchable: false }]);
      expect(await fn.configRead(0, 2)).toBe(0x1af4);
      expect(await fn.configRead(0, 4)).toBe(0x10421af4);
      // Memory decode and bus mastering were switched on when the function was opened.
      expect((await fn.configRead(4, 2)) & 0x6).toBe(0x6);
      await fn.barWrite(0, Reg.SCRATCH32, 4, 0xdeadbeef);
      expect(await fn.barRead(0, Reg.SCRATCH32, 4)).toBe(0xdeadbeef);
      expect(await fn.barRead(0, Reg.SCRATCH32 + 2, 2)).toBe(0xdead);
      expect(await fn.barRead(0, Reg.SCRATCH32 + 1, 1)).toBe(0xbe);
      await fn.barWrite64(0, Reg.SCRATCH64, 0x1122334455667788n);
      expect(ep.barRead(0, Reg.SCRATCH64, 8)).toBe(0x1122334455667788n);
      expect(await fn.barRead64(0, Reg.SCRATCH64)).toBe(0x1122334455667788n);
      await expect(fn.barRead(0, 1, 2)).rejects.toThrow(/not 2-byte aligned/);
      await fn.close();
      iommu.close();
    });

    it('BAR access with memory decode off fails with EIO instead of touching the device', async () => {
      const { host } = hostWithCard();
      const iommu = openIommu(host, flow);
      const fn = new VfioPciFunction(iommu.openDevice(PF), 1000);
      await fn.configWrite(4, 2, 0);
      await expect(fn.barRead(0, 0, 4)).rejects.toMatchObject({ code: 'EIO' });
      iommu.close();
    });

    it('the MSI-X enable bit is virtualized and the table is the host\'s: vectors arrive through eventfds', async () => {
      const { host, ep } = hostWithCard();
      const iommu = openIommu(host, flow);
      const dev = iommu.openDevice(PF);
      const fn = new VfioPciFunction(dev, 1000);
      const irq = new VfioIrqSource(host, dev, nextSeq);
      // The kernel enabled MSI-X in the device; the user's view of the enable bit is its own.
      expect(ep.configRead(MSIX_AT + 2, 2) & 0x8000).toBe(0x8000);
      expect((await fn.configRead(MSIX_AT + 2, 2)) & 0x8000).toBe(0);
      // Table writes from the user are dropped, reads are all ones.
      await fn.barWrite(0, 0x1000 + 12, 4, 1);
      expect(await fn.barRead(0, 0x1000 + 12, 4)).toBe(0xffffffff);
      expect(irq.take()).toEqual([]);
      await fn.barWrite(0, Reg.IRQ, 4, 2);
      await fn.barWrite(0, Reg.IRQ, 4, 2);
      await fn.barWrite(0, Reg.IRQ, 4, 0);
      expect(await irq.wait(1000)).toBe(true);
      const ev = irq.take();
      expect(ev.map((e) => e.vector).sort()).toEqual([0, 2, 2]);
      expect(new Set(ev.map((e) => e.seq)).size).toBe(3);
      await irq.close();
      expect(ep.configRead(MSIX_AT + 2, 2) & 0x8000).toBe(0);
      iommu.close();
    });

    it('a wait with nothing pending ends at its deadline, and an abort ends it at once', async () => {
      const { host } = hostWithCard();
      const iommu = openIommu(host, flow);
      const irq = new VfioIrqSource(host, iommu.openDevice(PF), nextSeq);
      const t0 = Date.now();
      expect(await irq.wait(50)).toBe(false);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
      const ac = new AbortController();
      const p = irq.wait(60_000, ac.signal);
      setTimeout(() => ac.abort(), 20);
      expect(await p).toBe(false);
      await irq.close();
      iommu.close();
    });

    it('reset goes through VFIO_DEVICE_RESET and resolves once the function answers', async () => {
      const { host, ep } = hostWithCard();
      const iommu = openIommu(host, flow);
      const fn = new VfioPciFunction(iommu.openDevice(PF), 1000);
      await fn.barWrite(0, Reg.SCRATCH32, 4, 7);
      await fn.reset();
      expect(ep.flrs).toBe(1);
      expect(await fn.barRead(0, Reg.SCRATCH32, 4)).toBe(0);
      iommu.close();
    });

    it('device DMA reaches memory through the IOMMU; revoked mappings fault, are logged, and leave memory alone', async () => {
      const { host, ep } = hostWithCard();
      const faults = new IommuFaultLog(host);
      expect(faults.available).toBe(true);
      const iommu = openIommu(host, flow);
      const fn = new VfioPciFunction(iommu.openDevice(PF), 1000);
      const dma = new VfioDmaSpace(host, PF);
      dma.attach(iommu);
      const buf = dma.alloc(64, 64);
      expect(buf).toBeGreaterThanOrEqual(0x1_0000_0000n);
      const go = async (op: number, addr: bigint, len: number) => {
        await fn.barWrite64(0, Reg.DMA_ADDR, addr);
        await fn.barWrite(0, Reg.DMA_LEN, 4, len);
        await fn.barWrite(0, Reg.DMA_GO, 4, op);
      };
      await go(1, buf, 16);
      expect(dma.read(buf, 17)).toEqual(Uint8Array.of(...new Array(16).fill(0x5a), 0));
      dma.write(buf, new Uint8Array(16).fill(1));
      await go(2, buf, 4);
      expect(ep.lastRead).toEqual(Uint8Array.of(1, 1, 1, 1));
      expect(faults.take(PF)).toEqual([]);

      dma.revoke();
      await go(1, buf + 32n, 8);
      await go(2, buf, 4);
      expect(dma.read(buf + 32n, 8)).toEqual(new Uint8Array(8));
      expect(ep.lastRead).toEqual(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
      const seen = faults.take(PF);
      expect(seen.map((f) => [f.kind, f.addr])).toEqual([
        ['write', buf + 32n],
        ['read', buf],
      ]);
      expect(host.readText(`/sys/bus/pci/devices/${PF}/aer_dev_nonfatal`)).toMatch(/TOTAL_ERR_NONFATAL 2/);
      // Driver-side access to the memory still works while the device is locked out.
      dma.write(buf + 48n, Uint8Array.of(9));
      expect(dma.read(buf + 48n, 1)).toEqual(Uint8Array.of(9));

      dma.restore();
      await go(1, buf + 32n, 8);
      expect(dma.read(buf + 32n, 8)).toEqual(new Uint8Array(8).fill(0x5a));
      expect(faults.take(PF)).toEqual([]);
      dma.close();
      faults.close();
      iommu.close();
    });

    it('a canary window reports every byte run the device wrote, not the driver\'s own writes', async () => {
      const { host } = hostWithCard();
      const iommu = openIommu(host, flow);
      const fn = new VfioPciFunction(iommu.openDevice(PF), 1000);
      const dma = new VfioDmaSpace(host, PF);
      dma.attach(iommu);
      const a = dma.alloc(256, 64);
      dma.armCanary();
      dma.write(a, Uint8Array.of(1, 2, 3));
      const late = dma.alloc(32);
      expect(dma.read(late, 32)).toEqual(new Uint8Array(32));
      await fn.barWrite64(0, Reg.DMA_ADDR, a + 4096n);
      await fn.barWrite(0, Reg.DMA_LEN, 4, 8);
      await fn.barWrite(0, Reg.DMA_GO, 4, 1);
      const w = dma.disarmCanary(nextSeq);
      expect(w.map((x) => [x.kind, x.addr - a, x.len, x.observedBy])).toEqual([['write', 4096n, 8, 'canary']]);
      dma.close();
      iommu.close();
    });

    it('a VF of a vfio-pci PF opens with the PF\'s VF token only', async () => {
      const { host } = hostWithCard();
      const iommu = openIommu(host, flow);
      const pf = iommu.openDevice(PF);
      host.writeText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`, '2');
      const vf = '0000:3b:00.1';
      expect(host.readText(`/sys/bus/pci/devices/${vf}/driver_override`).trim()).toBe('vfio-pci');
      expect(host.readlink(`/sys/bus/pci/devices/${vf}/driver`)).toMatch(/vfio-pci$/);
      const token = '2f1c9a4e-6b0d-4c8e-9a31-5d7e0f2b8c44';
      expect(() => iommu.openDevice(vf)).toThrow(expect.objectContaining({ code: 'EACCES' }));
      pf.setVfToken(token);
      expect(() => iommu.openDevice(vf, 'aaaaaaaa-6b0d-4c8e-9a31-5d7e0f2b8c44')).toThrow(expect.objectContaining({ code: 'EACCES' }));
      const d = iommu.openDevice(vf, token);
      expect(new VfioPciFunction(d, 100).address).toBe(vf);
      iommu.close();
    });
  });
}

describe('the kernel\'s refusals, as the fake host gives them', () => {
  it('a group with a member still on a host driver is not viable', () => {
    const host = new FakeHost();
    host.addFunction({ bdf: PF, vendor: 0x1af4, device: 0x1042, endpoint: new TestEndpoint(), group: 7 });
    host.addFunction({ bdf: '0000:3b:00.2', vendor: 0x1af4, device: 0x1041, driver: 'virtio-pci', group: 7 });
    host.writeText(`/sys/bus/pci/devices/${PF}/driver_override`, 'vfio-pci');
    host.writeText('/sys/bus/pci/drivers_probe', PF);
    expect(() => openIommu(host, 'group').openDevice(PF)).toThrow(/not viable.*0000:3b:00.2/);
  });

  it('a group open in another run is refused with EBUSY, named', () => {
    const { host } = hostWithCard();
    const a = openIommu(host, 'group');
    a.openDevice(PF);
    expect(() => openIommu(host, 'group').openDevice(PF)).toThrow(/open in another process/);
  });

  it('vfio-pci refuses a PF that already has VFs, and sriov_numvfs follows the kernel\'s rules', () => {
    const host = new FakeHost({ enableSriov: false });
    host.addFunction({ bdf: PF, vendor: 0x1af4, device: 0x1042, endpoint: new TestEndpoint(), sriov: new TestSriov(4), driver: 'virtio-pci' });
    host.writeText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`, '2');
    host.writeText(`/sys/bus/pci/devices/${PF}/driver_override`, 'vfio-pci');
    host.writeText(`/sys/bus/pci/drivers/virtio-pci/unbind`, PF);
    // Unbinding the PF driver disabled SR-IOV; bind to vfio-pci works, numvfs needs enable_sriov.
    expect(host.readText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`).trim()).toBe('0');
    host.writeText('/sys/bus/pci/drivers_probe', PF);
    expect(() => host.writeText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`, '2')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    host.writeText('/sys/module/vfio_pci/parameters/enable_sriov', 'Y');
    host.writeText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`, '2');
    expect(() => host.writeText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`, '3')).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(() => host.writeText(`/sys/bus/pci/drivers/vfio-pci/unbind`, PF)).not.toThrow();
    expect(host.exists('/sys/bus/pci/devices/0000:3b:00.1')).toBe(false);
  });

  it('the IOMMU refuses unaligned and overlapping mappings', () => {
    const { host } = hostWithCard();
    const iommu = openIommu(host, 'group');
    iommu.openDevice(PF);
    const mem = host.mmap(8192, 3, 0x21, -1, 0);
    iommu.map(mem, 0x2000_0000n);
    expect(() => iommu.map(mem, 0x2000_0000n)).toThrow(SysError);
    expect(() => iommu.map(mem, 0x2000_0001n)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('IOMMU fault lines', () => {
  it('parses Intel DMAR and AMD-Vi page faults', () => {
    expect(parseFaultLine('DMAR: [DMA Write NO_PASID] Request device [3b:00.1] fault addr 0x100002000 [fault reason 0x05] PTE Write access is not set')).toMatchObject({ rid: '3b:00.1', kind: 'write', addr: 0x100002000n });
    expect(parseFaultLine('DMAR: [DMA Read] Request device [3b:00.2] fault addr 100000000 [fault reason 06] PTE Read access is not set')).toMatchObject({ rid: '3b:00.2', kind: 'read', addr: 0x100000000n });
    expect(parseFaultLine('iommu ivhd0: AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:3b:00.1 domain=0x0012 address=0x100001000 flags=0x0020]')).toMatchObject({ rid: '3b:00.1', kind: 'write', addr: 0x100001000n });
    expect(parseFaultLine('AMD-Vi: Event logged [IO_PAGE_FAULT device=3b:00.1 domain=0x0012 address=0x100001000 flags=0x0000]')).toMatchObject({ kind: 'read' });
    expect(parseFaultLine('vfio-pci 0000:3b:00.2: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0012 address=0x100001000 flags=0x0020]')).toMatchObject({ rid: '3b:00.2', kind: 'write' });
    expect(parseFaultLine('virtio_blk virtio1: [vda] 1048576 512-byte logical blocks')).toBeUndefined();
  });
});
