/**
 * The `vfio` transport: a virtio SR-IOV card on this host through Linux VFIO, driven by the userspace
 * virtio-pci driver. Host preparation (prepareVfioHost, in the CLI process) binds the PF to vfio-pci
 * under the safety rules and restores it on every exit path; open() (in the test worker) opens the
 * PF, negotiates the owner features, creates the VFs through sriov_numvfs and hands back the owner
 * transport. With `fakeHost` the same code runs against the in-memory fake host and a card of
 * device/pci models, in the process that uses it.
 */
import type { AdminTransport } from '../../protocol/admin-transport.ts';
import type { DeviceTiming } from '../../protocol/host-binding.ts';
import type { MemberStimuli } from '../../protocol/member-port.ts';
import type { WireOptions } from '../../protocol/wire-options.ts';
import type { HostChange } from '../registration.ts';
import { openVirtioPci, type VirtioPciTransport } from '../virtio-pci/index.ts';
import { type FakeCardOptions, fakeHostWithCard, FAKE_CARD_PF } from './fake/fake-card.ts';
import { guardExitPaths } from './host/exit-guard.ts';
import { ConfigError } from '../../protocol/errors.ts';
import { DeviceLockedError } from './host/device-lock.ts';
import { describeRestoreProblems, HostPreparationError, prepareHost } from './host/prepare-host.ts';
import { HostRefusedError } from './host/safety.ts';
import { normalizeBdf, SysfsPci } from './host/sysfs-pci.ts';
import type { IommuChoice } from './iommu/open-iommu.ts';
import { ModeWindowTransport } from './mode-windows.ts';
import type { Syscalls } from './sys/syscalls.ts';
import type { VendorHooks } from './vendor-hooks.ts';
import { VfioHostBinding } from './vfio-host-binding.ts';

export interface VfioTransportOptions {
  pf: string;
  vfs?: string[];
  allowUnbind?: boolean;
  /** VFs to create (default: as many as `vfs` names, else 2, at most sriov_totalvfs). */
  numVfs?: number;
  iommu?: IommuChoice;
  /** The VF token (a UUID) the run installs on the PF; default a new random one per run. */
  vfToken?: string;
  /** Device ids accepted besides 1af4:1040-107f. */
  ids?: { vendor: number; device: number }[];
  hooks?: VendorHooks;
  /** How long the card may take (DeviceTiming); defaults suit a card, a slow one declares more. */
  timing?: Partial<DeviceTiming>;
  /** Run against the in-memory fake host with a card of device/pci models (CI without hardware). */
  fakeHost?: boolean | FakeCardOptions;
}

/** What a card is given by default: completions within 2 s, 100 ms of quiet to conclude nothing came, resets within 1 s (PCIe allows an FLR 100 ms). */
export const CARD_TIMING: DeviceTiming = { completionMs: 2000, quietMs: 100, resetMs: 1000 };

function fakeOptions(o: VfioTransportOptions): FakeCardOptions {
  return typeof o.fakeHost === 'object' ? o.fakeHost : {};
}

/**
 * Host preparation, in the CLI process: the safety rules, the lock, the PF onto vfio-pci. Returns the
 * change to undo (the registry undoes it on every way out; an exit hook and SIGHUP are covered here
 * too, since the undo is synchronous). With the fake host there is nothing of this machine to prepare:
 * the worker prepares its own fake (see openVfioTransport).
 */
export async function prepareVfioHost(o: VfioTransportOptions, say: (line: string) => void): Promise<HostChange | undefined> {
  if (o.fakeHost) return undefined;
  const { LinuxSyscalls } = await import('./sys/linux-syscalls.ts');
  const sys = new LinuxSyscalls();
  let prepared: ReturnType<typeof prepareHost>;
  try {
    prepared = prepareHost(sys, { pf: normalizeBdf(o.pf), ...(o.vfs ? { vfs: o.vfs.map(normalizeBdf) } : {}), ...(o.ids ? { ids: o.ids } : {}), ...(o.allowUnbind ? { allowUnbind: true } : {}) }, say);
  } catch (e) {
    // A refusal is the config's or the host's to fix (exit 2 with the reasons), never a crash.
    if (e instanceof HostRefusedError || e instanceof DeviceLockedError || e instanceof HostPreparationError) throw new ConfigError(`${e.message}\n(\`vmcts doctor --pf ${o.pf}\` checks the host and the card)`);
    throw e;
  }
  let problems: string | undefined;
  const finish = guardExitPaths(() => {
    const left = prepared.undo();
    if (left.length) problems = describeRestoreProblems(prepared.pf, left);
  }, ['SIGHUP']);
  return {
    description: `${prepared.pf} bound to vfio-pci (was ${prepared.journal.pf.driver ?? 'no driver'}), locked`,
    undo: async () => {
      finish();
      if (problems) throw new Error(problems);
    },
  };
}

export interface VfioOpenContext {
  wire: WireOptions;
  seed: number;
  commandMs: number;
}

/** Opens the card (host preparation has run); with `fakeHost`, builds and prepares the fake host first. */
export async function openVfioTransport(o: VfioTransportOptions, ctx: VfioOpenContext): Promise<AdminTransport> {
  let sys: Syscalls;
  let pf = normalizeBdf(o.pf);
  let timing: DeviceTiming = { ...CARD_TIMING, ...o.timing };
  let fakeUndo: (() => void) | undefined;
  let modelStimuli: ((id: number) => MemberStimuli | undefined) | undefined;
  let closeCard: (() => void) | undefined;
  if (o.fakeHost) {
    const f = fakeOptions(o);
    const { host, card } = fakeHostWithCard({ ...f, device: { ...f.device, wire: ctx.wire, seed: ctx.seed } });
    sys = host;
    pf = FAKE_CARD_PF;
    const prepared = prepareHost(host, { pf });
    fakeUndo = () => void prepared.undo();
    modelStimuli = (id) => card.stimuli(id);
    closeCard = () => card.close();
    // A card's completion and reset times; the quiet period long enough that a model which acts after
    // its latency is seen acting even on a loaded machine (the fake device's timers run late there).
    const l = f.latencyMs ?? 1;
    timing = { ...CARD_TIMING, quietMs: 250 + 4 * l, ...o.timing };
  } else {
    const { LinuxSyscalls } = await import('./sys/linux-syscalls.ts');
    sys = new LinuxSyscalls();
  }
  const binding = await VfioHostBinding.open(sys, {
    pf,
    ...(o.vfs && !o.fakeHost ? { vfs: o.vfs.map(normalizeBdf) } : {}),
    iommu: o.iommu ?? 'auto',
    vfToken: o.vfToken ?? crypto.randomUUID(),
    timing,
    ...(o.hooks ? { hooks: o.hooks } : {}),
    ...(modelStimuli ? { modelStimuli } : {}),
  });
  const cleanup = () => {
    closeCard?.();
    fakeUndo?.();
  };
  let driver: VirtioPciTransport;
  try {
    driver = (await openVirtioPci(binding, { wire: ctx.wire, defaultTimeoutMs: ctx.commandMs })) as VirtioPciTransport;
  } catch (e) {
    cleanup();
    throw e;
  }
  try {
    const total = (await binding.sriov.state()).totalVfs;
    const want = Math.min(total, o.numVfs ?? (o.fakeHost ? (fakeOptions(o).members?.length ?? 2) : (o.vfs?.length ?? 2)));
    await driver.sriov().setNumVfs(want);
    if (!o.fakeHost) checkNamedVfs(sys, pf, o.vfs?.map(normalizeBdf));
  } catch (e) {
    await driver.close().catch(() => undefined);
    cleanup();
    throw e;
  }
  return new ModeWindowTransport(driver, binding, ctx.wire, cleanup);
}

/** The VFs the config names must be the ones the PF created, in member order. */
function checkNamedVfs(sys: Syscalls, pf: string, named: string[] | undefined): void {
  if (!named?.length) return;
  const now = new SysfsPci(sys).virtfns(pf);
  named.forEach((bdf, i) => {
    if (now[i] !== bdf) throw new Error(`transport.vfs[${i}] is ${bdf}, but member ${i + 1} of ${pf} is ${now[i] ?? 'absent'} (virtfn${i})`);
  });
}
