import { PciCapId, PciCfg, VirtioPciCap } from '../../protocol/pci.ts';
import { PciCapType } from '../../protocol/pci-common-cfg.ts';
import { CapOffset } from '../member/layout.ts';
import { PF_SRIOV_CAP } from '../owner/pf-function.ts';
import { patch } from '../mutants/mutant.ts';
import type { SplitVirtqueue } from '../virtqueue.ts';
import { BarRegisters } from './bar.ts';
import { PF_DSN_CAP } from './pf-config-space.ts';
import { PfBar, type PfPciModel } from './pf-model.ts';

/**
 * A PF whose PCI plumbing is broken the way a bad board or firmware breaks it. These are not
 * conformance mutants (device/mutants/ breaks migration rules and the suite must report FAIL): they
 * break what a virtio-pci driver relies on, and the driver must answer each with one clear error or
 * verdict within a bounded time, never a hang or a crash. `apply` patches a freshly built PF model.
 */
export interface PciMutant {
  /** Kebab-case name: the binding's `pciMutant` option. */
  name: string;
  /** What is broken, in one line. */
  description: string;
  apply(pf: PfPciModel): void;
}

type Complete = (q: SplitVirtqueue, head: number, usedLength: number, writableLength: number) => Promise<void>;

function wrapComplete(pf: PfPciModel, make: (orig: Complete) => Complete): void {
  patch(pf.engine, 'complete', make);
}

/** A descriptor index of `q` that heads no chain the driver has outstanding: an id it never submitted. */
function notOutstanding(pf: PfPciModel, q: SplitVirtqueue, head: number): number {
  const taken = pf.engine.outstanding.get(q.index) ?? new Set<number>();
  for (let i = 0; i < q.size; i++) {
    const id = (head + (q.size >> 1) + i) % q.size;
    if (id !== head && !taken.has(id)) return id;
  }
  return q.size; // every index is outstanding: fall back to one outside the queue
}

export const PCI_MUTANTS: readonly PciMutant[] = [
  {
    name: 'cap-list-loop',
    description: 'The standard capability list loops: the last capability (PCI_CFG) points back to the MSI-X capability.',
    apply(pf) {
      pf.config.bytes[CapOffset.PCI_CFG + VirtioPciCap.CAP_NEXT] = CapOffset.MSIX;
    },
  },
  {
    name: 'cap-past-config-space',
    description: 'The first capability is a COMMON_CFG capability at 0xf8 whose 16 bytes run past the 256-byte configuration header (its offset and length fields read the extended space).',
    apply(pf) {
      const b = pf.config.bytes;
      const at = 0xf8;
      b[at + VirtioPciCap.CAP_VNDR] = PciCapId.VENDOR;
      b[at + VirtioPciCap.CAP_NEXT] = b[PciCfg.CAPABILITY_LIST];
      b[at + VirtioPciCap.CAP_LEN] = 16;
      b[at + VirtioPciCap.CFG_TYPE] = PciCapType.COMMON_CFG;
      b[at + VirtioPciCap.BAR] = PfBar.VIRTIO;
      b[PciCfg.CAPABILITY_LIST] = at;
    },
  },
  {
    name: 'cap-pointer-into-header',
    description: 'The last capability\'s next pointer is 0x10, inside the configuration header (below 0x40).',
    apply(pf) {
      pf.config.bytes[CapOffset.PCI_CFG + VirtioPciCap.CAP_NEXT] = PciCfg.BAR0;
    },
  },
  {
    name: 'ext-cap-list-loop',
    description: 'The extended capability list loops: the Device Serial Number capability points back to SR-IOV at 0x100.',
    apply(pf) {
      const dv = new DataView(pf.config.bytes.buffer);
      dv.setUint32(PF_DSN_CAP, (dv.getUint32(PF_DSN_CAP, true) & 0xfffff) | (PF_SRIOV_CAP << 20), true);
    },
  },
  {
    name: 'bar0-size-0',
    description: 'BAR0 is not implemented (sizing reads 0) while the virtio capabilities point into it.',
    apply(pf) {
      pf.config.bars = new BarRegisters(pf.config.bars.defs.map((d) => (d.index === PfBar.VIRTIO ? { ...d, size: 0n } : d)));
    },
  },
  {
    name: 'admin-queue-size-0',
    description: 'queue_size reads 0 for the admin queue: the queue the device advertises is not available.',
    apply(pf) {
      pf.common.layout.adminQueueMax = 0;
    },
  },
  {
    name: 'admin-queue-num-0',
    description: 'admin_queue_num reads 0 although VIRTIO_F_ADMIN_VQ is offered: no admin queue to use.',
    apply(pf) {
      pf.common.layout.adminQueueNum = () => 0;
    },
  },
  {
    name: 'used-id-never-submitted',
    description: 'Completions name a descriptor index that heads no outstanding chain (half the queue away from the real head), and the real chain is never completed.',
    apply(pf) {
      wrapComplete(pf, (orig) => (q, head, len, wl) => orig(q, notOutstanding(pf, q, head), len, wl));
    },
  },
  {
    name: 'used-id-out-of-range',
    description: 'Completions name descriptor index queue_size + head, outside the descriptor table.',
    apply(pf) {
      wrapComplete(pf, (orig) => (q, head, len, wl) => orig(q, q.size + head, len, wl));
    },
  },
  {
    name: 'used-len-beyond-buffer',
    description: 'The used length reported is 8 bytes more than the chain\'s device-writable buffers hold.',
    apply(pf) {
      wrapComplete(pf, (orig) => (q, head, _len, wl) => orig(q, head, wl + 8, wl));
    },
  },
  {
    name: 'never-completes',
    description: 'Admin commands are taken from the available ring and executed, but no used element is ever written and no interrupt sent.',
    apply(pf) {
      wrapComplete(pf, () => async () => undefined);
    },
  },
  {
    name: 'completes-twice',
    description: 'Every chain is completed twice: two used elements with the same id (used idx advances by 2) and two notifications.',
    apply(pf) {
      wrapComplete(pf, (orig) => async (q, head, len, wl) => {
        await orig(q, head, len, wl);
        await orig(q, head, len, wl);
      });
    },
  },
];

export function findPciMutant(name: string): PciMutant | undefined {
  return PCI_MUTANTS.find((m) => m.name === name);
}
