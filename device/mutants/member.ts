import { DeviceMode } from '../../protocol/commands.ts';
import { DeviceStatus } from '../../protocol/pci-common-cfg.ts';
import { PowerState } from '../../protocol/pci.ts';
import { Qualifier, Status } from '../../protocol/status.ts';
import type { VirtioAdminCmd } from '../../protocol/admin-frame.ts';
import { type CommandName, commandName } from '../../protocol/opcodes.ts';
import type { AdminReply } from '../admin/reply.ts';
import type { VirtioMember } from '../member/virtio-member.ts';
import type { ReferenceDevice } from '../reference-device.ts';
import { eachMember, type Mutant, patch } from './mutant.ts';

/** Protected and private members a mutant reaches (TypeScript visibility is compile-time only). */
interface MemberInternals {
  queueInterrupt(vector: number): void;
  deliverConfigChange(): void;
  completeTaken(): Promise<void>;
}

function internals(m: VirtioMember): MemberInternals {
  return m as unknown as MemberInternals;
}

function allOnes(width: number): number {
  return width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff;
}

/** The commands SD14c-e name. */
const LONG_OP_COMMANDS = new Set<CommandName>(['DEV_MODE_SET', 'DEV_CTX_READ', 'DEV_CTX_WRITE']);

/**
 * Makes the owner execute MODE_SET, CTX_READ and CTX_WRITE for a member at once (or answer them with
 * `reply`) while a long operation of the member, started through `starter`, is in progress, instead of
 * waiting for its end (SD14c-e). Other commands still wait.
 */
function answerDuring(device: ReferenceDevice, starter: string, reply?: AdminReply): void {
  const running = new Set<VirtioMember>();
  eachMember(device, (m) =>
    patch(m, starter, (orig) => (...args: unknown[]) => {
      running.add(m);
      const p = orig(...args) as Promise<void>;
      void p.finally(() => running.delete(m));
      return p;
    }),
  );
  const o = device.options;
  patch(device, 'execute', (orig) => async (cmd: VirtioAdminCmd, resultCapacity: number) => {
    const member = device.member(Number(cmd.memberId));
    const name = commandName(o.wire.opcodes, cmd.opcode);
    const handler = name && device.handlers[name];
    if (!member || !running.has(member) || !name || !LONG_OP_COMMANDS.has(name) || !handler) return orig(cmd, resultCapacity);
    if (reply) return reply;
    return member.lock.run(() => handler({ cmd, member, resultCapacity, wire: o.wire, writeRecordCaps: o.writeRecordCaps }));
  });
}

/** Seeded-bug variants for the member requirements. */
export const MEMBER_MUTANTS: Mutant[] = [
  {
    name: 'member-works-outside-active',
    description: 'The member work loop ignores the mode: requests taken before MODE_SET Stop are completed in Stop (buffer and used-ring writes, interrupts)',
    targets: ['member.no-pci-transaction-outside-active', 'member.no-vq-memory-access-outside-active'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'dmaGuard', () => () => undefined);
        patch(m, 'canWork', () => () => (m.deviceStatus & DeviceStatus.DRIVER_OK) !== 0 && m.config.powerState === PowerState.D0 && m.config.busMaster && !m.isBusy);
      });
    },
  },
  {
    name: 'member-freeze-reads-ring-on-doorbell',
    description: 'A doorbell rung in Freeze makes the member read the available ring index before it drops the notification',
    targets: ['member.no-vq-memory-access-outside-active'],
    apply(device) {
      eachMember(device, (m) => {
        let peeking = false;
        patch(m, 'dmaGuard', (orig) => (kind, addr, len) => (peeking ? undefined : orig(kind, addr, len)));
        patch(m, 'notify', (orig) => async (queue: number) => {
          const q = m.queues[queue];
          if (m.mode === DeviceMode.FREEZE && q?.enabled) {
            peeking = true;
            try {
              await m.dma.readU16(q.driver + 2n);
            } finally {
              peeking = false;
            }
          }
          return orig(queue);
        });
      });
    },
  },
  {
    name: 'member-dma-after-mode-set',
    description: 'MODE_SET Stop is answered at once; the requests the member had taken are completed (DMA, used ring, interrupt) just after it',
    targets: ['member.mode-set-completes-after-transactions'],
    apply(device) {
      eachMember(device, (m) => {
        let late = false;
        patch(m, 'dmaGuard', (orig) => (kind, addr, len) => (late ? undefined : orig(kind, addr, len)));
        patch(m, 'canWork', (orig) => () => late || orig());
        patch(m, 'enterMode', (orig) => async (mode: number) => {
          const from = m.mode;
          await orig(mode);
          if (from === DeviceMode.ACTIVE && mode !== DeviceMode.ACTIVE && m.inFlight.length) {
            void m.work.after(0, () =>
              m.lock.run(async () => {
                late = true;
                try {
                  await internals(m).completeTaken();
                } finally {
                  late = false;
                }
              }),
            );
          }
        });
      });
    },
  },
  {
    name: 'member-interrupt-on-stop-doorbell',
    description: 'A doorbell rung in Stop is noted, and answered with a used-buffer interrupt on the queue vector',
    targets: ['member.no-used-buffer-notification-outside-active'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'notify', (orig) => async (queue: number) => {
          await orig(queue);
          if (m.mode === DeviceMode.STOP && queue < m.numQueues) internals(m).queueInterrupt(m.queues[queue].msixVector);
        });
      });
    },
  },
  {
    name: 'member-drops-stop-doorbells',
    description: 'Doorbells rung in Stop are dropped: buffers made available in Stop wait for the next doorbell after Active',
    targets: ['member.stop-accepts-notifications'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'notify', (orig) => async (queue: number) => (m.mode === DeviceMode.STOP ? undefined : orig(queue)));
      });
    },
  },
  {
    name: 'member-stop-reads-all-ones',
    description: 'In Stop the member answers configuration and BAR reads with all-ones (as an unsupported request)',
    targets: ['member.stop-pci-reads-valid'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'pciConfigRead', (orig) => (offset: number, width: number) => (m.mode === DeviceMode.STOP ? allOnes(width) : orig(offset, width)));
        patch(m, 'commonCfgRead', (orig) => (offset: number, width: number) => (m.mode === DeviceMode.STOP ? allOnes(width) : orig(offset, width)));
      });
    },
  },
  {
    name: 'member-freeze-ignores-pci-config-writes',
    description: 'In Freeze the member ignores every configuration-space write, not only those to the PCI_CFG capability (an over-broad SD14b lock)',
    targets: ['member.pci-architected-interfaces-unchanged'],
    apply(device) {
      eachMember(device, (m) => {
        const cfg = m.config;
        patch(cfg, 'write', (orig) => (at: number, width: number, value: number) => (m.mode === DeviceMode.FREEZE ? [] : orig(at, width, value)));
      });
    },
  },
  {
    name: 'member-pme-outside-active',
    description: 'A wake event in D3hot with PME_En set raises PME (PME_Status and the PME message) whatever the migration mode',
    targets: ['member.no-pme-outside-active'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'signalWake', () => () => {
          if (m.config.powerState !== PowerState.D3hot || !m.config.pmeEnabled) return;
          m.config.setPmeStatus();
          m.hooks.pme(m.id);
        });
      });
    },
  },
  {
    name: 'member-config-change-in-freeze',
    description: 'A configuration change in Freeze is notified at once (the deferral covers Stop only)',
    targets: ['member.no-config-change-notification-outside-active'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'signalConfigChange', (orig) => () => {
          if (m.mode !== DeviceMode.FREEZE) return orig();
          m.configGeneration = (m.configGeneration + 1) & 0xff;
          internals(m).deliverConfigChange();
        });
      });
    },
  },
  {
    name: 'member-config-writes-in-freeze',
    description: 'Writes to the common and device configuration take effect in Freeze',
    targets: ['member.freeze-config-writes-ignored'],
    apply(device) {
      eachMember(device, (m) => patch(m, 'configWritesIgnored', () => () => false));
    },
  },
  {
    name: 'member-pci-cfg-window-writes-in-freeze',
    description: 'The PCI_CFG window is not locked in Freeze: bar/offset/length writes stick and pci_cfg_data writes reach the registers through a path that skips the Freeze check',
    targets: ['member.pci-cfg-writes-ignored-in-freeze'],
    apply(device) {
      eachMember(device, (m) => {
        let viaWindow = false;
        patch(m, 'enterMode', (orig) => async (mode: number) => {
          await orig(mode);
          m.config.pciCfgWriteLock = false;
        });
        patch(m, 'windowWrite', (orig) => (...args: unknown[]) => {
          viaWindow = true;
          try {
            return orig(...args);
          } finally {
            viaWindow = false;
          }
        });
        patch(m, 'configWritesIgnored', (orig) => () => !viaWindow && orig());
      });
    },
  },
  {
    name: 'member-pci-cfg-window-reads-blocked-in-freeze',
    description: 'In Freeze a read of pci_cfg_data returns all-ones instead of performing the window access',
    targets: ['member.pci-cfg-reads-same-in-every-mode'],
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'windowRead', (orig) => (bar: number, offset: number, length: number) => (m.mode === DeviceMode.FREEZE ? 0xffffffff : orig(bar, offset, length)));
      });
    },
  },
  {
    name: 'member-answers-during-flr',
    description: 'MODE_SET, CTX_READ and CTX_WRITE for a member in FLR are executed and answered at once, before the FLR completes',
    targets: ['member.cmds-complete-after-flr'],
    apply(device) {
      answerDuring(device, 'startFlr');
    },
  },
  {
    name: 'member-eagain-during-reset',
    description: 'Member commands that arrive during a virtio device reset of the member fail at once with EAGAIN',
    targets: ['member.cmds-complete-after-reset'],
    apply(device) {
      answerDuring(device, 'startReset', { status: Status.EAGAIN, qualifier: Qualifier.TRYAGAIN, reason: 'member reset in progress' });
    },
  },
  {
    name: 'member-answers-during-reset',
    description: 'MODE_SET, CTX_READ and CTX_WRITE for a member whose virtio device reset is in progress are executed and answered at once, before device_status reads 0',
    targets: ['member.cmds-complete-after-reset'],
    apply(device) {
      answerDuring(device, 'startReset');
    },
  },
  {
    name: 'member-answers-during-pm-transition',
    description: 'MODE_SET, CTX_READ and CTX_WRITE for a member in a power state transition are executed and answered at once, before it completes',
    targets: ['member.cmds-complete-after-pm-transition'],
    apply(device) {
      answerDuring(device, 'startPowerTransition');
    },
  },
  {
    name: 'member-flr-sets-active',
    description: 'A member FLR also resets the migration mode to Active (the v1 rule that patch 5 removed)',
    targets: ['member.flr-keeps-mode'],
    expect: 'WARN',
    apply(device) {
      eachMember(device, (m) => {
        const cfg = m.config;
        patch(cfg, 'resetFunction', (orig) => () => {
          orig();
          m.mode = DeviceMode.ACTIVE;
          cfg.pciCfgWriteLock = false;
        });
      });
    },
  },
  {
    name: 'member-reset-sets-active',
    description: 'A virtio device reset of the member also resets its migration mode to Active',
    targets: ['member.reset-keeps-mode'],
    expect: 'WARN',
    apply(device) {
      eachMember(device, (m) => {
        patch(m, 'startReset', (orig) => () =>
          (orig() as Promise<void>).then(() => {
            m.mode = DeviceMode.ACTIVE;
            m.config.pciCfgWriteLock = false;
          }),
        );
      });
    },
  },
];
