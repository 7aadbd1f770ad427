/**
 * kubepair as a benchmark path (issue 6): the real processes of test/helpers/e2e-stack.ts
 * (relay with token auth, `kubepair share`, `kubepair connect`) on 127.0.0.1. Raw TCP targets
 * go through `share --expose NAME=HOST:PORT` and `connect --forward LOCALPORT:NAME`
 * (client → relay → agent → target); the API server through connect's own listener, in
 * proxy mode (TLS + token, policy, audit) or passthrough mode (TLS end to end). A stack whose
 * relay serves TLS (`relayTls`, as in production: https://) gives the path `kubepair_tls_relay`.
 */
import { join } from 'node:path';
import type { E2EStack } from '../../test/helpers/e2e-stack.js';
import type { ManagedProcess } from '../../test/helpers/managed-process.js';
import type { TargetName, TargetPorts, Tunnel } from './tunnel.js';
import { TARGET_NAMES, freePort } from './tunnel.js';

/** Relay flags for benchmarks: thousands of sessions from 127.0.0.1 within minutes. */
export const BENCH_RELAY_ARGS: readonly string[] = [
  '--rate-limit', '1000000',
  '--max-sessions', '100000',
  '--max-sessions-per-ip', '100000',
  '--max-sessions-per-token', '100000',
  '--max-connections', '100000',
  '--max-connections-per-ip', '100000',
];

export interface KubepairTunnel extends Tunnel {
  /** The kubeconfig connect wrote (its API listener, in the share's mode). */
  readonly kubeconfig: string;
  readonly share: ManagedProcess;
  readonly connect: ManagedProcess;
}

export interface KubepairTunnelOptions {
  readonly mode: 'proxy' | 'passthrough';
  /** Targets to expose and forward (none: the API server only). */
  readonly targets?: TargetPorts;
}

/** The result key of a kubepair path: by mode, and `kubepair_tls_relay` for a stack whose relay serves TLS (https://). */
export function kubepairTunnelName(mode: KubepairTunnelOptions['mode'], relayUrl: string): string {
  const tls = relayUrl.startsWith('https:');
  if (mode === 'passthrough') return tls ? 'kubepair_passthrough_tls_relay' : 'kubepair_passthrough';
  return tls ? 'kubepair_tls_relay' : 'kubepair';
}

const READY_TIMEOUT_MS = 30_000;
/**
 * How long `close()` lets a `--once` share end by itself after connect has gone, before it is
 * sent SIGTERM. A share that is already ending has removed its signal handlers, so a SIGTERM then
 * kills it outright, before node writes its `--cpu-prof` profile (`--profile` lost share's).
 */
const SHARE_ONCE_EXIT_WAIT_MS = 10_000;

let shareAuditLogs = 0;

/**
 * `--audit-log FILE` for one more share of `stack`: an audit log has one writer at a time, and
 * the bench keeps a share running (the tunnel) while it starts others (pairing, kubectl).
 */
export function shareAuditLogArgs(stack: Pick<E2EStack, 'dir'>): string[] {
  shareAuditLogs += 1;
  return ['--audit-log', join(stack.dir, `bench-share-${shareAuditLogs}-audit.jsonl`)];
}

/** Start one share and one connect for them; resolves once connect is ready. */
export async function startKubepairTunnel(stack: E2EStack, options: KubepairTunnelOptions): Promise<KubepairTunnel> {
  const names: readonly TargetName[] = options.targets === undefined ? [] : TARGET_NAMES;
  const targets = options.targets;
  const exposeArgs = names.flatMap((name) => ['--expose', `${name}=127.0.0.1:${targets![name]}`]);
  const { process: share, code } = await stack.startShare(['--once', '--mode', options.mode, ...shareAuditLogArgs(stack), ...exposeArgs]);
  const local = new Map<TargetName, number>();
  for (const name of names) local.set(name, await freePort());
  const forwardArgs = names.flatMap((name) => ['--forward', `${local.get(name)}:${name}`]);
  const connect = stack.startConnect([...forwardArgs, '--no-shell', code]);
  let kubeconfig: string;
  try {
    kubeconfig = (await connect.waitFor(/^export KUBECONFIG=(\S+)$/m, READY_TIMEOUT_MS, 'stdout'))[1]!;
  } catch (err) {
    await Promise.allSettled([connect.stop('SIGTERM', 3000), share.stop('SIGTERM', 3000)]);
    throw err;
  }
  const port = (name: TargetName): number => local.get(name) ?? 0;
  return {
    name: kubepairTunnelName(options.mode, stack.relayUrl),
    label: `kubepair (${options.mode} mode; client → relay${stack.relayUrl.startsWith('https:') ? ' over TLS' : ''} → agent → target)`,
    ports: { source: port('source'), http: port('http'), hello: port('hello') },
    kubeconfig,
    share,
    connect,
    processes: () => [
      { side: 'laptop', name: 'connect', pid: connect.child.pid },
      { side: 'middle', name: 'relay', pid: stack.relay.child.pid },
      { side: 'target', name: 'share', pid: share.child.pid },
    ],
    async close() {
      await connect.stop('SIGTERM', 5000);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([share.exited, new Promise((resolve) => (timer = setTimeout(resolve, SHARE_ONCE_EXIT_WAIT_MS)))]);
      clearTimeout(timer);
      await share.stop('SIGTERM', 5000);
    },
  };
}
