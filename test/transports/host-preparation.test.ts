import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../protocol/errors.ts';
import { type SignalHost, undoPreparedHosts, withPreparedHost } from '../../transports/host-preparation.ts';
import type { HostPreparationContext, TransportRegistration } from '../../transports/registration.ts';

type Cfg = { kind: 'fake' };
const CFG: Cfg = { kind: 'fake' };

/** A transport whose preparation makes `steps` changes (failing at step `failAt`), recording what happened. */
function fake(steps: string[], o: { failAt?: number; undoFails?: string } = {}) {
  const log: string[] = [];
  const reg: Pick<TransportRegistration<Cfg>, 'prepareHost'> = {
    async prepareHost(_c: Cfg, ctx: HostPreparationContext) {
      for (const [i, s] of steps.entries()) {
        if (i === o.failAt) throw new Error(`step ${s} failed`);
        log.push(`do ${s}`);
        ctx.changed({
          description: s,
          undo: async () => {
            log.push(`undo ${s}`);
            if (s === o.undoFails) throw new Error('still busy');
          },
        });
      }
    },
  };
  return { reg, log };
}

/** A stand-in process: signals are emitted by the test, exit is recorded. */
class FakeProcess extends EventEmitter implements SignalHost {
  exited: number | undefined;
  exit(code: number): void {
    this.exited = code;
  }
}

const settle = () => new Promise((r) => setImmediate(r));

describe('host preparation is undone on every way out of a run', () => {
  it('after the body returns, in reverse order', async () => {
    const { reg, log } = fake(['bind vfio-pci', 'set NumVFs 4']);
    const host = new FakeProcess();
    const r = await withPreparedHost(reg, CFG, () => undefined, async () => 'ok', host);
    expect(r).toBe('ok');
    expect(log).toEqual(['do bind vfio-pci', 'do set NumVFs 4', 'undo set NumVFs 4', 'undo bind vfio-pci']);
    expect(host.listenerCount('SIGINT') + host.listenerCount('SIGTERM')).toBe(0);
  });

  it('after the body throws, and the error goes on', async () => {
    const { reg, log } = fake(['a', 'b']);
    await expect(withPreparedHost(reg, CFG, () => undefined, async () => Promise.reject(new Error('boom')), new FakeProcess())).rejects.toThrow('boom');
    expect(log).toEqual(['do a', 'do b', 'undo b', 'undo a']);
  });

  it('after the preparation itself fails: what it had changed is undone, the body never runs', async () => {
    const { reg, log } = fake(['a', 'b', 'c'], { failAt: 2 });
    let ran = false;
    await expect(
      withPreparedHost(reg, CFG, () => undefined, async () => {
        ran = true;
      }, new FakeProcess()),
    ).rejects.toThrow('step c failed');
    expect(ran).toBe(false);
    expect(log).toEqual(['do a', 'do b', 'undo b', 'undo a']);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`on ${signal} with nothing else listening: undone, then exit code 3`, async () => {
      const { reg, log } = fake(['a', 'b']);
      const host = new FakeProcess();
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      void withPreparedHost(reg, CFG, () => undefined, () => (started(), new Promise<never>(() => undefined)), host);
      await running;
      host.emit(signal);
      await settle();
      expect(log).toEqual(['do a', 'do b', 'undo b', 'undo a']);
      expect(host.exited).toBe(3);
    });

    it(`on ${signal} handled by the run command: nothing undone until the body returns, then undone once`, async () => {
      const { reg, log } = fake(['a']);
      const host = new FakeProcess();
      let stop!: () => void;
      host.on(signal, () => stop()); // the run command: aborts the run, which then returns
      const run = withPreparedHost(reg, CFG, () => undefined, () => new Promise<string>((r) => (stop = () => r('aborted'))), host);
      await settle();
      host.emit(signal);
      expect(await run).toBe('aborted');
      expect(log).toEqual(['do a', 'undo a']);
      expect(host.exited).toBeUndefined();
    });
  }

  it('a forced exit path undoes what is in force first (undoPreparedHosts), and only once', async () => {
    const { reg, log } = fake(['a']);
    const host = new FakeProcess();
    let stop!: () => void;
    const run = withPreparedHost(reg, CFG, () => undefined, () => new Promise<void>((r) => (stop = r)), host);
    await settle();
    await undoPreparedHosts();
    expect(log).toEqual(['do a', 'undo a']);
    stop();
    await run;
    expect(log).toEqual(['do a', 'undo a']);
  });

  it('undoes every change even when one undo fails, then says which', async () => {
    const { reg, log } = fake(['a', 'b', 'c'], { undoFails: 'b' });
    const e = await withPreparedHost(reg, CFG, () => undefined, async () => undefined, new FakeProcess()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HarnessError);
    expect(String((e as Error).message)).toMatch(/could not undo host preparation.*b: still busy/);
    expect(log).toEqual(['do a', 'do b', 'do c', 'undo c', 'undo b', 'undo a']);
  });

  it('a transport without host preparation just runs the body', async () => {
    expect(await withPreparedHost({}, CFG, () => undefined, async () => 7, new FakeProcess())).toBe(7);
  });
});
