import type { Syscalls } from '../sys/syscalls.ts';
import { SysError } from '../sys/syscalls.ts';
import type { HostJournal } from './host-journal.ts';

export const LOCK_DIR = '/run/lock';

export function lockPath(bdf: string, dir = LOCK_DIR): string {
  return `${dir}/vmcts-${bdf}.lock`;
}

/** What a lock file holds: who holds the device, and what to restore if it dies without doing so. */
export interface LockRecord {
  pid: number;
  startedAt: string;
  journal: HostJournal;
}

export class DeviceLockedError extends Error {
  override name = 'DeviceLockedError';
}

/**
 * A lock file per PF (O_CREAT|O_EXCL), so two runs never share a device. It carries the journal of
 * what the run changed: a lock left by a dead run is taken over together with that journal, so the
 * originals it recorded are still what gets restored.
 */
export class DeviceLock {
  private held = false;

  private constructor(
    private readonly sys: Syscalls,
    readonly path: string,
    private record: LockRecord,
    /** The journal of a run that died holding the lock, when this lock was taken over from it. */
    readonly inherited?: HostJournal,
  ) {}

  static acquire(sys: Syscalls, bdf: string, journal: HostJournal, dir = LOCK_DIR): DeviceLock {
    if (!sys.exists(dir)) sys.mkdirp(dir);
    const path = lockPath(bdf, dir);
    const record: LockRecord = { pid: process.pid, startedAt: new Date().toISOString(), journal };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        sys.createExclusive(path, JSON.stringify(record), 0o600);
        const l = new DeviceLock(sys, path, record);
        l.held = true;
        return l;
      } catch (e) {
        if (!(e instanceof SysError && e.code === 'EEXIST')) throw e;
      }
      let prior: LockRecord | undefined;
      try {
        prior = JSON.parse(sys.readText(path)) as LockRecord;
      } catch {
        prior = undefined;
      }
      if (prior && prior.pid !== process.pid && sys.processAlive(prior.pid)) {
        throw new DeviceLockedError(`${bdf} is in use by another vmcts run (pid ${prior.pid}, since ${prior.startedAt}); lock file ${path}`);
      }
      if (prior?.pid === process.pid) throw new DeviceLockedError(`${bdf} is already held by this process (lock file ${path})`);
      // Stale: its run died. Take it over with the originals it recorded.
      sys.unlink(path);
      if (prior?.journal) {
        const rec: LockRecord = { ...record, journal: prior.journal };
        sys.createExclusive(path, JSON.stringify(rec), 0o600);
        const l = new DeviceLock(sys, path, rec, prior.journal);
        l.held = true;
        return l;
      }
    }
    throw new DeviceLockedError(`${bdf}: could not take the lock file ${path}`);
  }

  get journal(): HostJournal {
    return this.record.journal;
  }

  /** Rewrites the journal in the lock file (after every change the run makes to the host). */
  update(journal: HostJournal): void {
    this.record = { ...this.record, journal };
    if (!this.held) return;
    this.sys.writeText(this.path, JSON.stringify(this.record));
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      this.sys.unlink(this.path);
    } catch (e) {
      if (!(e instanceof SysError && e.code === 'ENOENT')) throw e;
    }
  }
}
