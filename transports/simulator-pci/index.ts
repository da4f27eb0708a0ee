/**
 * simulator-pci: the reference device as register-level PCI functions in this process, behind the
 * HostBinding contract (protocol/host-binding.ts). The virtio-pci driver (transports/virtio-pci) opens it
 * and drives it exactly as it would a card through VFIO.
 *
 *   const b = await openSimulatorPciBinding({ members: [{ type: 'block' }, { type: 'block' }], latencyMs: 1 });
 *   b.pf, b.pfDma, b.pfIrq      the PF: config space, BARs, the memory its rings live in, its MSI-X events
 *   b.sriov.setNumVfs(0 | n)    as Linux's sriov_numvfs, through the PF's SR-IOV capability (0 clears VF Enable;
 *                               n from 0 sets NumVFs, then VF Enable; NumVFs changes only through 0)
 *   await b.vf(memberId)        { fn, dma, irq, stimuli } of a VF that exists now; a new one after every
 *                               VF Enable clear and set (an old one reads all ones, its irq stays silent);
 *                               stimuli: configChange, wake, holdRequests (a stalled backend)
 *   b.timing, b.identity(), b.close()
 *
 * Options (SimulatorPciOptions): members, commandSets, device (wire opcodes, seed, timings), mutant (a
 * device/mutants name), changes (device changes the caller resolved: variants), pciMutant (a
 * device/pci/mutants.ts name, see PCI_MUTANTS), latencyMs (default 1; 0 = next turn of the event loop),
 * vfIds ('from-pf' as VFIO shows a VF, or 'raw' 0xFFFF), msixTable ('host' as VFIO: the host programs
 * and unmasks every entry when the driver sets MSI-X Enable; or 'driver': bare metal, entries stay
 * masked until the driver unmasks them). An unknown mutant or pciMutant name is a ConfigError.
 *
 * What the driver must do, as on a card (only the MSI-X table is set up for it, see msixTable):
 * - PF: set Memory Space and Bus Master in Command (BARs read all ones and the device does no DMA
 *   without them). BAR0 (64-bit) holds the virtio structures the vendor capabilities point at:
 *   common cfg 0x0, ISR 0x1000, device cfg 0x2000 (block PF: virtio_blk_config of a disk-less owner,
 *   all 0), notify 0x10000 with notify_off_multiplier 4 (queue_notify_off = queue index; 16-bit write;
 *   the address names the queue). BAR2 (32-bit) holds the MSI-X table (0x0) and PBA (0x1000), 4 vectors.
 *   Features offered: VERSION_1, SR_IOV, ADMIN_VQ. One request queue (index 0, never serviced) and one
 *   admin queue at admin_queue_index 1, size up to 64. Vectors the table lacks read back 0xFFFF.
 * - VFs: no Command Memory bit (VF Memory Space Enable is in the PF's SR-IOV Control, set by sriov);
 *   set Bus Master. BAR0 (64-bit, 512 KiB) as the member layout (device/member/layout.ts) with the
 *   MSI-X table at 0x4000 and PBA at 0x5000; numQueues + 1 vectors.
 * - MSI-X: set Enable (and keep Function Mask clear) in Message Control. With msixTable 'host' (default)
 *   the host then unmasks every entry, as VFIO's SET_IRQS does; with 'driver' unmask the entries you use
 *   (they come out of reset masked). A message for a masked vector only sets its PBA bit and arrives as
 *   an event when unmasked. Events carry the vector index; address/data route nothing here.
 *   Without MSI-X: ISR bit 0/1 and an 'intx' event on assertion (read the ISR to deassert).
 * - Posted writes: barWrite resolves before the write reaches the function; reads and config writes
 *   are ordered after earlier BAR writes; a doorbell's work (the ring walk) runs after latencyMs on the
 *   device's own timer, never inside a driver call. Poll the used ring or wait on the IrqSource.
 * - Reset: device_status keeps its old value until the reset is done (after latencyMs): wait for 0.
 *   fn.reset() is the host's reset (save config, FLR, restore: Command, BARs, MSI-X, PCIe DevCtl, and on
 *   the PF NumVFs and VF Enable, so the VFs come back as new functions). An FLR written through PCIe
 *   Device Control restores nothing; on the PF it clears VF Enable (the group ceases to exist).
 * - A malformed admin chain (loop, index past the queue, readable after writable, indirect, a readable
 *   part over 1 MiB) sets DEVICE_NEEDS_RESET with a configuration change notification; nothing more
 *   runs until a reset. pfModel.lastError says why (diagnostics); faults lists model errors (none expected).
 * - Undecoded accesses never throw: all ones outside an implemented BAR, with memory disabled, in
 *   D3hot, during an FLR, or at a width/alignment other than 1, 2, 4 naturally aligned; 0 for
 *   wrong-width common-config accesses and holes inside BAR0.
 */
export { DEFAULT_LATENCY_MS, type DeviceChangeLike, openSimulatorPciBinding, SimulatorPciBinding, type SimulatorPciOptions } from './binding.ts';
export { PCI_MUTANTS, findPciMutant, type PciMutant } from '../../device/pci/mutants.ts';
export type { VfIdView } from './vf-host-view.ts';
