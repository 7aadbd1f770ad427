/**
 * A real redis-server for tests (Debian's redis-server; test/preflight.js says how to install it):
 * on 127.0.0.1, on a free port, without persistence (`--save ''`, no AOF), optionally with a
 * password, stopped by pid. `restart` starts a new, empty one on the same port (a Redis that died
 * and came back).
 */
import type { ManagedProcess } from './managed-process.js';
import { startProcess } from './managed-process.js';
import { freePort } from './tcp.js';

/** From starting redis-server to "Ready to accept connections", in ms. */
export const REDIS_READY_TIMEOUT_MS = 30_000;

export interface TestRedis {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` (`rediss://` with TLS; without the password). */
  readonly url: string;
  readonly process: ManagedProcess;
  /** Stop it (SIGKILL: a Redis that dies) and wait for the exit. */
  kill(): Promise<void>;
  /** Start an empty Redis again on the same port (after `kill`). */
  restart(): Promise<void>;
  /** Stop it for good (bounded, by pid). */
  stop(): Promise<void>;
}

export interface TestRedisOptions {
  /** `--requirepass`: clients must AUTH. */
  readonly password?: string;
  /** Serve TLS only (`rediss://`), with this PEM certificate and key files (no client certificates). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}

function launch(port: number, options: TestRedisOptions): ManagedProcess {
  const args =
    options.tls === undefined
      ? ['--port', String(port)]
      : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile, '--tls-ca-cert-file', options.tls.caFile, '--tls-auth-clients', 'no'];
  args.push('--bind', '127.0.0.1', '--save', '', '--appendonly', 'no');
  if (options.password !== undefined) args.push('--requirepass', options.password);
  return startProcess('redis-server', args, { PATH: process.env['PATH'] ?? '' });
}

/** Up to 3 tries if another process takes the free port first. */
export async function startRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const failures: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const first = launch(port, options);
    try {
      await first.waitFor(/Ready to accept connections/, REDIS_READY_TIMEOUT_MS);
    } catch (err) {
      await first.stop('SIGKILL', 1000);
      if (first.startError() !== undefined) throw err; // not installed: no point in another port
      failures.push((err as Error).message);
      continue;
    }
    let current = first;
    const redis: TestRedis = {
      port,
      url: `${options.tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`,
      get process() {
        return current;
      },
      async kill() {
        await current.stop('SIGKILL', 1000);
      },
      async restart() {
        await current.stop('SIGKILL', 1000);
        current = launch(port, options);
        await current.waitFor(/Ready to accept connections/, REDIS_READY_TIMEOUT_MS);
      },
      async stop() {
        await current.stop('SIGTERM');
      },
    };
    return redis;
  }
  throw new Error(`redis-server did not start in 3 tries:\n${failures.join('\n')}`);
}
