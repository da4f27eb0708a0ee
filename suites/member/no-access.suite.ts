/**
 * Outside Active the member makes no memory access and sends no interrupt (SD11a, SD11b, SD12a, the
 * mode table's "does not send any notifications"), yet a doorbell rung in Stop is not lost (SD11c, E35).
 */
import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { DeviceMode } from '../../protocol/commands.ts';
import type { DmaAccess } from '../../protocol/guest-memory.ts';
import type { MemberEvent } from '../../protocol/member-port.ts';
import { describeDma, describeEvent, interruptsIn, listSome, overlaps, quiet, releaseHeld, requestsInFlight, virtqueueMemory, workingGuest } from './member-helpers.ts';

const PCI_TX = 'member.no-pci-transaction-outside-active';
const VQ_MEM = 'member.no-vq-memory-access-outside-active';

interface Seen {
  phase: string;
  dma: DmaAccess[];
  irq: MemberEvent[];
}

/**
 * Requests the device has taken when the mode changes (held by a stalled backend where the transport
 * can stall it, and released once the member is in Stop), more made available and notified in Stop
 * (and, for Freeze, in Freeze), then the DMA log and interrupts from the MODE_SET completion on.
 */
async function noAccessOutsideActive(t: ConformanceContext, target: number): Promise<void> {
  const { drv, port, next } = await workingGuest(t, t.src);
  const irqObserved = port.capabilities.interruptObservation;
  const held = await requestsInFlight(port, async () => {
    for (let i = 0; i < 4; i++) drv.post(0, next(), i);
    await drv.kick(0);
  });
  await t.admin.modeSetOk(t.src, DeviceMode.STOP);
  // Accesses up to the MODE_SET completion are allowed (SD11b lets the device finish them).
  port.takeDmaLog();
  port.takeEvents();
  // The backend is ready now: a device in Stop still completes nothing.
  if (held) await releaseHeld(port);
  else t.finding('the transport cannot stall the backend: the requests notified before Stop may have been completed, or not taken, when MODE_SET arrived');
  const seen: Seen[] = [];
  const collect = (phase: string) => seen.push({ phase, dma: port.takeDmaLog(), irq: irqObserved ? interruptsIn(port.takeEvents()) : [] });

  drv.post(0, next(), 10);
  drv.post(0, next(), 11);
  await drv.kick(0);
  await drv.kick(0);
  await quiet(port);
  if (target === DeviceMode.FREEZE) {
    await t.admin.modeSetOk(t.src, DeviceMode.FREEZE);
    collect('Stop');
    drv.post(0, next(), 20);
    // Probe (negative, device-side): doorbells in Freeze break driver.member-no-virtio-access-in-freeze
    // on purpose, to show the device still touches no virtqueue memory (SD12a, E35).
    await drv.kick(0);
    await drv.kick(0);
    await quiet(port);
    collect('Freeze');
  } else collect('Stop');

  const vq = virtqueueMemory(drv);
  for (const s of seen) {
    t.check(PCI_TX, s.dma.length === 0, `in ${s.phase}, with requests taken before the mode change and doorbells rung, the member made ${s.dma.length} memory access(es): ${listSome(s.dma, describeDma)}`);
    t.check(PCI_TX, s.irq.length === 0, `in ${s.phase} the member sent ${s.irq.length} interrupt message(s): ${listSome(s.irq, describeEvent)}`);
    const ring = s.dma.filter((a) => overlaps(a, vq));
    t.check(VQ_MEM, ring.length === 0, `in ${s.phase} the device accessed virtqueue memory or the buffers it refers to ${ring.length} time(s): ${listSome(ring, describeDma)}`);
  }
  if (!irqObserved) t.finding('the transport does not observe interrupts: only memory accesses were checked for SD11a');
}

conformanceTest(
  {
    id: 'member.no-dma-in-stop',
    title: 'In Stop the member accesses no memory and sends no interrupt, with requests taken before the mode change and doorbells rung in Stop',
    requirements: ['member.no-pci-transaction-outside-active', 'member.no-vq-memory-access-outside-active'],
    commandSets: ['context'],
    needs: ['member-port', 'dma-window-observation'],
  },
  async (t) => noAccessOutsideActive(t, DeviceMode.STOP),
);

conformanceTest(
  {
    id: 'member.no-dma-in-freeze',
    title: 'In Stop and then Freeze the member accesses no memory and sends no interrupt, with doorbells rung in Freeze',
    requirements: ['member.no-pci-transaction-outside-active', 'member.no-vq-memory-access-outside-active'],
    commandSets: ['context'],
    needs: ['member-port', 'dma-window-observation'],
    breaks: ['driver.member-no-virtio-access-in-freeze'],
  },
  async (t) => noAccessOutsideActive(t, DeviceMode.FREEZE),
);

conformanceTest(
  {
    id: 'member.mode-set-after-outstanding-dma',
    title: 'MODE_SET Stop sent while the member works through requests completes only after its memory accesses: none follows the completion',
    requirements: ['member.mode-set-completes-after-transactions'],
    commandSets: ['context'],
    // The exact log: with window-level observation a write just after the completion, before the host
    // revokes the member's memory, is not seen, so such a PASS would prove less than it says.
    needs: ['member-port', 'dma-observation'],
  },
  async (t) => {
    const req = 'member.mode-set-completes-after-transactions';
    const { drv, port, next } = await workingGuest(t, t.src, 256);
    const perRequest = next().length;
    const batch = Math.max(1, Math.min(16, Math.floor(drv.queues[0].freeCount / perRequest / 2)));
    // A batch the device has taken and holds (a stalled backend where the transport can stall it) ...
    const held = await requestsInFlight(port, async () => {
      for (let i = 0; i < batch; i++) drv.post(0, next(), i);
      await drv.kick(0);
    });
    // ... goes on the moment MODE_SET is sent, with a second batch notified: the device is at work
    // when MODE_SET arrives.
    if (held) await releaseHeld(port);
    for (let i = 0; i < batch; i++) drv.post(0, next(), 100 + i);
    const kick = drv.kick(0);
    drv.reap(0);
    if (drv.queues[0].outstanding.size === 0) t.notTested('every request had completed before DEV_MODE_SET Stop could be sent: no transaction was under way');
    const r = await t.admin.modeSet(t.src, DeviceMode.STOP).then((res) => {
      port.takeDmaLog(); // everything up to the completion is allowed
      return res;
    });
    t.requireOk(req, r, 'DEV_MODE_SET Stop sent while the member had requests under way');
    await kick;
    await quiet(port);
    const late = port.takeDmaLog();
    t.check(req, late.length === 0, `${late.length} memory access(es) reached guest memory after DEV_MODE_SET Stop had completed: ${listSome(late, describeDma)}`);
  },
);

async function noNotificationOutsideActive(t: ConformanceContext, target: number): Promise<void> {
  const req = 'member.no-used-buffer-notification-outside-active';
  const { drv, port, next } = await workingGuest(t, t.src);
  const held = await requestsInFlight(port, async () => {
    for (let i = 0; i < 4; i++) drv.post(0, next(), i);
    await drv.kick(0);
  });
  await t.admin.modeSetOk(t.src, DeviceMode.STOP);
  port.takeEvents();
  if (held) await releaseHeld(port);
  drv.post(0, next(), 10);
  drv.post(0, next(), 11);
  await drv.kick(0);
  await drv.kick(0);
  await quiet(port);
  const seen: { phase: string; irq: MemberEvent[] }[] = [{ phase: 'Stop', irq: interruptsIn(port.takeEvents()) }];
  if (target === DeviceMode.FREEZE) {
    await t.admin.modeSetOk(t.src, DeviceMode.FREEZE);
    await quiet(port);
    seen.push({ phase: 'Freeze', irq: interruptsIn(port.takeEvents()) });
  }
  for (const s of seen) {
    t.check(req, s.irq.length === 0, `in ${s.phase}, with requests pending, the member sent ${s.irq.length} interrupt message(s): ${listSome(s.irq, describeEvent)}`);
  }
  // Control: back in Active the pending requests complete with notifications; without them the
  // silence above would prove nothing.
  await t.admin.modeSetOk(t.src, DeviceMode.ACTIVE);
  await drv.kick(0);
  const pending = drv.queues[0].outstanding.size;
  await drv.poll(0, pending);
  if (interruptsIn(port.takeEvents()).length === 0) t.finding('no used-buffer notification arrived after the return to Active either: the check outside Active may be vacuous');
}

conformanceTest(
  {
    id: 'member.no-used-buffer-notification-in-stop',
    title: 'In Stop the member sends no used-buffer notification for requests taken before the mode change or notified in Stop',
    requirements: ['member.no-used-buffer-notification-outside-active'],
    commandSets: ['context'],
    needs: ['member-port', 'interrupt-observation'],
  },
  async (t) => noNotificationOutsideActive(t, DeviceMode.STOP),
);

conformanceTest(
  {
    id: 'member.no-used-buffer-notification-in-freeze',
    title: 'In Stop and then Freeze the member sends no used-buffer notification for pending requests',
    requirements: ['member.no-used-buffer-notification-outside-active'],
    commandSets: ['context'],
    needs: ['member-port', 'interrupt-observation'],
  },
  async (t) => noNotificationOutsideActive(t, DeviceMode.FREEZE),
);

conformanceTest(
  {
    id: 'member.stop-doorbell-processed-in-active',
    title: 'A request made available and notified in Stop is processed once the member is Active again, with no further doorbell',
    requirements: ['member.stop-accepts-notifications'],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t) => {
    const { drv, port, next } = await workingGuest(t, t.src);
    await t.admin.modeSetOk(t.src, DeviceMode.STOP);
    drv.post(0, next(), 7);
    await drv.kick(0);
    await quiet(port);
    await t.admin.modeSetOk(t.src, DeviceMode.ACTIVE);
    const done = await drv.poll(0, 1);
    t.check(
      'member.stop-accepts-notifications',
      done.some((c) => c.request.tag === 7),
      'the request made available and notified while the member was in Stop was not processed after DEV_MODE_SET Active (no further doorbell was rung): the notification was lost',
    );
  },
);
