/** The uAPI numbers and layouts against the reference's table (checked there against linux/vfio.h). */
import { describe, expect, it } from 'vitest';
import * as U from '../../transports/vfio/uapi/vfio-uapi.ts';

describe('VFIO and iommufd uAPI', () => {
  it('ioctl numbers are _IO(";", nr) as the reference lists them', () => {
    expect(U.VfioIoctl).toMatchObject({
      GET_API_VERSION: 15204, CHECK_EXTENSION: 15205, SET_IOMMU: 15206, GROUP_GET_STATUS: 15207, GROUP_SET_CONTAINER: 15208,
      GROUP_UNSET_CONTAINER: 15209, GROUP_GET_DEVICE_FD: 15210, DEVICE_GET_INFO: 15211, DEVICE_GET_REGION_INFO: 15212,
      DEVICE_GET_IRQ_INFO: 15213, DEVICE_SET_IRQS: 15214, DEVICE_RESET: 15215, DEVICE_GET_PCI_HOT_RESET_INFO: 15216,
      DEVICE_PCI_HOT_RESET: 15217, DEVICE_FEATURE: 15221, DEVICE_BIND_IOMMUFD: 15222, DEVICE_ATTACH_IOMMUFD_PT: 15223,
      DEVICE_DETACH_IOMMUFD_PT: 15224, IOMMU_GET_INFO: 15216, IOMMU_MAP_DMA: 15217, IOMMU_UNMAP_DMA: 15218,
    });
    expect(U.IommufdIoctl).toMatchObject({ DESTROY: 15232, IOAS_ALLOC: 15233, IOAS_ALLOW_IOVAS: 15234, IOAS_IOVA_RANGES: 15236, IOAS_MAP: 15237, IOAS_UNMAP: 15238 });
  });

  it('structs have the reference sizes and field offsets', () => {
    const m = U.dmaMap.encode({ flags: 3, vaddr: 0x1122n, iova: 0x3344n, size: 0x5566n });
    const v = new DataView(m.buffer);
    expect([m.length, v.getUint32(0, true), v.getUint32(4, true), v.getBigUint64(8, true), v.getBigUint64(16, true), v.getBigUint64(24, true)]).toEqual([32, 32, 3, 0x1122n, 0x3344n, 0x5566n]);
    expect(U.dmaUnmap.encode(1n, 2n).length).toBe(24);
    expect(U.deviceInfo.encode().length).toBe(24);
    expect(U.regionInfo.encode(7).length).toBe(32);
    expect(U.irqInfo.encode(2).length).toBe(16);
    const s = U.irqSet.encode({ flags: 0x24, index: 2, start: 0, count: 2, fds: [5, -1] });
    expect(s.length).toBe(28);
    expect(U.irqSet.decode(s)).toEqual({ flags: 0x24, index: 2, start: 0, count: 2, fds: [5, -1] });
    const b = U.bindIommufd.encode(9, 0xabcdn);
    expect([b.length, new DataView(b.buffer).getUint32(4, true), new DataView(b.buffer).getInt32(8, true), new DataView(b.buffer).getBigUint64(16, true)]).toEqual([24, 1, 9, 0xabcdn]);
    expect(U.ioasMap.encode({ flags: 7, ioasId: 1, userVa: 0n, length: 4096n, iova: 0x1000n }).length).toBe(40);
    expect(U.ioasUnmap.encode(1, 0n, 1n).length).toBe(24);
    expect(U.ioasIovaRanges.encode(1, 0, 0n).length).toBe(32);
    expect(U.attachIommufdPt.encode(3).length).toBe(16);
    const t = U.vfTokenFeature('2f1c9a4e-6b0d-4c8e-9a31-5d7e0f2b8c44');
    expect([t.length, new DataView(t.buffer).getUint32(4, true)]).toEqual([24, 0x20000]);
    expect(U.uuidString(t.subarray(8))).toBe('2f1c9a4e-6b0d-4c8e-9a31-5d7e0f2b8c44');
    expect(U.decodeCString(U.deviceNameArg('0000:3b:00.1', 'x'))).toBe('0000:3b:00.1 vf_token=x');
  });

  it('an INFO capability chain that loops ends', () => {
    const b = new Uint8Array(64);
    const v = new DataView(b.buffer);
    v.setUint16(24, 1, true);
    v.setUint32(28, 24, true); // next points at itself
    expect(U.infoCaps(b, 24)).toHaveLength(1);
  });
});
