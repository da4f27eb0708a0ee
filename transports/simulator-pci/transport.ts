/**
 * The `simulator-pci` transport: the reference device behind the register-level PCI models of
 * device/pci (the in-process HostBinding of this folder), driven by the userspace virtio-pci driver.
 * Admin commands travel as descriptor chains on the PF's admin virtqueue in DMA memory; member ports
 * reach the VFs through their BARs and configuration space, as on a card.
 */
import type { AdminTransport } from '../../protocol/admin-transport.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import { openVirtioPci } from '../virtio-pci/index.ts';
import { openSimulatorPciBinding } from './index.ts';

export interface SimulatorPciTransportOptions {
  /** The members (VFs): block or entropy, with their queue counts and sizes. */
  devices?: { type: 'block' | 'entropy'; numQueues?: number; queueSizeMax?: number }[];
  /** Optional command sets offered (default all). */
  commandSets?: { fieldsQuery?: boolean; writeRecords?: boolean };
  /** A seeded-bug reference device (device/mutants). */
  mutant?: string;
  /** A device with broken PCI plumbing (device/pci mutants). */
  pciMutant?: string;
  /** How long the models wait before acting on a doorbell or a reset, in ms (default 0: the next turn of the event loop). */
  latencyMs?: number;
  wire: WireOptions;
  seed: number;
  /** Per-command deadline of the driver. */
  commandMs: number;
}

export async function openSimulatorPciTransport(o: SimulatorPciTransportOptions): Promise<AdminTransport> {
  const binding = await openSimulatorPciBinding({
    ...(o.devices ? { members: o.devices.map((d) => ({ type: d.type, numQueues: d.numQueues, queueSizeMax: d.queueSizeMax })) } : {}),
    commandSets: { context: true, fieldsQuery: o.commandSets?.fieldsQuery ?? true, writeRecords: o.commandSets?.writeRecords ?? true },
    device: { wire: o.wire, seed: o.seed },
    ...(o.mutant ? { mutant: o.mutant } : {}),
    ...(o.pciMutant ? { pciMutant: o.pciMutant } : {}),
    latencyMs: o.latencyMs ?? 0,
  });
  return openVirtioPci(binding, { wire: o.wire, defaultTimeoutMs: o.commandMs });
}
