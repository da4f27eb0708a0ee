import { SimulatorTransport } from '../transports/simulator/simulator-transport.ts';
import { openSimulatorPci } from '../transports/simulator-pci/transport.ts';
import { SEED_V2_WIRE } from '../protocol/wire-options.ts';
import { modeGetRate, prepareModeGet } from './admin-throughput.ts';
import { type Benchmark, type BenchFigure, type BenchOptions, info, median, round } from './figure.ts';

/**
 * Admin commands per second through simulator-pci: each DEV_MODE_GET is a descriptor chain in the PF's
 * DMA memory, a posted doorbell, the PCI model's ring walk into the reference device, a used-ring entry
 * and an MSI-X event the driver waits for. The simulator (no PCI layer) is measured in the same run,
 * round for round interleaved, so the ratio is the cost of the PCI path on this machine now.
 */
export const adminThroughputPci: Benchmark = {
  id: 'admin-throughput-pci',
  title: 'admin commands per second through simulator-pci (driver, admin virtqueue, PCI models), beside the simulator',
  async run(o: BenchOptions): Promise<BenchFigure[]> {
    const sim = new SimulatorTransport();
    const pci = await openSimulatorPci({ kind: 'simulator-pci', latencyMs: 0 }, { wire: SEED_V2_WIRE, seed: 1, commandMs: 2000 });
    try {
      await prepareModeGet(sim);
      await prepareModeGet(pci);
      const batch = o.quick ? 1_000 : 10_000;
      const rounds = o.quick ? 3 : 7;
      await modeGetRate(pci, batch); // warm-up
      await modeGetRate(sim, batch * 10);
      const simRates: number[] = [];
      const pciRates: number[] = [];
      for (let r = 0; r < rounds; r++) {
        simRates.push(await modeGetRate(sim, batch * 10));
        pciRates.push(await modeGetRate(pci, batch));
      }
      const s = median(simRates);
      const p = median(pciRates);
      o.log?.(`admin-throughput-pci: ${rounds} rounds, simulator-pci ${pciRates.map(Math.round).join(', ')} /s, simulator ${simRates.map(Math.round).join(', ')} /s`);
      return [
        info('simulator-pci-admin-commands-per-second', round(p, 0), 'commands/s'),
        info('simulator-admin-commands-per-second-same-run', round(s, 0), 'commands/s'),
        info('simulator-pci-vs-simulator-admin-ratio', round(p / s, 4), 'ratio'),
      ];
    } finally {
      await pci.close();
      await sim.close();
    }
  },
};
