/**
 * The ways a benchmark client reaches the target server (issue 6): `direct` (no tunnel),
 * `kubepair` (client → relay → agent → target, see kubepair-tunnel.ts) and `ssh` (`ssh -N -L`
 * through a local sshd, see ssh-tunnel.ts). Each offers one local port per target and names
 * its own processes, so a workload can report their CPU and instructions next to wall time.
 */

/** The servers of bench/target-server.ts, by name. */
export interface TargetPorts {
  readonly source: number;
  readonly http: number;
  readonly hello: number;
}

export type TargetName = keyof TargetPorts;
export const TARGET_NAMES: readonly TargetName[] = ['source', 'http', 'hello'];

export interface Tunnel {
  /** `direct`, `kubepair`, `ssh`, ... (the key used in results). */
  readonly name: string;
  /** Human description for the report. */
  readonly label: string;
  /** Local port that reaches each target. */
  readonly ports: TargetPorts;
  /** The tunnel's own processes (their descendants count too); none for `direct`. */
  rootPids(): readonly number[];
  close(): Promise<void>;
}

export function directTunnel(targets: TargetPorts): Tunnel {
  return {
    name: 'direct',
    label: 'direct (no tunnel)',
    ports: targets,
    rootPids: () => [],
    close: () => Promise.resolve(),
  };
}

/** The pids that are known (a process that failed to spawn has none). */
export function knownPids(pids: ReadonlyArray<number | undefined>): number[] {
  return pids.filter((pid): pid is number => pid !== undefined);
}

/** A port that was free a moment ago (test/helpers/tcp.ts). */
export { freePort } from '../../test/helpers/tcp.js';
