import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../protocol/decode-error.ts';
import type { AdminTransport } from '../../protocol/admin-transport.ts';
import { TransportTimeoutError } from '../../protocol/transport-errors.ts';
import { SEED_V2_WIRE } from '../../protocol/wire-options.ts';
import { GroupType } from '../../protocol/status.ts';
import { openSimulatorPciBinding, PCI_MUTANTS } from '../../transports/simulator-pci/index.ts';
import { UsedRingError, VirtioPciError, VirtioPciTransport } from '../../transports/virtio-pci/index.ts';

const COMMAND_MS = 300;
/** Every case ends within this (open, one or two commands, recover, close), or the driver hung. */
const BOUND_MS = 5_000;

/** What the driver must make of each broken device: where the error shows, its class and what it says. */
const EXPECTED: Record<string, { at: 'open' | 'command'; error: new (...a: never[]) => Error; message: RegExp }> = {
  'cap-list-loop': { at: 'open', error: VirtioPciError, message: /capability list is broken: the capability list loops/ },
  'cap-past-config-space': { at: 'open', error: VirtioPciError, message: /capability list is broken: .*runs past the end of the standard configuration space/ },
  'cap-pointer-into-header': { at: 'open', error: VirtioPciError, message: /capability list is broken: .*(below 0x40|outside 0x40)/ },
  'ext-cap-list-loop': { at: 'open', error: VirtioPciError, message: /extended capability list is broken: .*loops/ },
  'bar0-size-0': { at: 'open', error: VirtioPciError, message: /no usable VIRTIO_PCI_CAP_COMMON_CFG capability .*BAR 0 is not implemented/ },
  'admin-queue-size-0': { at: 'open', error: VirtioPciError, message: /admin queue \d+ is not available: queue_size reads 0/ },
  'admin-queue-num-0': { at: 'open', error: VirtioPciError, message: /admin_queue_num reads 0/ },
  'used-id-never-submitted': { at: 'command', error: UsedRingError, message: /names a chain the driver never made available/ },
  'used-id-out-of-range': { at: 'command', error: UsedRingError, message: /is not a descriptor of this \d+-entry queue/ },
  'used-len-beyond-buffer': { at: 'command', error: UsedRingError, message: /used length \d+ for chain \d+ \(LIST_QUERY\) exceeds its \d+-byte device-writable part/ },
  'never-completes': { at: 'command', error: TransportTimeoutError, message: /LIST_QUERY did not complete within 300 ms/ },
  'completes-twice': { at: 'command', error: UsedRingError, message: /returned chain \d+ \(LIST_QUERY\) a second time/ },
};

const LIST_QUERY = { opcode: SEED_V2_WIRE.opcodes.LIST_QUERY, groupType: GroupType.SRIOV, memberId: 0n, data: new Uint8Array(0), resultCapacity: 64 };

async function open(pciMutant: string): Promise<AdminTransport> {
  const binding = await openSimulatorPciBinding({ pciMutant, device: { wire: SEED_V2_WIRE }, latencyMs: 0 });
  return VirtioPciTransport.open(binding, { wire: SEED_V2_WIRE, defaultTimeoutMs: COMMAND_MS });
}

/** Opens the device and sends up to three LIST_QUERYs; the first error, wherever it came. */
async function firstError(pciMutant: string): Promise<{ at: 'open' | 'command'; error: unknown; recovered?: boolean }> {
  let t: AdminTransport;
  try {
    t = await open(pciMutant);
  } catch (error) {
    return { at: 'open', error };
  }
  try {
    for (let i = 0; i < 3; i++) await t.exec(LIST_QUERY);
    return { at: 'command', error: undefined };
  } catch (error) {
    // recover() must answer in bounded time whatever the device does (true or false, never a hang).
    const recovered = await t.recover();
    return { at: 'command', error, recovered };
  } finally {
    await t.close();
  }
}

describe('the virtio-pci driver against broken PCI devices (device/pci mutants)', () => {
  it('has an expectation for every PCI mutant the binding offers', () => {
    expect(PCI_MUTANTS.map((m) => m.name).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const m of PCI_MUTANTS) {
    it(`${m.name}: one clear error, in bounded time`, async () => {
      const want = EXPECTED[m.name];
      const t0 = performance.now();
      const got = await firstError(m.name);
      expect(performance.now() - t0).toBeLessThan(BOUND_MS);
      expect(got.error, `${m.name} (${m.description}) raised no error`).toBeDefined();
      expect(got.at).toBe(want.at);
      expect(got.error).toBeInstanceOf(want.error);
      expect(String((got.error as Error).message)).toMatch(want.message);
      // A device error is the device's: never an error the harness would charge to itself.
      expect(got.error instanceof VirtioPciError || got.error instanceof DecodeError || got.error instanceof TransportTimeoutError).toBe(true);
    }, BOUND_MS * 2);
  }

  it('the reference PCI models, for contrast, answer every command', async () => {
    const binding = await openSimulatorPciBinding({ device: { wire: SEED_V2_WIRE }, latencyMs: 0 });
    const t = await VirtioPciTransport.open(binding, { wire: SEED_V2_WIRE, defaultTimeoutMs: COMMAND_MS });
    try {
      for (let i = 0; i < 3; i++) expect((await t.exec(LIST_QUERY)).status).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('vmcts run on a device with a broken capability list stops with exit 2 and the driver\'s message', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmcts-broken-'));
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ transport: { kind: 'simulator-pci', pciMutant: 'cap-list-loop' }, tests: ['mode.set-same-mode'] }));
    const root = path.resolve(import.meta.dirname, '../..');
    const r = spawnSync(process.execPath, [path.join(root, 'bin/vmcts.mjs'), 'run', '--config', config, '--out', path.join(dir, 'out')], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
    expect(r.status, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toMatch(/could not open the device: simulator-pci\/pf: the PCI capability list is broken: the capability list loops back to 0x[0-9a-f]+/);
  }, 120_000);
});
