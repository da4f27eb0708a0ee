import type { Syscalls } from '../sys/syscalls.ts';
import { GroupContainer } from './group-container.ts';
import type { IommuContext, IommuFlow } from './iommu-context.ts';
import { IommufdContext } from './iommufd-context.ts';

export type IommuChoice = IommuFlow | 'auto';

/**
 * The IOMMU interface to use: as configured, or 'auto': the group flow where /dev/vfio/vfio exists
 * (every kernel since 3.6, and the only one that opens VFs of a vfio-pci PF on cdev kernels before the
 * 2025 token fix), else iommufd with device cdevs.
 */
export function chooseIommuFlow(sys: Syscalls, choice: IommuChoice): IommuFlow {
  if (choice !== 'auto') return choice;
  if (sys.exists('/dev/vfio/vfio')) return 'group';
  if (sys.exists('/dev/iommu')) return 'iommufd';
  throw new Error('neither /dev/vfio/vfio nor /dev/iommu exists: load vfio-pci (modprobe vfio-pci) on a kernel with VFIO and an IOMMU; `vmcts doctor` says what is missing');
}

export function openIommu(sys: Syscalls, choice: IommuChoice): IommuContext {
  return chooseIommuFlow(sys, choice) === 'group' ? new GroupContainer(sys) : new IommufdContext(sys);
}
