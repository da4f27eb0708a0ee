import { conformanceTest, type ConformanceContext } from '../../harness/ctest.ts';
import type { AdminCommandResponse } from '../../protocol/admin-transport.ts';
import { decodeCtxReadOutput, encodeModeSetData } from '../../protocol/commands.ts';
import { GroupType, Status } from '../../protocol/status.ts';
import { CommonCfg } from '../../protocol/pci-common-cfg.ts';
import { capQueryUsable, DeviceMode, describeStatus, hex, inUse, modeName, sameBytes } from '../admin/helpers.ts';

conformanceTest(
  {
    id: 'avq.writable-part-initialized',
    title: 'Every completion has status and status_qualifier written, the reply initialized up to the buffer, in whole 8-byte units',
    requirements: ['avq.vd6-status-initialized', 'avq.vd3-initialize-writable', 'avq.vd5-writable-multiple-of-8'],
    // Includes commands the device must refuse (their completions are checked too).
    breaks: ['driver.mode-set-valid-value', 'admin.gr10-member-id-in-range', 'admin.gr6-no-command-before-list-use'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const maxOp = Math.max(...t.session.supported);
    const listBytes = Math.ceil((maxOp + 1) / 64) * 8;
    const bad = [0x3f, 0x7fff, 0x8000].find((o) => !t.session.supported.has(o)) ?? 0xffff;
    /** Command, result room, bytes of the reply it defines (result structure), and the sender. */
    const cases: { what: string; reply: number; send: (room: number) => Promise<AdminCommandResponse> }[] = [
      { what: 'LIST_QUERY', reply: listBytes, send: (room) => a.send('LIST_QUERY', 0, undefined, { resultCapacity: room }) },
      { what: 'LIST_QUERY with group_type 0 (refused)', reply: 0, send: (room) => a.send('LIST_QUERY', 0, undefined, { resultCapacity: room, groupType: GroupType.SELF }) },
      { what: `opcode 0x${bad.toString(16)} (refused)`, reply: 0, send: (room) => a.sendOpcode(bad, t.src, undefined, { resultCapacity: room }) },
    ];
    if (t.session.commandSets.context) {
      cases.push(
        { what: 'DEV_MODE_GET', reply: 1, send: (room) => a.modeGet(t.src, { resultCapacity: room }) },
        { what: 'DEV_MODE_SET Active in Active', reply: 0, send: (room) => a.modeSet(t.src, DeviceMode.ACTIVE, { resultCapacity: room }) },
        { what: 'DEV_MODE_SET reserved mode 9 (refused)', reply: 0, send: (room) => a.send('DEV_MODE_SET', t.src, encodeModeSetData(9), { resultCapacity: room }) },
        { what: 'DEV_MODE_GET to member 0 (refused)', reply: 0, send: (room) => a.send('DEV_MODE_GET', 0, undefined, { resultCapacity: room }) },
        { what: 'DEV_CTX_SIZE_GET', reply: 8, send: (room) => a.sizeGet(t.src, 0, { resultCapacity: room }) },
        { what: 'DEV_CTX_WRITE in Active (refused)', reply: 0, send: (room) => a.ctxWrite(t.src, new Uint8Array(8), { resultCapacity: room }) },
        { what: 'DEV_CTX_DISCARD', reply: 0, send: (room) => a.discard(t.src, { resultCapacity: room }) },
      );
    }
    if (capQueryUsable(t)) cases.push({ what: 'DEV_WRITE_RECORD_CAP_QUERY', reply: 8, send: (room) => a.capQuery(t.src, { resultCapacity: room }) });
    if (inUse(t, 'DEV_WRITE_RECORDS_STOP')) cases.push({ what: 'DEV_WRITE_RECORDS_STOP', reply: 0, send: (room) => a.recordsStop(t.src, { resultCapacity: room }) });
    const vd5 = new Set<string>();
    for (const room of [0, 8, 24, 64]) {
      const writable = 8 + room;
      for (const c of cases) {
        const r = await c.send(room);
        const what = `${c.what} (${describeStatus(r)}) with a ${writable}-byte writable part`;
        t.check('avq.vd6-status-initialized', r.usedLength >= 4, `${what}: used length ${r.usedLength}: status and status_qualifier were not both written`);
        const reply = r.status === Status.OK ? c.reply : 0;
        const want = Math.min(8 + reply, writable);
        t.should('avq.vd3-initialize-writable', r.usedLength >= want, `${what}: used length ${r.usedLength}, the reply up to the buffer is ${want} bytes`);
        if (r.usedLength % 8 !== 0) vd5.add(`${what}: used length ${r.usedLength}`);
      }
    }
    // DEV_CTX_READ in Freeze: the reply is context_len bytes.
    if (t.session.commandSets.context) {
      await a.modeSetOk(t.src, DeviceMode.FREEZE);
      for (const room of [8, 24, 4096]) {
        for (let i = 0; i < 4096; i++) {
          const r = await a.ctxRead(t.src, room);
          const what = `DEV_CTX_READ (${describeStatus(r)}) with a ${8 + room}-byte writable part`;
          t.check('avq.vd6-status-initialized', r.usedLength >= 4, `${what}: used length ${r.usedLength}: status and status_qualifier were not both written`);
          if (r.status !== Status.OK) break;
          const len = decodeCtxReadOutput(r.output);
          t.should('avq.vd3-initialize-writable', r.usedLength >= Math.min(8 + len, 8 + room), `${what}: used length ${r.usedLength} for context_len ${len}`);
          if (r.usedLength % 8 !== 0) vd5.add(`${what}: used length ${r.usedLength} (context_len ${len})`);
          if (len < room) break;
        }
        await a.discardOk(t.src);
      }
      await a.modeSetOk(t.src, DeviceMode.ACTIVE);
    }
    // VD5 as the suite reads it: the writable part is initialized in whole 8-byte units (a WARN: the base wording is unclear).
    const list = [...vd5];
    t.should('avq.vd5-writable-multiple-of-8', list.length === 0, `${list.length} completion(s) with a used length that is not a multiple of 8: ${list.slice(0, 4).join('; ')}${list.length > 4 ? '; …' : ''}`);
  },
);

conformanceTest(
  {
    id: 'avq.in-order-processing',
    title: 'Commands queued together on the admin virtqueue are processed in the order they were made available',
    requirements: ['avq.vd7-in-order-processing'],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const req = 'avq.vd7-in-order-processing';
    // Mode changes and reads queued back to back: each MODE_GET sees the MODE_SET queued before it.
    const seq = [DeviceMode.STOP, DeviceMode.FREEZE, DeviceMode.ACTIVE, DeviceMode.FREEZE, DeviceMode.STOP, DeviceMode.ACTIVE];
    const done: number[] = [];
    const track = <T>(i: number, p: Promise<T>) => p.then((v) => (done.push(i), v));
    const queued: Promise<AdminCommandResponse>[] = [];
    for (const m of seq) {
      queued.push(track(queued.length, a.modeSet(t.src, m)));
      queued.push(track(queued.length, a.modeGet(t.src)));
    }
    const rs = await Promise.all(queued);
    seq.forEach((m, i) => {
      const set = rs[2 * i];
      const get = rs[2 * i + 1];
      if (set.status !== Status.OK || get.status !== Status.OK) {
        t.check(req, false, `queued DEV_MODE_SET ${modeName(m)} / DEV_MODE_GET #${i + 1}: ${describeStatus(set)} / ${describeStatus(get)}`);
        return;
      }
      t.check(req, get.result[0] === m, `DEV_MODE_GET queued right after DEV_MODE_SET ${modeName(m)} (#${i + 1} of the batch) reads ${modeName(get.result[0])}`);
    });
    const order1 = [...done];
    // Context reads queued back to back in Freeze: the chunks come in stream order.
    await a.modeSetOk(t.src, DeviceMode.FREEZE);
    const whole = await a.readContext(t.src);
    await a.discardOk(t.src);
    const k = Math.min(8, Math.floor(whole.length / 8));
    done.length = 0;
    const reads = await Promise.all(Array.from({ length: k }, (_, i) => track(i, a.ctxRead(t.src, 8))));
    reads.forEach((r, i) => {
      const got = r.status === Status.OK ? r.result.subarray(0, Math.min(decodeCtxReadOutput(r.output), r.result.length)) : undefined;
      const want = whole.subarray(8 * i, 8 * i + 8);
      t.check(req, got !== undefined && sameBytes(got, want), `DEV_CTX_READ #${i + 1} of ${k} queued together returned ${got ? hex(got) : describeStatus(r)}, bytes ${8 * i}.. of the context are ${hex(want)}`);
    });
    const order2 = [...done];
    // READ, DISCARD, READ queued together: the second READ starts the context again.
    await a.discardOk(t.src);
    const [r1, d, r2] = await Promise.all([a.ctxRead(t.src, 8), a.discard(t.src), a.ctxRead(t.src, 8)]);
    if (r1.status === Status.OK && d.status === Status.OK && r2.status === Status.OK) {
      t.check(req, sameBytes(r2.result.subarray(0, 8), whole.subarray(0, 8)), `READ, DISCARD, READ queued together: the second READ returned ${hex(r2.result.subarray(0, 8))}, not the start of the context ${hex(whole.subarray(0, 8))}`);
    } else {
      t.check(req, false, `READ, DISCARD, READ queued together: ${describeStatus(r1)}, ${describeStatus(d)}, ${describeStatus(r2)}`);
    }
    await a.discardOk(t.src);
    for (const [name, order] of [['mode batch', order1], ['read batch', order2]] as const) {
      if (order.some((v, i) => v !== i)) t.finding(`the ${name} completed in the order ${order.join(', ')} (the rule is about processing order; completion order is reported only)`);
    }
  },
);

conformanceTest(
  {
    id: 'avq.retry-status-no-side-effects',
    title: 'A command answered with EAGAIN or ENOMEM had no effect (checked on every such answer the device gives)',
    requirements: ['avq.vd9-retry-status-no-side-effects'],
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    const a = t.admin;
    const req = 'avq.vd9-retry-status-no-side-effects';
    const retry = (s: number) => s === Status.EAGAIN || s === Status.ENOMEM;
    let seen = 0;
    const modeNow = async () => {
      const g = await a.modeGet(t.src);
      t.require(undefined, g.status === Status.OK, `DEV_MODE_GET: ${describeStatus(g)}`);
      return g.result[0];
    };
    // Every transition, retried while the device says to (VR7); each retry answer must have changed nothing.
    let from: number = DeviceMode.ACTIVE;
    for (const to of [DeviceMode.STOP, DeviceMode.FREEZE, DeviceMode.ACTIVE, DeviceMode.FREEZE, DeviceMode.STOP, DeviceMode.ACTIVE]) {
      for (let tries = 0; tries < 8; tries++) {
        const r = await a.modeSet(t.src, to);
        if (!retry(r.status)) break;
        seen++;
        const now = await modeNow();
        t.check(req, now === from, `DEV_MODE_SET ${modeName(to)} from ${modeName(from)} answered ${describeStatus(r)} but the member is now in ${modeName(now)}`);
        if (now !== from) break;
      }
      from = await modeNow();
      if (from !== to) await a.modeSetOk(t.src, to);
      from = to;
    }
    // Reads in Freeze, queued in bursts: a READ answered EAGAIN/ENOMEM must not consume context bytes.
    await a.modeSetOk(t.src, DeviceMode.FREEZE);
    const whole = await a.readContext(t.src);
    await a.discardOk(t.src);
    let pos = 0;
    for (let round = 0; round < 64 && pos < whole.length; round++) {
      const burst = await Promise.all(Array.from({ length: 4 }, () => a.ctxRead(t.src, 8)));
      for (const r of burst) {
        if (retry(r.status)) {
          seen++;
          continue;
        }
        if (r.status !== Status.OK) break;
        const got = r.result.subarray(0, Math.min(decodeCtxReadOutput(r.output), r.result.length));
        const want = whole.subarray(pos, pos + 8);
        if (!t.check(req, sameBytes(got, want), `after ${seen} EAGAIN/ENOMEM answer(s), a READ returned ${hex(got)} for bytes ${pos}.. of the context (${hex(want)})`)) break;
        pos += got.length;
      }
    }
    await a.discardOk(t.src);
    if (!seen) t.finding('the device answered no command with EAGAIN or ENOMEM, so VD9 was not exercised (no violation seen)');
  },
);

conformanceTest(
  {
    id: 'avq.admin-queue-location',
    title: "The owner's admin virtqueues come after its other queues and their indices fit in 16 bits",
    requirements: ['avq.admin-queue-index-after-regular-queues', 'avq.admin-queue-count-fits-16-bit'],
    needs: ['owner-config'],
  },
  async (t: ConformanceContext) => {
    const cfg = t.owner();
    const numQueues = await cfg.commonCfgRead(CommonCfg.NUM_QUEUES.offset, 2);
    const index = await cfg.commonCfgRead(CommonCfg.ADMIN_QUEUE_INDEX.offset, 2);
    const num = await cfg.commonCfgRead(CommonCfg.ADMIN_QUEUE_NUM.offset, 2);
    t.check('avq.admin-queue-index-after-regular-queues', index >= numQueues, `admin_queue_index ${index} is below num_queues ${numQueues}: an admin queue overlaps a regular queue`);
    t.check('avq.admin-queue-count-fits-16-bit', num <= 0x10000 - index, `admin_queue_num ${num} with admin_queue_index ${index}: the last admin queue index ${index + num - 1} does not fit in 16 bits`);
  },
);

conformanceTest(
  {
    id: 'avq.admin-queue-present',
    title: 'With VIRTIO_F_ADMIN_VQ negotiated the owner exposes at least one admin virtqueue',
    requirements: ['avq.admin-queue-present-when-negotiated'],
  },
  async (t: ConformanceContext) => {
    // The session reached the device through an admin virtqueue (LIST_QUERY and LIST_USE completed),
    // so the owner driver negotiated VIRTIO_F_ADMIN_VQ. Where the transport reaches the owner's
    // common configuration, admin_queue_num must say so too.
    const r = await t.admin.send('LIST_QUERY', 0, undefined, { resultCapacity: 64 });
    t.expectOk('avq.admin-queue-present-when-negotiated', r, 'LIST_QUERY on the admin virtqueue');
    const tr = t.session.transport;
    if (tr.capabilities.ownerConfig && tr.owner) {
      const num = await tr.owner().commonCfgRead(CommonCfg.ADMIN_QUEUE_NUM.offset, 2);
      t.check('avq.admin-queue-present-when-negotiated', num !== 0, 'admin_queue_num reads 0 although the owner answers admin commands (VIRTIO_F_ADMIN_VQ is negotiated)');
    } else {
      t.finding('the transport cannot read the owner common configuration: admin_queue_num not read; the admin queue exists since commands complete');
    }
  },
);
