/**
 * Function Level Reset and power-state changes of a PCI function through its own configuration space
 * (PCIe Device Control, PM Control/Status), each waited for the way a driver waits: until the function
 * answers configuration reads again. Written once for every transport that reaches a function's
 * configuration space (the simulator's members, device/pci, vfio-user, VFIO).
 */
import { findCapability } from '../../protocol/pci-capabilities.ts';
import { answersConfigReads, type ConfigAccess, requestFlr, requestPowerState } from '../../protocol/pci-function-control.ts';
import type { ConfigReader } from '../../protocol/pci-capabilities.ts';
import { PciCapId, type PowerStateName } from '../../protocol/pci.ts';
import { pollOrTimeout } from './poll.ts';

export type { ConfigAccess };

/** Capability offsets of one function, found once: a function's capability list is fixed by its design. */
export type CapabilityCache = Map<number, number>;

/** Resolves once the function answers configuration reads; TransportTimeoutError after `timeoutMs`. */
export function waitUntilAnswering(read: ConfigReader, timeoutMs: number, what: string): Promise<void> {
  return pollOrTimeout(() => answersConfigReads(read), timeoutMs, what);
}

async function capability(cfg: ConfigAccess, id: number, name: string, timeoutMs: number, what: string, cache?: CapabilityCache): Promise<number> {
  const known = cache?.get(id);
  if (known !== undefined) return known;
  // A function still busy with an earlier reset has no readable capability list yet.
  await waitUntilAnswering(cfg.read, timeoutMs, what);
  const at = await findCapability(cfg.read, id);
  if (at === undefined) throw new Error(`${what}: the function has no ${name} capability`);
  cache?.set(id, at);
  return at;
}

/** Function Level Reset through PCIe Device Control, waited for until the function answers again. */
export async function functionLevelReset(cfg: ConfigAccess, timeoutMs: number, what: string, cache?: CapabilityCache): Promise<void> {
  await requestFlr(cfg, await capability(cfg, PciCapId.EXP, 'PCI Express', timeoutMs, what, cache));
  await waitUntilAnswering(cfg.read, timeoutMs, what);
}

/** A power state through PMCSR, waited for until the function answers again (D3hot -> D0: up to 10 ms on hardware, PCI PM 1.2). */
export async function setPowerState(cfg: ConfigAccess, state: PowerStateName, timeoutMs: number, what: string, cache?: CapabilityCache): Promise<void> {
  await requestPowerState(cfg, await capability(cfg, PciCapId.PM, 'power management', timeoutMs, what, cache), state);
  await waitUntilAnswering(cfg.read, timeoutMs, what);
}
