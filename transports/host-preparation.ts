/**
 * Host preparation around a run: the transport's prepareHost (if it has one) runs in the CLI process
 * before the test worker starts, and every change it recorded is undone on every way out: the body
 * returns, the body or the preparation throws, SIGINT or SIGTERM. While the body runs a signal is the
 * run command's to handle (it aborts the run, writes the report and returns, and the undo follows);
 * when nothing else listens for it, the changes are undone here and the process ends with exit code 3.
 */
import { HarnessError } from '../protocol/errors.ts';
import type { HostChange, TransportRegistration } from './registration.ts';

/** The process as far as signals and exiting go (a stand-in in the self-tests). */
export interface SignalHost {
  on(signal: Signal, listener: () => void): unknown;
  off(signal: Signal, listener: () => void): unknown;
  listenerCount(signal: Signal): number;
  exit(code: number): never | void;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type Signal = (typeof SIGNALS)[number];

/** Undoes `changes` in reverse order, all of them even when one fails; throws one HarnessError naming every failure. */
async function undoAll(changes: HostChange[]): Promise<void> {
  const failed: string[] = [];
  while (changes.length) {
    const c = changes.pop()!;
    try {
      await c.undo();
    } catch (e) {
      failed.push(`${c.description}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (failed.length) throw new HarnessError(`could not undo host preparation (restore by hand): ${failed.join('; ')}`);
}

/** Undo functions of the preparations in force (normally one). */
const active = new Set<() => Promise<void>>();

/**
 * Undoes every host preparation in force now: for a path that ends the process at once (a second
 * Ctrl-C), before it exits.
 */
export async function undoPreparedHosts(): Promise<void> {
  await Promise.allSettled([...active].map((release) => release()));
}

/** Runs `body` with the host prepared for `config` by `transport` (its registration), and undoes the preparation however the run ends. */
export async function withPreparedHost<C extends { kind: string }, T>(
  transport: Pick<TransportRegistration<C>, 'prepareHost'> | undefined,
  config: C,
  say: (line: string) => void,
  body: () => Promise<T>,
  host: SignalHost = process as unknown as SignalHost,
): Promise<T> {
  const prepare = transport?.prepareHost?.bind(transport);
  if (!prepare) return body();
  const changes: HostChange[] = [];
  let undone: Promise<void> | undefined;
  const release = () => (undone ??= undoAll(changes));
  active.add(release);
  const listeners = SIGNALS.map((signal) => {
    const listener = () => {
      // Another listener is the run command: it stops the run and returns, and the undo follows below.
      if (host.listenerCount(signal) > 1) return;
      void release()
        .catch((e: unknown) => say(`vmcts: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => host.exit(3));
    };
    host.on(signal, listener);
    return { signal, listener };
  });
  try {
    await prepare(config, {
      say,
      changed: (c) => {
        changes.push(c);
        say(`host: ${c.description}`);
      },
    });
    return await body();
  } finally {
    for (const { signal, listener } of listeners) host.off(signal, listener);
    try {
      await release();
    } finally {
      active.delete(release);
    }
  }
}
