import type { SriovControl, SriovState } from '../../protocol/sriov-control.ts';
import { TransportTimeoutError } from '../../protocol/transport-errors.ts';
import { devicePath, SysfsPci } from './host/sysfs-pci.ts';
import type { Syscalls } from './sys/syscalls.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * NumVFs and VF Enable through the PF's sriov_numvfs, Linux's own interface (never by writing the
 * SR-IOV capability). Going from one non-zero count to another passes through 0, as the kernel
 * requires. `beforeChange` lets the binding close its VF devices first (the kernel will not remove a
 * VF a vfio user holds); the call resolves when every VF exists and is on vfio-pci (the PF is on
 * vfio-pci, so new VFs get driver_override vfio-pci), or are all gone.
 */
export class SysfsSriovControl implements SriovControl {
  private readonly pci: SysfsPci;

  constructor(
    private readonly sys: Syscalls,
    private readonly pf: string,
    private readonly settleMs: number,
    private readonly beforeChange: () => Promise<void>,
    private readonly afterChange: () => void,
  ) {
    this.pci = new SysfsPci(sys);
  }

  async state(): Promise<SriovState> {
    const numVfs = this.pci.int(this.pf, 'sriov_numvfs') ?? 0;
    return { totalVfs: this.pci.int(this.pf, 'sriov_totalvfs') ?? 0, numVfs, vfEnable: numVfs > 0 };
  }

  async setNumVfs(n: number): Promise<void> {
    const s = await this.state();
    if (!Number.isInteger(n) || n < 0 || n > s.totalVfs) throw new RangeError(`setNumVfs(${n}): NumVFs must be an integer in 0..${s.totalVfs} (sriov_totalvfs)`);
    if (n === s.numVfs) return;
    await this.beforeChange();
    const file = `${devicePath(this.pf)}/sriov_numvfs`;
    try {
      if (s.numVfs > 0) this.sys.writeText(file, '0');
      if (n > 0) this.sys.writeText(file, String(n));
    } finally {
      this.afterChange();
    }
    const deadline = Date.now() + this.settleMs;
    for (;;) {
      const vfs = this.pci.virtfns(this.pf);
      if (vfs.length === n && vfs.every((vf) => this.pci.driver(vf) === 'vfio-pci')) return;
      if (Date.now() >= deadline) {
        throw new TransportTimeoutError(`${this.pf}: ${n} VFs on vfio-pci after writing sriov_numvfs (now ${vfs.map((v) => `${v}: ${this.pci.driver(v) ?? 'no driver'}`).join(', ') || 'none'})`, this.settleMs);
      }
      await sleep(10);
    }
  }
}
