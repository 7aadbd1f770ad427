/**
 * Workload 5, pairing (issue 6): from the start of `kubepair connect CODE --forward P:hello` to
 * the first byte through the tunnel (the target's hello server writes one byte per connection).
 * A `kubepair share --once` waits with a fresh code before each run (not timed). Figures:
 *
 * - `connect` process: spawn of the CLI to the first byte: what a user waits for. Split into
 *   spawn → "paired" on stderr, → ready (the export line), → first byte. Started as the kernel
 *   starts the installed `kubepair` (`/bin/sh FILE ARGS`, its `#!/bin/sh` line), so the launch
 *   lines' shell and Node.js flags (src/cli/node-flags.ts) are in the figure, with the same
 *   Node.js found first on PATH.
 * - in process: the client role's `ClientTunnel.start()` called from this process (modules loaded,
 *   JIT warm) to the first byte: the protocol and set-up work without Node's start-up.
 * - CLI start-up alone: `kubepair --version`, the floor under the first figure.
 * - ssh: `ssh -W host:port` (stdio forwarding) spawn to the first byte: TCP, key exchange,
 *   public-key authentication, channel open; and `ssh -J bastion -W host:port` (issue 15), the
 *   same through a bastion: all of that twice, the second hop inside the first.
 *
 * The first and the start-up figures are taken for each build of the CLI (issue 15, start-up),
 * interleaved in every round: `kubepair` is the package's (dist/cli/, scripts/bundle.mjs) with
 * V8's compile cache (in the stack user's ~/.cache, filled by the warm-up round);
 * `kubepair_bundle_no_cache` the same bundle with NODE_DISABLE_COMPILE_CACHE=1; `kubepair_tsc`
 * tsc's build (build/src/cli/, one file per module, the package before issue 15) without the
 * cache. The share side is always tsc's build. `--compare-cli FILE` adds `kubepair_compared`, another
 * build run like the package (an earlier commit's bundle: before and after in one run).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { E2EStack } from '../../test/helpers/e2e-stack.js';
import { CLI_PATH } from '../../test/helpers/cli.js';
import { startProcess } from '../../test/helpers/managed-process.js';
import { repoPath } from '../../test/helpers/paths.js';
import { within } from '../../test/helpers/relay-process.js';
import { parsePairingCode } from '../../src/channel/pairing-code.js';
import { ClientTunnel } from '../../src/client/client-tunnel.js';
import { shareAuditLogArgs } from '../lib/kubepair-tunnel.js';
import { openSocket } from '../lib/load.js';
import { processCpuSeconds } from '../lib/process-cost.js';
import { formatNumber } from '../lib/report.js';
import type { SshBastion, SshServer } from '../lib/ssh-tunnel.js';
import { SSH_CIPHER_AES_GCM, sshClientArgs } from '../lib/ssh-tunnel.js';
import { freePort } from '../lib/tunnel.js';
import type { Measurement, Skip, WorkloadContext, WorkloadResult } from './workload.js';
import { measurement, medianOf, ratioOf } from './workload.js';

const FIRST_BYTE_TIMEOUT_MS = 30_000;

/** Resolve when a connection to `port` yields its first byte. */
async function firstByte(port: number): Promise<void> {
  const socket = await openSocket(port);
  try {
    await within(
      FIRST_BYTE_TIMEOUT_MS,
      'the first byte through the tunnel',
      new Promise<void>((resolve, reject) => {
        socket.once('data', () => resolve());
        socket.once('error', reject);
        socket.once('end', () => reject(new Error('closed before the first byte')));
      }),
    );
  } finally {
    socket.destroy();
  }
}

/** A build of the kubepair CLI the pairing and start-up figures are taken for. */
export interface CliBuild {
  /** Series name in the results (`kubepair` is the package as shipped). */
  readonly name: string;
  readonly path: string;
  /** Added to the environment of every run. */
  readonly env: NodeJS.ProcessEnv;
}

/** The package's entry point, built by scripts/bundle.mjs (suite.bench.ts builds it first). */
export const BUNDLE_CLI_PATH = repoPath(join('dist', 'cli', 'main.js'));

/** The builds compared: the package (bundle, compile cache), the bundle without the cache, tsc's build without it. */
export const CLI_BUILDS: readonly CliBuild[] = [
  { name: 'kubepair', path: BUNDLE_CLI_PATH, env: {} },
  { name: 'kubepair_bundle_no_cache', path: BUNDLE_CLI_PATH, env: { NODE_DISABLE_COMPILE_CACHE: '1' } },
  { name: 'kubepair_tsc', path: CLI_PATH, env: { NODE_DISABLE_COMPILE_CACHE: '1' } },
];

/**
 * `[command, args, env]` that run `build` with `args` as a user's shell runs the installed binary:
 * /bin/sh reads its launch lines and execs `node FLAGS FILE ARGS` (same process id), finding
 * this Node.js first on PATH.
 */
function launched(build: CliBuild, args: readonly string[], env: NodeJS.ProcessEnv): [string, string[], NodeJS.ProcessEnv] {
  return ['/bin/sh', [build.path, ...args], { ...env, PATH: `${dirname(process.execPath)}:${env['PATH'] ?? process.env['PATH'] ?? ''}` }];
}

interface CliPairing {
  readonly total: number;
  readonly paired: number;
  readonly ready: number;
  /** CPU ms the connect process used until the first byte (10 ms ticks), when /proc tells. */
  readonly cpu: number | undefined;
}

async function cliPairing(stack: E2EStack, helloPort: number, build: CliBuild): Promise<CliPairing> {
  const share = await stack.startShare(['--once', ...shareAuditLogArgs(stack), '--expose', `hello=127.0.0.1:${helloPort}`]);
  const local = await freePort();
  const started = performance.now();
  // As stack.startConnect does (the bench's relay is plain HTTP: no --relay-ca), with this build.
  const connect = startProcess(...launched(build, ['connect', '--forward', `${local}:hello`, '--no-shell', share.code], stack.env('client', build.env)));
  try {
    await connect.waitFor(/paired with cluster/, FIRST_BYTE_TIMEOUT_MS, 'stderr');
    const paired = performance.now() - started;
    await connect.waitFor(/^export KUBECONFIG=/m, FIRST_BYTE_TIMEOUT_MS, 'stdout');
    const ready = performance.now() - started;
    await firstByte(local);
    const total = performance.now() - started;
    const cpu = connect.child.pid === undefined ? undefined : await processCpuSeconds(connect.child.pid);
    return { total, paired, ready, cpu: cpu === undefined ? undefined : cpu * 1000 };
  } finally {
    await connect.stop('SIGTERM', 5000);
    await share.process.stop('SIGTERM', 5000);
  }
}

async function inProcessPairing(stack: E2EStack, helloPort: number): Promise<number> {
  const share = await stack.startShare(['--once', ...shareAuditLogArgs(stack), '--expose', `hello=127.0.0.1:${helloPort}`]);
  const env = stack.env('client');
  const local = await freePort();
  const started = performance.now();
  const tunnel = new ClientTunnel({ relay: { url: env['KUBEPAIR_RELAY']!, token: env['KUBEPAIR_TOKEN'] }, code: parsePairingCode(share.code), forwards: [{ localPort: local, target: 'hello' }] });
  try {
    await within(FIRST_BYTE_TIMEOUT_MS, 'connect to be ready', tunnel.start());
    await firstByte(local);
    return performance.now() - started;
  } finally {
    await tunnel.close();
    await share.process.stop('SIGTERM', 5000);
  }
}

/** Wall milliseconds of `command args` from spawn until its stdout yields a byte, or until it exits 0 when `untilExit`. */
async function timeProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv, untilExit: boolean): Promise<number> {
  const started = performance.now();
  const child = spawn(command, [...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    return await timeChild(child, command, started, untilExit);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function timeChild(child: ChildProcessWithoutNullStreams, command: string, started: number, untilExit: boolean): Promise<number> {
  return within(
    FIRST_BYTE_TIMEOUT_MS,
    `${command} to answer`,
    new Promise<number>((resolve, reject) => {
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        if (stderr.length < 4000) stderr += chunk;
      });
      child.once('error', reject);
      if (untilExit) {
        child.once('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${command} exited ${code}: ${stderr}`))));
        child.stdout.resume();
      } else {
        child.stdout.once('data', () => {
          resolve(performance.now() - started);
          child.kill('SIGTERM');
        });
        child.once('exit', (code) => reject(new Error(`${command} exited ${code} before the first byte: ${stderr}`)));
      }
      child.stdin.on('error', () => undefined); // the child may exit before reading stdin
    }),
  );
}

/** `npm run bench -- --compare-cli FILE`: another build, run as the package is (with the compile cache), for a before/after in one run. */
export function comparedBuild(path: string): CliBuild {
  return { name: 'kubepair_compared', path, env: {} };
}

export async function runPairing(
  context: WorkloadContext,
  stack: E2EStack,
  helloPort: number,
  ssh: SshServer | undefined,
  bastion: SshBastion | undefined,
  compareCli?: string,
): Promise<WorkloadResult> {
  const builds: readonly CliBuild[] = compareCli === undefined ? CLI_BUILDS : [...CLI_BUILDS, comparedBuild(compareCli)];
  const series = (): Map<string, number[]> => new Map(builds.map((build) => [build.name, []]));
  const cli = series();
  const cliPaired = series();
  const cliReady = series();
  const cliCpu = series();
  const startup = series();
  const inProcess: number[] = [];
  const sshFirstByte: number[] = [];
  const sshJumpFirstByte: number[] = [];
  const home = stack.env('client')['HOME'];
  for (let round = 0; round <= context.runs; round++) {
    const parts: string[] = [];
    // The builds take turns in a different order each round (a change in load hits each alike).
    for (let i = 0; i < builds.length; i++) {
      const build = builds[(i + round) % builds.length]!;
      const c = await cliPairing(stack, helloPort, build);
      const s = await timeProcess(...launched(build, ['--version'], { PATH: process.env['PATH'] ?? '', ...(home !== undefined && { HOME: home }), ...build.env }), true);
      if (round > 0) {
        cli.get(build.name)!.push(c.total);
        cliPaired.get(build.name)!.push(c.paired);
        cliReady.get(build.name)!.push(c.ready);
        if (c.cpu !== undefined) cliCpu.get(build.name)!.push(c.cpu);
        startup.get(build.name)!.push(s);
      }
      parts.push(
        `${build.name} ${formatNumber(c.total, 0)} ms (paired at ${formatNumber(c.paired, 0)}, ready at ${formatNumber(c.ready, 0)}${c.cpu !== undefined ? `, ${formatNumber(c.cpu, 0)} ms CPU` : ''}; --version ${formatNumber(s, 0)} ms)`,
      );
    }
    const p = await inProcessPairing(stack, helloPort);
    const h =
      ssh === undefined
        ? undefined
        : await timeProcess(ssh.tools.ssh, [...sshClientArgs(ssh, SSH_CIPHER_AES_GCM), '-W', `127.0.0.1:${helloPort}`, '127.0.0.1'], { PATH: process.env['PATH'] ?? '', HOME: ssh.dir }, false);
    const j =
      bastion === undefined
        ? undefined
        : await timeProcess(bastion.target.tools.ssh, [...bastion.clientArgs(), '-W', `127.0.0.1:${helloPort}`, '127.0.0.1'], { PATH: process.env['PATH'] ?? '', HOME: bastion.jump.dir }, false);
    if (round > 0) {
      inProcess.push(p);
      if (h !== undefined) sshFirstByte.push(h);
      if (j !== undefined) sshJumpFirstByte.push(j);
    }
    context.log(
      `pairing ${round === 0 ? 'warm-up' : `run ${round}/${context.runs}`}: connect process ${parts.join('; ')}; in process ${formatNumber(p, 0)} ms` +
        `${h !== undefined ? `, ssh -W ${formatNumber(h, 0)} ms` : ''}${j !== undefined ? `, ssh -J -W ${formatNumber(j, 0)} ms` : ''}`,
    );
  }
  const one = (name: string, values: number[]): Map<string, number[]> => new Map([[name, values]]);
  const measurements: Measurement[] = [
    measurement(
      { id: 'pairing_ms', label: 'pairing: `connect` process start to first byte through the tunnel', unit: 'ms', better: 'lower', digits: 0 },
      new Map([...cli, ['ssh', sshFirstByte], ['ssh_jump', sshJumpFirstByte]]),
    ),
    measurement({ id: 'pairing_paired_ms', label: 'pairing: `connect` start to "paired" (handshake done)', unit: 'ms', better: 'lower', digits: 0 }, cliPaired),
    measurement({ id: 'pairing_ready_ms', label: 'pairing: `connect` start to listeners and kubeconfig ready', unit: 'ms', better: 'lower', digits: 0 }, cliReady),
    measurement({ id: 'pairing_cpu_ms', label: 'pairing: CPU the `connect` process used until the first byte', unit: 'CPU ms', better: 'lower', digits: 0 }, cliCpu),
    measurement({ id: 'pairing_in_process_ms', label: 'pairing: client role in an already running process, to first byte', unit: 'ms', better: 'lower', digits: 0 }, one('kubepair', inProcess)),
    measurement({ id: 'cli_startup_ms', label: 'CLI start-up alone (`kubepair --version`)', unit: 'ms', better: 'lower', digits: 0 }, startup),
  ];
  const skipped: Skip[] = [
    ...(ssh === undefined ? [{ what: 'pairing: ssh -W comparison', why: 'OpenSSH is not available (see the ssh skip)' }] : []),
    ...(bastion === undefined ? [{ what: 'pairing: ssh -J -W comparison', why: 'no bastion sshd (see the ssh skips)' }] : []),
  ];
  const [total, , , cpu, inProc, cliStart] = measurements;
  const pairing = medianOf(total, 'kubepair');
  const pairingSsh = medianOf(total, 'ssh');
  const pairingSshJump = medianOf(total, 'ssh_jump');
  return {
    measurements,
    headline: {
      pairing_ms: pairing,
      pairing_in_process_ms: medianOf(inProc, 'kubepair'),
      pairing_cpu_ms: medianOf(cpu, 'kubepair'),
      pairing_cli_startup_ms: medianOf(cliStart, 'kubepair'),
      pairing_ms_ssh: pairingSsh,
      pairing_ms_ssh_jump: pairingSshJump,
      pairing_ratio_vs_ssh: ratioOf(pairing, pairingSsh),
      pairing_ratio_vs_ssh_jump: ratioOf(pairing, pairingSshJump),
      pairing_ms_bundle_no_cache: medianOf(total, 'kubepair_bundle_no_cache'),
      pairing_ms_tsc: medianOf(total, 'kubepair_tsc'),
      pairing_cli_startup_ms_bundle_no_cache: medianOf(cliStart, 'kubepair_bundle_no_cache'),
      pairing_cli_startup_ms_tsc: medianOf(cliStart, 'kubepair_tsc'),
      ...(compareCli !== undefined && {
        pairing_ms_compared: medianOf(total, 'kubepair_compared'),
        pairing_cpu_ms_compared: medianOf(cpu, 'kubepair_compared'),
        pairing_cli_startup_ms_compared: medianOf(cliStart, 'kubepair_compared'),
      }),
    },
    skipped,
    notes: [
      'pairing and CLI start-up: `kubepair` is the package as shipped (the esbuild bundle, V8 compile cache); `kubepair_bundle_no_cache` the bundle with NODE_DISABLE_COMPILE_CACHE=1; `kubepair_tsc` tsc\'s one-file-per-module build without the cache (the package before issue 15).',
    ],
  };
}
