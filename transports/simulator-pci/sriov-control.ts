import type { PciFunction } from '../../protocol/pci-function.ts';
import { findExtendedCapability } from '../../protocol/pci-capabilities.ts';
import { PCI_EXT_CAP_ID_SRIOV, SRIOV_CTRL_MSE, SRIOV_CTRL_VFE, SriovReg } from '../../protocol/pci.ts';
import type { SriovControl, SriovState } from '../../protocol/sriov-control.ts';

/**
 * SR-IOV control as Linux's sriov_numvfs does it, through the PF's configuration space: 0 clears
 * VF Enable and VF Memory Space Enable, then NumVFs; n > 0 from 0 writes NumVFs, then sets VF Enable
 * and VF Memory Space Enable. Writing the current value changes nothing; a different non-zero value
 * while VFs are enabled is refused (sysfs answers EBUSY: disable first). Resolves once the VFs have
 * finished coming up or going away (`settled`).
 */
export class HostSriovControl implements SriovControl {
  private cap: Promise<number | undefined> | undefined;

  constructor(
    private readonly pf: PciFunction,
    private readonly settled: () => Promise<void>,
  ) {}

  private async at(): Promise<number> {
    this.cap ??= findExtendedCapability((o, w) => this.pf.configRead(o, w), PCI_EXT_CAP_ID_SRIOV, this.pf.configSize);
    const cap = await this.cap;
    if (cap === undefined) throw new Error(`${this.pf.address} has no SR-IOV extended capability the host can find: SR-IOV cannot be controlled`);
    return cap;
  }

  async state(): Promise<SriovState> {
    const cap = await this.at();
    return {
      totalVfs: await this.pf.configRead(cap + SriovReg.TOTAL_VF, 2),
      numVfs: await this.pf.configRead(cap + SriovReg.NUM_VF, 2),
      vfEnable: ((await this.pf.configRead(cap + SriovReg.CTRL, 2)) & SRIOV_CTRL_VFE) !== 0,
    };
  }

  async setNumVfs(n: number): Promise<void> {
    const cap = await this.at();
    const s = await this.state();
    if (!Number.isInteger(n) || n < 0 || n > s.totalVfs) throw new RangeError(`setNumVfs(${n}): NumVFs must be an integer in 0..${s.totalVfs} (TotalVFs)`);
    const ctrl = await this.pf.configRead(cap + SriovReg.CTRL, 2);
    if (n === 0) {
      if (!s.vfEnable && s.numVfs === 0) return;
      await this.pf.configWrite(cap + SriovReg.CTRL, 2, ctrl & ~(SRIOV_CTRL_VFE | SRIOV_CTRL_MSE));
      await this.pf.configWrite(cap + SriovReg.NUM_VF, 2, 0);
    } else {
      if (s.vfEnable && s.numVfs === n) return;
      if (s.vfEnable) throw new Error(`setNumVfs(${n}): ${s.numVfs} VFs are already enabled; set 0 first (sysfs answers EBUSY)`);
      await this.pf.configWrite(cap + SriovReg.NUM_VF, 2, n);
      await this.pf.configWrite(cap + SriovReg.CTRL, 2, ctrl | SRIOV_CTRL_VFE | SRIOV_CTRL_MSE);
      const now = await this.state();
      if (!now.vfEnable || now.numVfs !== n) throw new Error(`setNumVfs(${n}): the PF reads NumVFs ${now.numVfs}, VF Enable ${now.vfEnable ? 1 : 0} after the write`);
    }
    await this.settled();
  }
}
