import type { OwnerPort } from '../../protocol/admin-transport.ts';
import { PCI_EXT_CAP_ID_SRIOV, SRIOV_CTRL_VFE, SriovReg } from '../../protocol/pci.ts';

/** Walks the PCIe extended capability list (from 0x100) for `id`. */
export async function findExtCapability(p: Pick<OwnerPort, 'pciConfigRead'>, id: number): Promise<number | undefined> {
  let at = 0x100;
  for (let hops = 0; at >= 0x100 && hops < 96; hops++) {
    const hdr = await p.pciConfigRead(at, 4);
    if (hdr === 0 || hdr === 0xffffffff) return undefined;
    if ((hdr & 0xffff) === id) return at;
    at = (hdr >>> 20) & 0xffc;
  }
  return undefined;
}

/** The SR-IOV capability of the owner, with its VF Enable and NumVFs. */
export async function sriovState(owner: OwnerPort): Promise<{ cap: number; vfEnable: boolean; numVfs: number; totalVfs: number } | undefined> {
  const cap = await findExtCapability(owner, PCI_EXT_CAP_ID_SRIOV);
  if (cap === undefined) return undefined;
  const ctrl = await owner.pciConfigRead(cap + SriovReg.CTRL, 2);
  return {
    cap,
    vfEnable: (ctrl & SRIOV_CTRL_VFE) !== 0,
    numVfs: await owner.pciConfigRead(cap + SriovReg.NUM_VF, 2),
    totalVfs: await owner.pciConfigRead(cap + SriovReg.TOTAL_VF, 2),
  };
}

/** Sets or clears VF Enable (keeping the other control bits). */
export async function setVfEnable(owner: OwnerPort, cap: number, on: boolean): Promise<void> {
  const ctrl = await owner.pciConfigRead(cap + SriovReg.CTRL, 2);
  await owner.pciConfigWrite(cap + SriovReg.CTRL, 2, on ? ctrl | SRIOV_CTRL_VFE : ctrl & ~SRIOV_CTRL_VFE);
}
