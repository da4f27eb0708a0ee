/** struct virtio_admin_cmd `status` values (virtio 1.3; decimal, equal to Linux errno numbers). */
export const Status = {
  OK: 0,
  EAGAIN: 11,
  ENOMEM: 12,
  EINVAL: 22,
} as const;

/** `status_qualifier` values (virtio 1.3). 0x08..0xFFFF are reserved and read as INVALID_COMMAND (GR9). */
export const Qualifier = {
  OK: 0x00,
  INVALID_COMMAND: 0x01,
  INVALID_OPCODE: 0x02,
  INVALID_FIELD: 0x03,
  INVALID_GROUP: 0x04,
  INVALID_MEMBER: 0x05,
  NORESOURCE: 0x06,
  TRYAGAIN: 0x07,
} as const;

const STATUS_NAMES = new Map<number, string>(Object.entries(Status).map(([k, v]) => [v, k]));
const QUALIFIER_NAMES = new Map<number, string>(Object.entries(Qualifier).map(([k, v]) => [v, k]));

export function statusName(s: number): string {
  return STATUS_NAMES.get(s) ?? `reserved(${s})`;
}

export function qualifierName(q: number): string {
  return QUALIFIER_NAMES.get(q) ?? `reserved(0x${q.toString(16)})`;
}

/** Group types: 0 is the 1.4 self group (invalid for this draft), 1 is SR-IOV. */
export const GroupType = {
  SELF: 0x0,
  SRIOV: 0x1,
} as const;
