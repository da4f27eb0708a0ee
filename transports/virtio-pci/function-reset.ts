import type { PciFunction } from '../../protocol/pci-function.ts';
import { PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PCI_EXP_DEVSTA, PCI_EXP_DEVSTA_TRPND, PciCfg, PM_CTRL, PM_CTRL_PME_STATUS, PM_CTRL_STATE_MASK, PowerState, type PowerStateName } from '../../protocol/pci.ts';
import { TransportTimeoutError } from '../../protocol/transport-errors.ts';
import { pollUntil } from './poll.ts';

/**
 * Whether the function answers configuration reads: a function in FLR or coming back from D3hot
 * answers with all ones. The Revision ID / Class Code dword is read, not the Vendor ID, because a VF
 * reads 0xFFFF there even when it is answering (PCIe SR-IOV 3.4.1.1).
 */
export async function answersConfig(fn: PciFunction): Promise<boolean> {
  return (await fn.configRead(PciCfg.REVISION_ID, 4)) !== 0xffffffff;
}

async function waitForAnswer(fn: PciFunction, what: string, timeoutMs: number): Promise<void> {
  if (!(await pollUntil(() => answersConfig(fn), timeoutMs))) throw new TransportTimeoutError(`${what} (the function did not answer configuration reads again)`, timeoutMs);
}

/**
 * Function Level Reset through PCIe Device Control (PCIe 6.6.2): wait (up to `quietMs`) for
 * Transactions Pending to clear, set Initiate FLR, then resolve once the function answers
 * configuration reads again, at most `resetMs` later (the PCIe spec gives a function 100 ms; the
 * binding declares what its device needs).
 */
export async function functionLevelReset(fn: PciFunction, expAt: number, quietMs: number, resetMs: number): Promise<void> {
  await pollUntil(async () => ((await fn.configRead(expAt + PCI_EXP_DEVSTA, 2)) & PCI_EXP_DEVSTA_TRPND) === 0, quietMs);
  const ctl = await fn.configRead(expAt + PCI_EXP_DEVCTL, 2);
  await fn.configWrite(expAt + PCI_EXP_DEVCTL, 2, ctl | PCI_EXP_DEVCTL_BCR_FLR);
  await waitForAnswer(fn, `FLR of ${fn.address}`, resetMs);
}

/**
 * A power-state change through PMCSR (PCI PM 1.2): the state field written, PME_Status left alone
 * (it is write-1-to-clear); resolves once the function answers configuration reads again (D3hot to
 * D0 takes up to 10 ms on hardware), at most `resetMs` later.
 */
export async function setPowerState(fn: PciFunction, pmAt: number, state: PowerStateName, resetMs: number): Promise<void> {
  const at = pmAt + PM_CTRL;
  const cur = await fn.configRead(at, 2);
  await fn.configWrite(at, 2, (cur & ~PM_CTRL_STATE_MASK & ~PM_CTRL_PME_STATUS) | PowerState[state]);
  await waitForAnswer(fn, `${fn.address} entering ${state}`, resetMs);
}
