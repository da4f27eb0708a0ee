/**
 * A process that prepares the fake host as `vmcts run` does, then ends the way the test asks:
 *   normal | throw (an uncaught error) | hang (waits for a signal) | run-sigint (a run-like SIGINT
 *   handler that aborts and restores in its finally)
 * On exit it prints the fake host's state (drivers, driver_override, numvfs, lock file) as `STATE {json}`.
 */
import { FakeHost } from '../../../transports/vfio/fake/fake-host.ts';
import { guardExitPaths } from '../../../transports/vfio/host/exit-guard.ts';
import { prepareHost } from '../../../transports/vfio/host/prepare-host.ts';
import { TestEndpoint, TestSriov } from './test-endpoint.ts';

const mode = process.argv[2] ?? 'normal';
const PF = '0000:3b:00.0';
const host = new FakeHost({ enableSriov: false });
host.addFunction({ bdf: PF, vendor: 0x1af4, device: 0x1041, endpoint: new TestEndpoint(0x1041), sriov: new TestSriov(2), driver: 'virtio-pci' });
host.writeText(`/sys/bus/pci/devices/${PF}/sriov_drivers_autoprobe`, '0');
host.writeText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`, '1');

const state = () => ({
  drivers: host.drivers(),
  override: host.readText(`/sys/bus/pci/devices/${PF}/driver_override`).trim(),
  numvfs: host.readText(`/sys/bus/pci/devices/${PF}/sriov_numvfs`).trim(),
  enableSriov: host.readText('/sys/module/vfio_pci/parameters/enable_sriov').trim(),
  lock: host.exists(`/run/lock/vmcts-${PF}.lock`),
});

const prepared = prepareHost(host, { pf: PF });
const finish = guardExitPaths(() => {
  prepared.undo();
});
process.on('exit', () => process.stdout.write(`STATE ${JSON.stringify(state())}\n`));
process.stdout.write(`READY ${JSON.stringify(state())}\n`);

if (mode === 'normal') finish();
if (mode === 'throw') setTimeout(() => {
  throw new Error('a test worker crashed');
}, 10);
if (mode === 'hang') setInterval(() => {}, 1000);
if (mode === 'run-sigint') {
  const keep = setInterval(() => {}, 1000);
  process.on('SIGINT', () => {
    // The run stops, writes its report, and restores in its finally.
    clearInterval(keep);
    try {
      process.stdout.write('ABORTED\n');
    } finally {
      finish();
    }
  });
}
