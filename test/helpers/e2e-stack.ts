/**
 * The whole product as real processes for end-to-end tests (CONVENTIONS §10): a relay process
 * on 127.0.0.1 with token authentication (tokens created with `kubepair relay token create`),
 * the fixture API server, and `kubepair share` / `kubepair connect` processes, each with a
 * private HOME, XDG directories and a minimal environment. Everything is stopped in close().
 *
 * With `installed` every kubepair process runs an installed package's `bin/kubepair` (as a user
 * starts it, Node.js found on PATH by its `#!/usr/bin/env node`) instead of this Node.js with
 * build/src/cli/main.js.
 *
 * With `relayTls` the relay serves HTTPS/WSS with test/fixtures/relay-tls/loopback.crt (a
 * certificate for IP 127.0.0.1 only) and every share and connect is given `--relay-ca` for it.
 *
 * With `faultProxies` a fault-injecting TCP proxy (fault-proxy.ts) sits between each endpoint and
 * the relay: share processes are given the URL of `proxies.share`, connect processes that of
 * `proxies.connect` (env() does it), so a test can cut, black-hole or delay either endpoint's
 * carrier; the relay knows nothing of them. `killRelay()` and `startRelayAgain()` stop the relay
 * with SIGKILL and start it on the same address with the same `--state-dir` (its session-key
 * secret survives, so established sessions can resume: docs/protocol.md §11).
 *
 * Starting is all or nothing: if any step fails (the relay slow to listen on a loaded machine,
 * the API server, a token), what was already started is stopped before the error is thrown,
 * because the test's `after` hook has no stack to close and a relay left running would keep the
 * test file alive for good. Every wait here is bounded and its error names what it waited for.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeApiServer, KubeApiServerOptions } from '../fixtures/kube-api-server/server.js';
import { startKubeApiServer } from '../fixtures/kube-api-server/server.js';
import { CLI_PATH } from './cli.js';
import { kubectlSandbox } from './kubectl.js';
import type { FaultProxy } from './fault-proxy.js';
import { startFaultProxy } from './fault-proxy.js';
import type { ManagedProcess } from './managed-process.js';
import { startProcess } from './managed-process.js';
import { repoPath } from './paths.js';
import { createRelayToken, makeUserHome } from './user-home.js';
import { within } from './wait-until.js';

// Bounds for the stack's processes, generous because two test files run at once on machines
// that are busy with other work (a relay took 14 s to listen at load 13 on 2 cores; the old
// 15 s bound was the start of the hang of npm test in test/e2e/forward.test.ts).
/** From starting the relay to its "listening" line, in ms. */
const RELAY_READY_TIMEOUT_MS = 60_000;
/** From starting `kubepair share` to its pairing code, in ms. */
const SHARE_READY_TIMEOUT_MS = 60_000;
/** The fixture API server's close (it cuts open connections itself after a grace period), in ms. */
const API_CLOSE_TIMEOUT_MS = 15_000;

/** The relay's certificate and key with `relayTls` (self-signed, IP 127.0.0.1). */
export const E2E_RELAY_TLS = {
  certFile: repoPath('test/fixtures/relay-tls/loopback.crt'),
  keyFile: repoPath('test/fixtures/relay-tls/loopback.key'),
} as const;

/** The two fault proxies of a stack started with `faultProxies`. */
export interface E2EFaultProxies {
  /** Between share processes and the relay (the agent's carrier). */
  readonly share: FaultProxy;
  /** Between connect processes and the relay (the client's carrier). */
  readonly connect: FaultProxy;
}

export interface E2EStack {
  readonly api: KubeApiServer;
  /** The relay's own URL (share and connect are given their proxy's with `faultProxies`). */
  readonly relayUrl: string;
  /** The relay process running now (a new one after startRelayAgain()). */
  readonly relay: ManagedProcess;
  /** With `faultProxies`: the proxy in front of each endpoint's carrier. */
  readonly proxies: E2EFaultProxies | undefined;
  /** The relay tokens env() puts in KUBEPAIR_TOKEN (scope agent, scope client). */
  readonly tokens: { readonly agent: string; readonly client: string };
  readonly dir: string;
  /** The agent's kubeconfig for the fixture. */
  readonly agentKubeconfig: string;
  /** Where connect writes kubeconfigs ($XDG_RUNTIME_DIR of the connect processes). */
  readonly runtimeDir: string;
  /** Environment for a share process (agent token) or a connect process (client token). */
  env(role: 'agent' | 'client', extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Start `kubepair share ARGS` and wait for its pairing code. */
  startShare(args?: readonly string[], extraEnv?: NodeJS.ProcessEnv): Promise<{ process: ManagedProcess; code: string }>;
  /** Start `kubepair share ARGS` (not waiting: for shares expected to fail). */
  spawnShare(args: readonly string[], extraEnv?: NodeJS.ProcessEnv): ManagedProcess;
  /** Events in the relay's audit log so far (`session_created`, ...), oldest first. */
  relayAuditEvents(): Promise<string[]>;
  /** Start `kubepair connect ARGS` (not waiting). */
  startConnect(args: readonly string[], extraEnv?: NodeJS.ProcessEnv): ManagedProcess;
  /** Kubeconfig files currently in the runtime directory. */
  kubeconfigsLeft(): Promise<string[]>;
  /** Kill the relay with SIGKILL (no close frame reaches anyone) and wait for it to exit. */
  killRelay(): Promise<void>;
  /** Start the relay again on the same address with the same arguments and state directory; resolves once it listens. */
  startRelayAgain(): Promise<void>;
  close(): Promise<void>;
}

export interface E2EStackOptions {
  readonly api?: KubeApiServerOptions;
  /** Extra flags for the relay process. */
  readonly relayArgs?: readonly string[];
  /** Context name in the agent's kubeconfig (to test hostile names). */
  readonly contextName?: string;
  /** Serve the relay over TLS (https://127.0.0.1:PORT); share and connect trust it with --relay-ca. */
  readonly relayTls?: boolean;
  /** The agent's credentials for the fixture: its client certificate (default) or its bearer token. */
  readonly agentCredentials?: 'certificate' | 'token';
  /** Node.js flags for the relay, share and connect processes (benchmarks: --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** How long to wait for the relay to listen (default RELAY_READY_TIMEOUT_MS; tests of this helper use less). */
  readonly relayReadyTimeoutMs?: number;
  /** Run this installed kubepair executable (`PREFIX/bin/kubepair`) with this PATH for every kubepair process; `nodeArgs` cannot apply to it. */
  readonly installed?: { readonly bin: string; readonly path: string };
  /** Put a fault proxy between each endpoint and the relay (E2EStack.proxies). */
  readonly faultProxies?: boolean;
  /**
   * A program and its arguments that the relay's command line is appended to (`strace -D -f -o
   * FILE --`): it must exec the relay in its own process, so that the relay keeps the pid the
   * stack stops. Not with `installed`.
   */
  readonly relayWrapper?: readonly string[];
  /** The relay's port (default: one the system picks), for flags that name the relay's own URL. */
  readonly relayPort?: number;
}

/** What a stack has started so far: close() and a failed start stop exactly these. */
interface Started {
  readonly dir: string;
  readonly processes: ManagedProcess[];
  api?: KubeApiServer;
  sandbox?: Awaited<ReturnType<typeof kubectlSandbox>>;
  readonly proxies: FaultProxy[];
}

/** Stop everything started so far, by pid, newest first; bounded. */
async function release(started: Started): Promise<void> {
  await Promise.allSettled([...started.processes].reverse().map((p) => p.stop('SIGTERM', 3000)));
  await Promise.allSettled(started.proxies.map((proxy) => proxy.close()));
  if (started.api !== undefined) await within(API_CLOSE_TIMEOUT_MS, 'the fixture API server to close', started.api.close());
  await started.sandbox?.remove();
  await rm(started.dir, { recursive: true, force: true });
}

export async function startE2EStack(options: E2EStackOptions = {}): Promise<E2EStack> {
  const started: Started = { dir: await mkdtemp(join(tmpdir(), 'kubepair-e2e-')), processes: [], proxies: [] };
  try {
    return await startStack(started, options);
  } catch (err) {
    await release(started).catch(() => undefined); // the start error is the one to report
    throw new Error(`the e2e stack did not start: ${(err as Error).message}`, { cause: err });
  }
}

async function startStack(started: Started, options: E2EStackOptions): Promise<E2EStack> {
  const { dir, processes } = started;
  const nodeArgs = options.nodeArgs ?? [];
  const installed = options.installed;
  if (installed !== undefined && nodeArgs.length > 0) throw new Error('nodeArgs cannot be given to an installed kubepair');
  if (installed !== undefined && options.relayWrapper !== undefined) throw new Error('relayWrapper cannot be given with an installed kubepair');
  /** The program and arguments that run `kubepair ARGS`. */
  const kubepair = (args: readonly string[]): [string, string[]] =>
    installed === undefined ? [process.execPath, [...nodeArgs, CLI_PATH, ...args]] : [installed.bin, [...args]];
  const user = await makeUserHome(dir, installed?.path);
  const { runtimeDir, state, config } = user;
  const baseEnv = (): NodeJS.ProcessEnv => user.env();
  const tokensFile = join(config, 'relay-tokens.json');
  const relayAuditLog = join(state, 'relay-audit.jsonl');
  const createToken = (scope: string, name: string): Promise<string> => createRelayToken(user, tokensFile, scope, name, installed?.bin);
  const agentToken = await createToken('agent', 'e2e-agent');
  const clientToken = await createToken('client', 'e2e-client');
  const relayStateDir = join(state, 'relay-state');
  /** `kubepair relay` listening on `listen`, with the same tokens, audit log and state directory every time. */
  const startRelayProcess = async (listen: string): Promise<{ process: ManagedProcess; url: string }> => {
    const [relayProgram, relayArgs] = kubepair(['relay', '--listen', listen, '--tokens-file', tokensFile, '--audit-log', relayAuditLog, '--state-dir', relayStateDir, '--log-level', 'warn',
        // One test file pairs many sessions from 127.0.0.1 within a minute; the 20/min default
        // is tested on its own in test/integration/relay.
        '--rate-limit', '600',
        ...(options.relayTls === true ? ['--tls-cert', E2E_RELAY_TLS.certFile, '--tls-key', E2E_RELAY_TLS.keyFile] : []),
        ...(options.relayArgs ?? [])]);
    const wrapper = options.relayWrapper ?? [];
    const started = wrapper.length === 0
      ? startProcess(relayProgram, relayArgs, baseEnv())
      : startProcess(wrapper[0]!, [...wrapper.slice(1), relayProgram, ...relayArgs], baseEnv());
    processes.push(started);
    const listening = await started.waitFor(/kubepair relay listening on (https?:\/\/127\.0\.0\.1:\d+)/, options.relayReadyTimeoutMs ?? RELAY_READY_TIMEOUT_MS, 'stderr');
    return { process: started, url: listening[1]! };
  };
  const first = await startRelayProcess(`127.0.0.1:${options.relayPort ?? 0}`);
  let relay = first.process;
  const relayTrust = options.relayTls === true ? ['--relay-ca', E2E_RELAY_TLS.certFile] : [];
  const relayUrl = first.url;
  const relayPort = new URL(relayUrl).port;
  let proxies: E2EFaultProxies | undefined;
  if (options.faultProxies === true) {
    const share = await startFaultProxy({ port: Number(relayPort) });
    started.proxies.push(share);
    const connect = await startFaultProxy({ port: Number(relayPort) });
    started.proxies.push(connect);
    proxies = { share, connect };
  }
  /** The relay URL an endpoint is given: its proxy's with `faultProxies`. */
  const relayUrlFor = (role: 'agent' | 'client'): string => {
    if (proxies === undefined) return relayUrl;
    const url = new URL(relayUrl);
    url.port = String((role === 'agent' ? proxies.share : proxies.connect).port);
    return url.origin;
  };
  const api = await startKubeApiServer(options.api ?? { objects: [] });
  started.api = api;
  const sandbox = await kubectlSandbox('kubepair-e2e-agent-');
  started.sandbox = sandbox;
  const agentKubeconfig = await sandbox.writeKubeconfig(
    'agent.kubeconfig',
    api.kubeconfigFor({
      ...(options.contextName !== undefined && { contextName: options.contextName, clusterName: options.contextName }),
      ...(options.agentCredentials !== undefined && { credentials: options.agentCredentials }),
    }),
  );
  const env = (role: 'agent' | 'client', extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    ...baseEnv(),
    KUBEPAIR_RELAY: relayUrlFor(role),
    KUBEPAIR_TOKEN: role === 'agent' ? agentToken : clientToken,
    ...extra,
  });
  const spawnShare = (args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): ManagedProcess => {
    const share = startProcess(...kubepair(['share', '--kubeconfig', agentKubeconfig, ...relayTrust, ...args]), env('agent', extraEnv));
    processes.push(share);
    return share;
  };
  return {
    api,
    relayUrl,
    get relay() {
      return relay;
    },
    proxies,
    tokens: { agent: agentToken, client: clientToken },
    dir,
    agentKubeconfig,
    runtimeDir,
    env,
    async startShare(args = [], extraEnv = {}) {
      const share = spawnShare(args, extraEnv);
      const match = await share.waitFor(/Pairing code: (\d+-\d{4}-\d{4})/, SHARE_READY_TIMEOUT_MS, 'stdout');
      return { process: share, code: match[1]! };
    },
    spawnShare,
    async relayAuditEvents() {
      const text = await readFile(relayAuditLog, 'utf8');
      return text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => String((JSON.parse(line) as { event?: unknown }).event));
    },
    startConnect(args, extraEnv = {}) {
      const connect = startProcess(...kubepair(['connect', ...relayTrust, ...args]), env('client', extraEnv));
      processes.push(connect);
      return connect;
    },
    async kubeconfigsLeft() {
      return (await readdir(runtimeDir)).filter((name) => name.endsWith('.kubeconfig'));
    },
    async killRelay() {
      await relay.stop('SIGKILL', 0);
    },
    async startRelayAgain() {
      if (relay.child.exitCode === null && relay.child.signalCode === null) throw new Error('the relay is still running: killRelay() first');
      relay = (await startRelayProcess(`127.0.0.1:${relayPort}`)).process;
    },
    close: () => release(started),
  };
}
