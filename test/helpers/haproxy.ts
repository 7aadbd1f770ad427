/**
 * A real HAProxy (Debian's `haproxy`, 2.6; test/preflight.js and .ci/run install it) in front of
 * several relay nodes, as an operator would run it for a relay cluster (docs/operations.md
 * "Relay cluster", where this configuration is shown and explained): round robin, no
 * stickiness, health checks on each node's `/readyz`, WebSocket-friendly timeouts.
 *
 * `mode http`, not `mode tcp`: the balancer then sees each request, so it can terminate TLS, add
 * X-Forwarded-For (the nodes run with `--trust-proxy` and count the real client address in their
 * per-address limits), balance API requests one by one rather than per TCP connection, and retry
 * a request on another node when the chosen one refuses the connection (`option redispatch`,
 * `retries`): an endpoint whose node just died reconnects at once. An upgraded WebSocket becomes a
 * tunnel (`timeout tunnel`), whose bytes HAProxy copies without reading.
 *
 * HAProxy cannot listen on port 0, so the helper takes a port that was free a moment ago and
 * starts again on another (at most PORT_TRIES times) when HAProxy could not bind it. It is ready
 * when its own `monitor-uri` answers (so the port is really HAProxy's). The configuration and an
 * admin socket (to read each server's state and to drain one) are in a private temp directory;
 * the process runs in the foreground (`-db`), is stopped by its pid, and its stderr is kept for
 * failure messages.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect as connectUnix } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ManagedProcess } from './managed-process.js';
import { startProcess } from './managed-process.js';
import { freePort } from './tcp.js';

/** Debian's haproxy, found on PATH (/usr/sbin; test/preflight.js checks it is there). */
const HAPROXY = 'haproxy';
/** Ports tried before giving up (another process may take the free port first). */
const PORT_TRIES = 3;
/** From starting haproxy to its monitor URI answering, in ms (a loaded 2-core machine). */
const HAPROXY_READY_TIMEOUT_MS = 30_000;
/** Between two probes of the monitor URI or the admin socket, in ms. */
const PROBE_INTERVAL_MS = 100;
/** What HAProxy answers itself (never forwarded) once it listens. */
const MONITOR_URI = '/haproxy-alive';
/** One admin-socket command's answer, in ms. */
const ADMIN_TIMEOUT_MS = 5_000;

/** A backend server: a relay node on 127.0.0.1. */
export interface HaproxyServer {
  readonly name: string;
  readonly port: number;
}

/** What `show stat` says of a server: UP, DOWN, MAINT, DRAIN, "UP 1/2" (going down)... */
export type ServerStatus = string;

export interface TestHaproxy {
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly process: ManagedProcess;
  /** The configuration it runs with (shown in failure messages and in docs/operations.md). */
  readonly config: string;
  /** Each server's status as HAProxy sees it now. */
  serverStatus(): Promise<Map<string, ServerStatus>>;
  /** Wait (bounded) until server `name` has status `wanted` (e.g. 'UP' after a restart, 'DOWN' after a kill). */
  waitForServer(name: string, wanted: 'UP' | 'DOWN', timeoutMs: number): Promise<void>;
  /** Stop it by pid (SIGTERM, then SIGKILL) and remove its directory. */
  stop(): Promise<void>;
}

/** The configuration file: every line an operator would keep, with why (docs/operations.md shows the same). */
export function haproxyConfig(options: { readonly port: number; readonly servers: readonly HaproxyServer[]; readonly adminSocket: string }): string {
  return [
    'global',
    '    # Foreground, logs to stderr only (a service manager keeps them).',
    '    log stderr format raw local0 notice',
    '    # Each connection takes two descriptors (client side, node side): keep 2 x maxconn under the',
    '    # open-files limit (HAProxy refuses to start otherwise).',
    '    maxconn 4096',
    `    stats socket ${options.adminSocket} mode 600 level admin`,
    '',
    'defaults',
    '    mode http',
    '    log global',
    '    option httplog',
    '    # The real client address for the nodes\' per-address limits (they run with --trust-proxy).',
    '    option forwardfor',
    '    # A node that refuses the connection (it died, or it is restarting): try another at once.',
    '    retries 3',
    '    option redispatch 1',
    '    timeout connect 2s',
    '    # Requests and the WebSocket upgrade: short. The relay sends pings every --ping-interval',
    '    # (30 s), so an upgraded WebSocket is never idle for the tunnel timeout.',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout http-request 10s',
    '    timeout tunnel 1h',
    '    timeout client-fin 5s',
    '    timeout server-fin 5s',
    '',
    'frontend relay',
    `    bind 127.0.0.1:${options.port}`,
    `    monitor-uri ${MONITOR_URI}`,
    '    default_backend relay_nodes',
    '',
    'backend relay_nodes',
    '    balance roundrobin',
    '    # A node answers 503 on /readyz while it shuts down or cannot reach Redis: no new requests then.',
    '    option httpchk',
    '    http-check send meth GET uri /readyz',
    '    http-check expect status 200',
    '    # Checked every second; out after 2 failures, back after 2 successes. A node marked down',
    '    # keeps its open WebSockets (they are the endpoints\' carriers; the node closes them itself).',
    '    default-server inter 1s fall 2 rise 2',
    ...options.servers.map((server) => `    server ${server.name} 127.0.0.1:${server.port} check`),
    '',
  ].join('\n');
}

/** GET the monitor URI once: true when HAProxy answered 200. */
function monitorAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: MONITOR_URI, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** One command on the admin socket; its whole answer. */
function adminCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectUnix(socketPath);
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to "${command}" from the HAProxy admin socket within ${ADMIN_TIMEOUT_MS} ms`));
    }, ADMIN_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.end(`${command}\n`);
  });
}

/** Start HAProxy in front of `servers`; resolves once it listens. */
export async function startHaproxy(servers: readonly HaproxyServer[]): Promise<TestHaproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'kubepair-haproxy-'));
  const failures: string[] = [];
  try {
    for (let attempt = 0; attempt < PORT_TRIES; attempt++) {
      const port = await freePort();
      const adminSocket = join(dir, 'admin.sock');
      const config = haproxyConfig({ port, servers, adminSocket });
      const configFile = join(dir, 'haproxy.cfg');
      await writeFile(configFile, config, { mode: 0o600 });
      const started = startProcess(HAPROXY, ['-db', '-f', configFile], { PATH: process.env['PATH'] ?? '/usr/bin:/bin' });
      const ready = await untilReady(started, port);
      if (ready === 'ready') return handle(started, port, config, adminSocket, dir);
      await started.stop('SIGKILL', 0);
      if (started.startError() !== undefined) throw new Error(`${HAPROXY} could not be started (${started.startError()?.message}); install Debian's haproxy (/usr/sbin must be on PATH)`);
      failures.push(`port ${port}: ${ready}\n${started.stderr().slice(-2000)}`);
      if (!/cannot bind socket|Address already in use/i.test(started.stderr())) break; // not a port race: another port will not help
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`haproxy did not start:\n${failures.join('\n')}`);
}

/** Probe the monitor URI until it answers, the process exits, or the bound passes. */
async function untilReady(started: ManagedProcess, port: number): Promise<string> {
  let exited = false;
  void started.exited.then(() => (exited = true));
  const deadline = Date.now() + HAPROXY_READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) return 'exited';
    if (await monitorAnswers(port)) return exited ? 'exited' : 'ready';
    await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
  }
  return `no answer on ${MONITOR_URI} within ${HAPROXY_READY_TIMEOUT_MS} ms`;
}

function handle(started: ManagedProcess, port: number, config: string, adminSocket: string, dir: string): TestHaproxy {
  const serverStatus = async (): Promise<Map<string, ServerStatus>> => {
    // CSV: pxname,svname,...,status (column 18).
    const csv = await adminCommand(adminSocket, 'show stat');
    const header = csv.split('\n')[0]?.replace(/^# /, '').split(',') ?? [];
    const nameAt = header.indexOf('svname');
    const statusAt = header.indexOf('status');
    const statuses = new Map<string, ServerStatus>();
    for (const line of csv.split('\n').slice(1)) {
      const fields = line.split(',');
      if (fields[0] !== 'relay_nodes') continue;
      const name = fields[nameAt];
      if (name === undefined || name === 'BACKEND') continue;
      statuses.set(name, fields[statusAt] ?? '');
    }
    return statuses;
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    process: started,
    config,
    serverStatus,
    async waitForServer(name, wanted, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let last: string | undefined;
      while (Date.now() < deadline) {
        last = (await serverStatus()).get(name);
        if (last === wanted) return;
        await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
      }
      throw new Error(`HAProxy did not see server ${name} ${wanted} within ${timeoutMs} ms (last status: ${last ?? 'unknown'})\nhaproxy stderr: ${started.stderr().slice(-2000)}`);
    },
    async stop() {
      try {
        await started.stop('SIGTERM', 5_000);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
