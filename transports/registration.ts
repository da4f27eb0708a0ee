import type { AdminTransport } from '../protocol/admin-transport.ts';
import type { WireOptions } from '../protocol/wire-options.ts';

/** What opening a transport gets besides its own config section. */
export interface TransportContext {
  /** Opcodes and layouts of the run's spec profile. */
  wire: WireOptions;
  /** Default per-command timeout (the config's timeouts.commandMs). */
  commandMs: number;
  /** The run's seed (a model's randomness follows it). */
  seed: number;
}

/** Something host preparation changed on this machine (a driver binding, SR-IOV settings), with its undo. */
export interface HostChange {
  /** In words, for the log and for an error when undoing fails. */
  description: string;
  undo(): Promise<void>;
}

export interface HostPreparationContext {
  /** A line for the user (what is changed on the host and why). */
  say(line: string): void;
  /** Records a change as soon as it is made, so that it is undone even if a later step fails. */
  changed(change: HostChange): void;
}

/**
 * A transport as the run sees it: its kind, the JSON Schema (2020-12) of its `transport` config
 * section (`kind` included; the config schema's `transport` is composed from these), an optional host
 * preparation run in the CLI process before the test worker starts and undone on every way out, and
 * `open`, run in the test worker. Registering a transport: a file transports/<kind>/index.ts that
 * exports one of these, and one line in transports/index.ts.
 */
export interface TransportRegistration<C extends { kind: string } = { kind: string }> {
  kind: C['kind'];
  /** What it reaches, in one line (help texts, errors). */
  description: string;
  configSchema: Record<string, unknown>;
  /**
   * Checks what the schema cannot (a name the transport does not know, a transport this version
   * cannot open) in the CLI process, before anything starts; a mistake is a ConfigError (exit code 2).
   */
  validate?(config: C): Promise<void>;
  /**
   * Makes the host changes the run needs (bind to vfio-pci, set NumVFs), each recorded with
   * context.changed() as it is made; they are undone in reverse order when the run ends, however it ends.
   */
  prepareHost?(config: C, context: HostPreparationContext): Promise<void>;
  /** Opens the transport; a config it cannot serve is a ConfigError (exit code 2). */
  open(config: C, context: TransportContext): Promise<AdminTransport>;
}

/** Identity with the config type inferred, so the registry can derive the config union from its list. */
export function defineTransport<C extends { kind: string }>(r: TransportRegistration<C>): TransportRegistration<C> {
  return r;
}

/** The config type of a registration. */
export type ConfigOf<R> = R extends TransportRegistration<infer C> ? C : never;
