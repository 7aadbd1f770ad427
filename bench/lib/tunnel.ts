/**
 * The ways a benchmark client reaches the target server (issue 6): `direct` (no tunnel),
 * `kubepair` (client → relay → agent → target, see kubepair-tunnel.ts) and `ssh` (`ssh -N -L`
 * through a local sshd, see ssh-tunnel.ts). Each offers one local port per target and the CPU
 * its own processes used, so a workload can report CPU per byte next to wall time.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { treeCpuSeconds } from './process-cpu.js';

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
  /** CPU seconds the tunnel's own processes used so far (undefined: no processes, or no /proc). */
  cpuSeconds(): Promise<number | undefined>;
  close(): Promise<void>;
}

export function directTunnel(targets: TargetPorts): Tunnel {
  return {
    name: 'direct',
    label: 'direct (no tunnel)',
    ports: targets,
    cpuSeconds: () => Promise.resolve(undefined),
    close: () => Promise.resolve(),
  };
}

/** CPU seconds of a set of process trees, undefined when unknown. */
export function processTreesCpu(pids: () => ReadonlyArray<number | undefined>): () => Promise<number | undefined> {
  return async () => {
    const known = pids().filter((pid): pid is number => pid !== undefined);
    return known.length === 0 ? undefined : treeCpuSeconds(known);
  };
}

/** A port that was free a moment ago (bound by the OS and released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
