import { type ConformanceContext, conformanceTest } from '../../harness/ctest.ts';
import { copyGuestMemory, type GuestDriver } from '../../harness/guest/guest-driver.ts';
import { blkRead } from '../../harness/guest/block-guest.ts';
import { CommonCfg, VirtioDeviceType } from '../../protocol/pci-common-cfg.ts';
import { decodeDesc, VIRTQ_DESC_SIZE, VirtqDescFlags } from '../../protocol/split-ring.ts';
import { BlkConfig, BlkFeature } from '../../protocol/virtio-blk.ts';
import {
  ACTIVE,
  alternateDeviceFeatures,
  blockWorkload,
  BlkStatus,
  collect,
  driverFeatures,
  equalBytes,
  firstDiff,
  FREEZE,
  inspectContext,
  mode,
  MODES,
  offeredFeatures,
  programOf,
  programText,
  queue0Registers,
  R,
  readDeviceConfig,
  readToEnd,
  safePoll,
  sameVq,
  st,
  STOP,
  vqText,
  type Workload,
  writeAll,
} from './ctx-support.ts';

// The device context of patch 3/8 (E9-E14, S2) as READ returns it. A DecodeError on the device's bytes is
// a FAIL; the walk in ctx-support tells a wrong field_count, a malformed field and the wrong layout apart.

const STRUCTURE = [R.layout, R.fieldCount, R.tlv, R.definedTypes, R.commonCfg, R.features, R.vqCfg, R.vqCfgOne, R.runtime, R.runtimeOne, R.ownDesc, R.ownDescOne, R.devCfg];

conformanceTest(
  {
    id: 'ctx-format.every-mode',
    title: 'The context READ returns in Active, Stop and Freeze is a well-formed struct virtio_dev_ctx of defined field types',
    requirements: STRUCTURE,
    commandSets: ['context'],
  },
  async (t: ConformanceContext) => {
    for (const m of MODES) {
      await t.admin.modeSetOk(t.src, m);
      const { bytes } = await readToEnd(t, t.src);
      inspectContext(t, bytes, 'judge', `the context read in ${mode(m)}`);
    }
  },
);

/** A guest set-up with a known feature subset and queue 0 programmed; the Freeze context must carry it. */
conformanceTest(
  {
    id: 'ctx-format.guest-config',
    title: 'A Freeze context carries the negotiated features, queue 0 as programmed, the common configuration and the device configuration',
    requirements: [R.featuresNegotiated, R.vqCfg, R.runtime, R.commonCfg, R.devCfg],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t: ConformanceContext) => {
    const port = t.port(t.src);
    const offered = await offeredFeatures(port);
    const g = await t.guest(t.src, { queues: 1, queueSize: 16, msix: true, features: alternateDeviceFeatures(offered) });
    if (g.features === offered) t.finding(`the member offers no device feature left out of the negotiated set (0x${offered.toString(16)}): negotiated and offered features cannot be told apart`);
    const numQueues = await port.commonCfgRead(CommonCfg.NUM_QUEUES.offset, 2);
    const status = await g.status();
    await t.admin.modeSetOk(t.src, STOP);
    await t.admin.modeSetOk(t.src, FREEZE);
    const p = inspectContext(t, (await readToEnd(t, t.src)).bytes, 'judge', 'the Freeze context');
    await t.admin.modeSetOk(t.src, ACTIVE);

    t.check(R.featuresNegotiated, p.features !== undefined, 'the context has no VIRTIO_DEV_CTX_DEV_FEATURES field: the negotiated features are nowhere in it (S2)');
    if (p.features !== undefined) {
      t.check(R.featuresNegotiated, p.features === g.features, `DEV_FEATURES is 0x${p.features.toString(16)}; the driver negotiated 0x${g.features.toString(16)} (the device offers 0x${offered.toString(16)}) (S2)`);
    }
    const prog = programOf(g, true);
    t.check(R.vqCfg, sameVq(p.vq.get(0), prog), `VIRTIO_DEV_CTX_PCI_VQ_CFG of vq 0 is ${vqText(p.vq.get(0))}; the driver programmed ${programText(prog)}`);
    const rt = p.rt.get(0);
    t.check(R.runtime, rt !== undefined, 'the context has no VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG field for the enabled vq 0');
    if (rt) t.check(R.runtime, rt.enabled === 1, `SPLIT_RUNTIME_CFG of vq 0 has enabled = ${rt.enabled}; the driver enabled the queue`);
    t.check(R.commonCfg, p.common !== undefined, 'the context has no VIRTIO_DEV_CTX_PCI_COMMON_CFG field');
    if (p.common) {
      t.check(R.commonCfg, p.common.numQueues === numQueues, `PCI_COMMON_CFG num_queues is ${p.common.numQueues}; the member's common configuration reads ${numQueues} (E12)`);
      t.check(R.commonCfg, p.common.deviceStatus === status, `PCI_COMMON_CFG device_status is 0x${p.common.deviceStatus.toString(16)}; the driver left it at 0x${status.toString(16)} (E12)`);
    }
    // The device-specific configuration, read through the member port now that it is Active again.
    const known = await readDeviceConfig(port, p.devCfg?.length ?? 0);
    if (!p.devCfg) {
      t.check(R.devCfg, port.virtioType !== VirtioDeviceType.BLOCK, 'the context of a block member has no VIRTIO_DEV_CTX_DEV_CFG field (struct virtio_blk_config)');
    } else if (!known) {
      t.finding(`DEV_CFG not compared: the configuration layout of virtio type ${port.virtioType} is not known to the suite`);
    } else {
      const mine = p.devCfg.subarray(0, known.covered);
      t.check(R.devCfg, equalBytes(mine, known.bytes), `DEV_CFG differs from the device configuration read through the member at byte ${firstDiff(mine, known.bytes)} (context 0x${mine[firstDiff(mine, known.bytes)]?.toString(16)}, member 0x${known.bytes[firstDiff(mine, known.bytes)]?.toString(16)})`);
      if (known.covered < p.devCfg.length) t.finding(`DEV_CFG is ${p.devCfg.length} bytes; the suite compared the first ${known.covered} (whole fields of the device type's configuration)`);
    }
  },
);

/** Descriptor indexes of the chain starting at `head`, from the guest's own descriptor table. */
function chainOf(g: GuestDriver, head: number): number[] {
  const q = g.queues[0];
  const out: number[] = [];
  for (let i = head, hops = 0; hops < q.size; hops++) {
    out.push(i);
    const d = decodeDesc(g.memory.read(q.desc + BigInt(i * VIRTQ_DESC_SIZE), VIRTQ_DESC_SIZE));
    if (!(d.flags & VirtqDescFlags.NEXT)) break;
    i = d.next;
  }
  return out;
}

/**
 * Requests in every state on a block member, then Stop and Freeze: dev_avail_idx is where the device
 * stopped taking requests, and the device-owned descriptors are those of the requests it took and has
 * not returned.
 */
conformanceTest(
  {
    id: 'ctx-format.in-flight',
    title: 'With requests completed, in flight and not yet taken, dev_avail_idx and the device-owned descriptors match what the device took',
    requirements: [R.resumeIdx, R.ownDesc, R.ownDescOne, R.runtimeOne, R.vqCfgOne],
    commandSets: ['context'],
    needs: ['member-port'],
  },
  async (t: ConformanceContext) => {
    const w = await blockWorkload(t, t.src);
    await t.admin.modeSetOk(t.src, FREEZE);
    const p = inspectContext(t, (await readToEnd(t, t.src)).bytes, 'judge', 'the Freeze context');
    const rt = p.rt.get(0);
    t.require(R.resumeIdx, rt !== undefined, 'the context has no VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG field for vq 0, where 6 requests were made available');
    const d = rt.devAvailIdx;
    const n = w.posted.length;
    const done = [...w.done].sort((a, b) => a - b);
    t.check(R.resumeIdx, d <= n, `dev_avail_idx is ${d}, but the driver made only ${n} requests available (avail idx ${n})`);
    t.check(R.resumeIdx, done.every((pos) => pos < d), `the device returned the requests at available-ring positions [${done.join(', ')}], yet dev_avail_idx is ${d}: it took them, so it must process from after them`);
    // Requests the device took (before dev_avail_idx) and has not returned are its own: their heads must be
    // listed. A request never kicked that the device neither returned nor lists was not taken: counting it
    // in dev_avail_idx is the index's fault; a kicked one missing from the list is the list's.
    const owned = p.own.get(0) ?? [];
    const ownedSet = new Set(owned);
    const open = w.posted.map((_, pos) => pos).filter((pos) => !w.done.has(pos));
    const takenOpen = open.filter((pos) => pos < d);
    const unlistedKicked = takenOpen.filter((pos) => pos < w.kicked && !ownedSet.has(w.posted[pos].head));
    const unlistedUnkicked = takenOpen.filter((pos) => pos >= w.kicked && !ownedSet.has(w.posted[pos].head));
    const ownedAfter = open.filter((pos) => pos >= d && ownedSet.has(w.posted[pos].head));
    t.check(R.resumeIdx, unlistedUnkicked.length === 0, `dev_avail_idx ${d} counts the request(s) at available-ring position(s) ${unlistedUnkicked.join(', ')}, never kicked, that the device neither returned nor lists as its own: it did not take them`);
    t.check(R.resumeIdx, ownedAfter.length === 0, `the device lists as its own the request(s) at position(s) ${ownedAfter.join(', ')}, at or after dev_avail_idx ${d}: the index must be past every request the device took`);
    t.check(R.ownDesc, unlistedKicked.length === 0, `the device took and kept the request(s) at position(s) ${unlistedKicked.join(', ')} (heads ${unlistedKicked.map((pos) => w.posted[pos].head).join(', ')}), but VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC of vq 0 lists [${owned.join(', ')}]`);
    const chains = new Map<number, number>();
    for (const pos of open) for (const i of chainOf(w.g, w.posted[pos].head)) chains.set(i, w.posted[pos].head);
    const strangers = owned.filter((i) => !chains.has(i));
    t.check(R.ownDesc, strangers.length === 0, `VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC of vq 0 lists descriptors [${strangers.join(', ')}] that belong to no request the device has not returned`);
    const nonHeads = owned.filter((i) => chains.has(i) && chains.get(i) !== i);
    if (nonHeads.length) t.finding(`VIRTIO_DEV_CTX_VQ_SPLIT_DEV_OWN_DESC of vq 0 lists chain descriptors [${nonHeads.join(', ')}] besides the heads`);
    if (takenOpen.length === 0) t.finding(`the device returned every request it took before Stop (dev_avail_idx ${d}): no device-owned descriptors to check`);
    if (d < w.kicked) t.finding(`the device had not taken ${w.kicked - d} kicked request(s) when it stopped (dev_avail_idx ${d})`);
  },
);

/**
 * Migration between two members: the source's Freeze context, written to the destination in Freeze,
 * with the guest memory copied and the PCI configuration restored by the "hypervisor" (the harness),
 * resumes the guest's work where the source stopped.
 */
conformanceTest(
  {
    id: 'ctx-format.resume-on-second-member',
    title: 'A Freeze context written to a second member resumes the guest there: registers, features, device configuration, in-flight and pending requests',
    requirements: [R.resume, R.resumeIdx],
    commandSets: ['context'],
    needs: ['member-port'],
    members: 2,
  },
  async (t: ConformanceContext) => {
    const src = t.port(t.src);
    const dst = t.port(t.dst);
    if (dst.virtioType !== src.virtioType) t.notTested(`the two members are of different virtio types (${src.virtioType}, ${dst.virtioType})`);
    const offered = await offeredFeatures(src);
    const wce = 1n << BigInt(BlkFeature.CONFIG_WCE);
    const features = alternateDeviceFeatures(offered) | (offered & wce);
    // Check the type before the guest exists (blockWorkload is NOT_TESTED on other types).
    if (src.virtioType !== VirtioDeviceType.BLOCK) t.notTested(`the request workload drives block members; the members are virtio type ${src.virtioType}`);
    const g0 = await t.guest(t.src, { queues: 1, queueSize: 32, msix: true, features });
    let writeback: number | undefined;
    if (g0.features & wce) {
      writeback = (await src.deviceCfgRead(BlkConfig.WRITEBACK, 1)) ^ 1;
      await src.deviceCfgWrite(BlkConfig.WRITEBACK, 1, writeback);
      if ((await src.deviceCfgRead(BlkConfig.WRITEBACK, 1)) !== writeback) writeback = undefined;
    }
    const status = await g0.status();
    const w: Workload = await blockWorkload(t, t.src, features);
    await t.admin.modeSetOk(t.src, FREEZE);
    const ctx = (await readToEnd(t, t.src)).bytes;
    const p = inspectContext(t, ctx, 'use', 'the source Freeze context');
    const d = p.rt.get(0)?.devAvailIdx;
    t.require(R.resumeIdx, d !== undefined, 'the source context has no VIRTIO_DEV_CTX_VQ_SPLIT_RUNTIME_CFG field for vq 0');

    // Destination: Freeze, the context, the guest's memory and PCI configuration, then Active.
    await t.admin.modeSetOk(t.dst, FREEZE);
    const wr = await writeAll(t, t.dst, ctx);
    t.require(R.resume, !wr.refused, `the destination member refused the source's context: WRITE #${wr.at} answered ${wr.refused ? st(wr.refused) : ''} (the two members must be alike: same type, features, queues and backing size)`);
    if (src.capabilities.separateMemory) copyGuestMemory(src.memory, dst.memory, w.g.arena.pages());
    await w.g.rebind(dst);
    await t.admin.modeSetOk(t.dst, ACTIVE);

    const regs = await queue0Registers(dst);
    const prog = programOf(w.g, true);
    t.check(R.resume, regs.size === prog.size && regs.desc === prog.desc && regs.driver === prog.driver && regs.device === prog.device && regs.msix === prog.msix, `on the destination, queue 0 reads ${programText(regs)}; the guest programmed ${programText(prog)}`);
    t.check(R.resume, regs.enable === 1, `on the destination, queue 0 reads queue_enable ${regs.enable}`);
    const feats = await driverFeatures(dst);
    t.check(R.resume, feats === w.g.features, `on the destination, the driver features read 0x${feats.toString(16)}; the guest negotiated 0x${w.g.features.toString(16)}`);
    const dstStatus = await dst.commonCfgRead(CommonCfg.DEVICE_STATUS.offset, 1);
    t.check(R.resume, dstStatus === status, `on the destination, device_status reads 0x${dstStatus.toString(16)}; the guest had 0x${status.toString(16)}`);
    if (writeback !== undefined) {
      const wb = await dst.deviceCfgRead(BlkConfig.WRITEBACK, 1);
      t.check(R.resume, wb === writeback, `on the destination, virtio_blk_config.writeback reads ${wb}; the guest set ${writeback} on the source`);
    }

    // Every request the source had not returned completes on the destination, once, with status OK.
    const open = w.posted.map((_, pos) => pos).filter((pos) => !w.done.has(pos));
    await w.g.kick(0);
    collect(w, await safePoll(t, w.g, open.length, R.resume));
    // Lost requests the source had been kicked for and counted as taken: the context did not carry them.
    // Lost requests never kicked or past dev_avail_idx: the ring was not resumed where the source stopped.
    const lost = open.filter((pos) => !w.done.has(pos));
    const lostTaken = lost.filter((pos) => pos < d && pos < w.kicked);
    const lostRing = lost.filter((pos) => pos >= d || pos >= w.kicked);
    t.check(R.resume, lostTaken.length === 0, `requests the source device had taken and not returned (available-ring positions ${lostTaken.join(', ')}) never completed on the destination`);
    t.check(R.resumeIdx, lostRing.length === 0, `requests at available-ring positions ${lostRing.join(', ')} (dev_avail_idx ${d}, ${w.kicked} kicked on the source) never completed on the destination: it did not resume the available ring where the source stopped`);
    const bad = open.filter((pos) => w.done.has(pos) && w.status.get(pos) !== BlkStatus.OK);
    t.check(R.resume, bad.length === 0, `requests at positions ${bad.join(', ')} completed on the destination with a status other than OK`);
    // The guest goes on: a new request on the destination.
    const req = w.g.post(0, blkRead(7n, 1), w.posted.length);
    w.posted.push(req);
    await w.g.kick(0);
    collect(w, await safePoll(t, w.g, 1, R.resume));
    t.check(R.resume, w.done.has(w.posted.length - 1) && w.status.get(w.posted.length - 1) === BlkStatus.OK, 'a new request made available on the destination did not complete with status OK');
  },
);
