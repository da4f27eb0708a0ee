import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import type { SetExitCode } from '../commands.ts';

interface DoctorFlags {
  pf?: string;
  config?: string;
  json?: boolean;
  fakeHost?: boolean;
}

/**
 * `vmcts doctor [--pf BDF]`: checks this host and the card for a vfio run, reading only, and says what
 * to change with the command that does it. Exit 1 when something blocks a run, 0 otherwise.
 */
export function registerDoctor(program: Command, setExitCode: SetExitCode): void {
  program
    .command('doctor')
    .description('check the host (IOMMU, vfio-pci, privileges, limits) and the card for a vfio run; exit 1 when something blocks it')
    .option('--pf <bdf>', 'the card\'s PF (default: transport.pf of a vfio config)')
    .option('--config <file>', 'config file to take transport.pf from')
    .option('--json', 'print JSON')
    .option('--fake-host', 'check the in-memory fake host of CI instead of this machine')
    .action(async (flags: DoctorFlags) => {
      let pf = flags.pf;
      if (!pf) {
        const { findConfigFile, loadConfigFile } = await import('../../config/load-config.ts');
        const file = findConfigFile(flags.config);
        if (file) {
          const cfg = await loadConfigFile(file);
          if (cfg.transport.kind === 'vfio') pf = (cfg.transport as { pf: string }).pf;
        }
      }
      const { normalizeBdf, BDF_RE } = await import('../../../transports/vfio/host/sysfs-pci.ts');
      if (pf) {
        pf = normalizeBdf(pf);
        if (!BDF_RE.test(pf)) throw new ConfigError(`--pf: "${flags.pf}" is not a PCI address (DDDD:BB:DD.F)`);
      }
      const { runDoctor, formatDoctor } = await import('../../../transports/vfio/host/doctor.ts');
      const sys = flags.fakeHost
        ? (await import('../../../transports/vfio/fake/fake-card.ts')).fakeHostWithCard().host
        : new (await import('../../../transports/vfio/sys/linux-syscalls.ts')).LinuxSyscalls();
      const checks = runDoctor(sys, { ...(pf ? { pf } : {}), ...(flags.fakeHost ? { uid: 0 } : {}) });
      process.stdout.write(flags.json ? JSON.stringify(checks, null, 2) + '\n' : formatDoctor(checks) + '\n');
      setExitCode(checks.some((c) => c.status === 'block') ? 1 : 0);
    });
}
