/** The SR-IOV state of an owner function as the host reports it. */
export interface SriovState {
  totalVfs: number;
  numVfs: number;
  vfEnable: boolean;
}

/**
 * NumVFs and VF Enable through the host's own interface (Linux: the PF's sriov_numvfs in sysfs), never
 * by writing the SR-IOV capability behind the host's back. As with sriov_numvfs, NumVFs and VF Enable
 * move together: setNumVfs(0) clears VF Enable (the VFs and the SR-IOV group cease to exist);
 * setNumVfs(n > 0) from 0 sets NumVFs to n and then VF Enable. It resolves when the VFs exist (or are
 * gone) as far as the host can tell.
 */
export interface SriovControl {
  state(): Promise<SriovState>;
  setNumVfs(n: number): Promise<void>;
}
