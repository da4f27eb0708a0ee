/**
 * The userspace modern virtio-pci driver (owner and member side), written once against HostBinding:
 * simulator-pci, vfio-user and VFIO each hand it a binding and get an AdminTransport.
 */
import type { AdminTransport } from '../../protocol/admin-transport.ts';
import type { HostBinding } from '../../protocol/host-binding.ts';
import { VirtioPciTransport, type VirtioPciOptions } from './admin-transport.ts';

export { VirtioPciTransport, type VirtioPciOptions } from './admin-transport.ts';
export { VirtioPciMemberPort } from './member-port.ts';
export { UsedRingError, VirtioPciError } from './errors.ts';

/** Drives the device behind `binding`; the transport owns the binding from here on (closing it on failure too). */
export function openVirtioPci(binding: HostBinding, opts: VirtioPciOptions): Promise<AdminTransport> {
  return VirtioPciTransport.open(binding, opts);
}
