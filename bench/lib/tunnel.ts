/**
 * The ways a benchmark client reaches the target server (issue 6): `direct` (no tunnel),
 * `kubepair` (client → relay → agent → target, see kubepair-tunnel.ts), `ssh` (`ssh -N -L`
 * through a local sshd) and `ssh_jump` (`ssh -J`: through a second sshd, the bastion, to the
 * first; issue 15), see ssh-tunnel.ts. Each offers one local port per target and names its own
 * processes by where they sit on the path, so a workload can report their CPU and instructions
 * next to wall time, in all and per process.
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
  processes(): readonly TunnelProcess[];
  close(): Promise<void>;
}

/**
 * Where a tunnel process sits: on the laptop (`connect`; `ssh`), in the middle (the relay; the
 * bastion's sshd) or next to the target (`share`; the target's sshd).
 */
export type PathSide = 'laptop' | 'middle' | 'target';
export const PATH_SIDES: readonly PathSide[] = ['laptop', 'middle', 'target'];

export interface TunnelProcess {
  readonly side: PathSide;
  /** `connect`, `relay`, `share`, `ssh`, `jump sshd`, `sshd`, ... */
  readonly name: string;
  /** Undefined when the process failed to spawn. */
  readonly pid: number | undefined;
}

/** The pids of a tunnel's processes that are known (a process that failed to spawn has none). */
export function tunnelPids(tunnel: Pick<Tunnel, 'processes'>): number[] {
  return knownPids(tunnel.processes().map((process) => process.pid));
}

export function directTunnel(targets: TargetPorts): Tunnel {
  return {
    name: 'direct',
    label: 'direct (no tunnel)',
    ports: targets,
    processes: () => [],
    close: () => Promise.resolve(),
  };
}

/** The pids that are known (a process that failed to spawn has none). */
export function knownPids(pids: ReadonlyArray<number | undefined>): number[] {
  return pids.filter((pid): pid is number => pid !== undefined);
}

/** A port that was free a moment ago (test/helpers/tcp.ts). */
export { freePort } from '../../test/helpers/tcp.js';
