import { execFile } from 'node:child_process';
import type { MemberStimuli } from '../../protocol/member-port.ts';

/**
 * Commands the card's vendor supplies to make the card do what a host cannot make it do: change a
 * member's device configuration, or raise a wake event. Run with /bin/sh -c, with VMCTS_PF, VMCTS_VF
 * and VMCTS_MEMBER in the environment; a non-zero exit or a time-out is an error of the hook.
 */
export interface VendorHooks {
  configChange?: string;
  wake?: string;
  /** Stalls (VMCTS_HOLD=1) or releases (VMCTS_HOLD=0) the member's backend, so requests stay taken and not completed. */
  holdRequests?: string;
  /** Longest a hook may run (default 10 s). */
  timeoutMs?: number;
}

function run(cmd: string, env: Record<string, string>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', cmd], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, _out, stderr) => {
      if (err) reject(new Error(`vendor hook \`${cmd}\` failed: ${err.message}${stderr ? `: ${stderr.trim()}` : ''}`));
      else resolve();
    });
  });
}

/** The member's stimuli through the hooks, or undefined when the config gives neither (tests that need them are NOT_TESTED). */
export function hookStimuli(hooks: VendorHooks | undefined, pf: string, vf: string, member: number): MemberStimuli | undefined {
  if (!hooks?.configChange && !hooks?.wake && !hooks?.holdRequests) return undefined;
  const env = { VMCTS_PF: pf, VMCTS_VF: vf, VMCTS_MEMBER: String(member) };
  const t = hooks.timeoutMs ?? 10_000;
  const missing = (what: string) => () => Promise.reject(new Error(`no vendor hook for ${what} (transport.hooks.${what === 'a configuration change' ? 'configChange' : 'wake'})`));
  return {
    configChange: hooks.configChange ? () => run(hooks.configChange!, env, t) : missing('a configuration change'),
    wake: hooks.wake ? () => run(hooks.wake!, env, t) : missing('a wake event'),
    ...(hooks.holdRequests ? { holdRequests: (on: boolean) => run(hooks.holdRequests!, { ...env, VMCTS_HOLD: on ? '1' : '0' }, t) } : {}),
  };
}
