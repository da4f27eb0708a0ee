import { findExtendedCapability, type ConfigReader } from '../../protocol/pci-capabilities.ts';
import { PCI_EXT_CAP_ID_SRIOV, SRIOV_CTRL_MSE, SRIOV_CTRL_VFE, SriovReg } from '../../protocol/pci.ts';
import type { SriovControl, SriovState } from '../../protocol/sriov-control.ts';

export interface OwnerConfigAccess {
  read: ConfigReader;
  write(offset: number, width: 1 | 2 | 4, value: number): Promise<void>;
  configSize: number;
}

/**
 * SriovControl through the owner's SR-IOV extended capability, for hosts where the driver owns the
 * PF's configuration space (the in-process models). It behaves as Linux sriov_numvfs does: NumVFs
 * changes only through 0, and 0 clears VF Enable. `settled` resolves when the VFs exist or are gone as
 * far as the host can tell.
 */
export function sriovThroughCapability(cfg: OwnerConfigAccess, settled: () => Promise<void> = async () => undefined): SriovControl {
  let at: number | undefined;
  const cap = async (): Promise<number> => {
    at ??= await findExtendedCapability(cfg.read, PCI_EXT_CAP_ID_SRIOV, cfg.configSize);
    if (at === undefined) throw new Error('the owner has no SR-IOV Extended Capability');
    return at;
  };
  const state = async (): Promise<SriovState> => {
    const c = await cap();
    return {
      vfEnable: ((await cfg.read(c + SriovReg.CTRL, 2)) & SRIOV_CTRL_VFE) !== 0,
      numVfs: await cfg.read(c + SriovReg.NUM_VF, 2),
      totalVfs: await cfg.read(c + SriovReg.TOTAL_VF, 2),
    };
  };
  return {
    state,
    async setNumVfs(n: number): Promise<void> {
      const c = await cap();
      const s = await state();
      if (!Number.isInteger(n) || n < 0 || n > s.totalVfs) throw new RangeError(`NumVFs ${n} is outside 0..${s.totalVfs} (TotalVFs)`);
      if (s.vfEnable && n === s.numVfs) return;
      if (s.vfEnable && n > 0) throw new Error(`NumVFs changes only through 0: VF Enable is set with NumVFs ${s.numVfs}`);
      const ctrl = await cfg.read(c + SriovReg.CTRL, 2);
      if (n === 0) {
        if (s.vfEnable) await cfg.write(c + SriovReg.CTRL, 2, ctrl & ~(SRIOV_CTRL_VFE | SRIOV_CTRL_MSE));
        if (s.numVfs !== 0) await cfg.write(c + SriovReg.NUM_VF, 2, 0);
      } else {
        await cfg.write(c + SriovReg.NUM_VF, 2, n);
        await cfg.write(c + SriovReg.CTRL, 2, ctrl | SRIOV_CTRL_VFE | SRIOV_CTRL_MSE);
      }
      await settled();
    },
  };
}
