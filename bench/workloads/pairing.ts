/**
 * Workload 5, pairing (issue 6): from the start of `kubepair connect CODE --forward P:hello` to
 * the first byte through the tunnel (the target's hello server writes one byte per connection).
 * A `kubepair share --once` waits with a fresh code before each run (not timed). Figures:
 *
 * - `connect` process: spawn of the CLI to the first byte: what a user waits for. Split into
 *   spawn → "paired" on stderr, → ready (the export line), → first byte.
 * - in process: the client role's `ClientTunnel.start()` called from this process (modules loaded,
 *   JIT warm) to the first byte: the protocol and set-up work without Node's start-up.
 * - CLI start-up alone: `kubepair --version`, the floor under the first figure.
 * - ssh: `ssh -W host:port` (stdio forwarding) spawn to the first byte: TCP, key exchange,
 *   public-key authentication, channel open.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { E2EStack } from '../../test/helpers/e2e-stack.js';
import { CLI_PATH } from '../../test/helpers/cli.js';
import { within } from '../../test/helpers/relay-process.js';
import { parsePairingCode } from '../../src/channel/pairing-code.js';
import { ClientTunnel } from '../../src/client/client-tunnel.js';
import { openSocket } from '../lib/load.js';
import { processCpuSeconds } from '../lib/process-cost.js';
import { formatNumber } from '../lib/report.js';
import type { SshServer } from '../lib/ssh-tunnel.js';
import { SSH_CIPHER_AES_GCM, sshClientArgs } from '../lib/ssh-tunnel.js';
import { freePort } from '../lib/tunnel.js';
import type { Measurement, Skip, WorkloadContext, WorkloadResult } from './workload.js';
import { measurement, medianOf } from './workload.js';

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

interface CliPairing {
  readonly total: number;
  readonly paired: number;
  readonly ready: number;
  /** CPU ms the connect process used until the first byte (10 ms ticks), when /proc tells. */
  readonly cpu: number | undefined;
}

async function cliPairing(stack: E2EStack, helloPort: number): Promise<CliPairing> {
  const share = await stack.startShare(['--once', '--expose', `hello=127.0.0.1:${helloPort}`]);
  const local = await freePort();
  const started = performance.now();
  const connect = stack.startConnect(['--forward', `${local}:hello`, '--no-shell', share.code]);
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
  const share = await stack.startShare(['--once', '--expose', `hello=127.0.0.1:${helloPort}`]);
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

export async function runPairing(context: WorkloadContext, stack: E2EStack, helloPort: number, ssh: SshServer | undefined): Promise<WorkloadResult> {
  const cli: number[] = [];
  const cliPaired: number[] = [];
  const cliReady: number[] = [];
  const cliCpu: number[] = [];
  const inProcess: number[] = [];
  const startup: number[] = [];
  const sshFirstByte: number[] = [];
  for (let round = 0; round <= context.runs; round++) {
    const c = await cliPairing(stack, helloPort);
    const p = await inProcessPairing(stack, helloPort);
    const s = await timeProcess(process.execPath, [CLI_PATH, '--version'], { PATH: process.env['PATH'] ?? '' }, true);
    const h =
      ssh === undefined
        ? undefined
        : await timeProcess(ssh.tools.ssh, [...sshClientArgs(ssh, SSH_CIPHER_AES_GCM), '-W', `127.0.0.1:${helloPort}`, '127.0.0.1'], { PATH: process.env['PATH'] ?? '', HOME: ssh.dir }, false);
    if (round > 0) {
      cli.push(c.total);
      cliPaired.push(c.paired);
      cliReady.push(c.ready);
      if (c.cpu !== undefined) cliCpu.push(c.cpu);
      inProcess.push(p);
      startup.push(s);
      if (h !== undefined) sshFirstByte.push(h);
    }
    context.log(
      `pairing ${round === 0 ? 'warm-up' : `run ${round}/${context.runs}`}: connect process ${formatNumber(c.total, 0)} ms (paired at ${formatNumber(c.paired, 0)}, ready at ${formatNumber(c.ready, 0)}` +
        `${c.cpu !== undefined ? `, ${formatNumber(c.cpu, 0)} ms CPU` : ''}), ` +
        `in process ${formatNumber(p, 0)} ms, CLI start-up ${formatNumber(s, 0)} ms${h !== undefined ? `, ssh -W ${formatNumber(h, 0)} ms` : ''}`,
    );
  }
  const one = (name: string, values: number[]): Map<string, number[]> => new Map([[name, values]]);
  const measurements: Measurement[] = [
    measurement(
      { id: 'pairing_ms', label: 'pairing: `connect` process start to first byte through the tunnel', unit: 'ms', better: 'lower', digits: 0 },
      new Map([['kubepair', cli], ...(sshFirstByte.length > 0 ? [['ssh', sshFirstByte] as [string, number[]]] : [])]),
    ),
    measurement({ id: 'pairing_paired_ms', label: 'pairing: `connect` start to "paired" (handshake done)', unit: 'ms', better: 'lower', digits: 0 }, one('kubepair', cliPaired)),
    measurement({ id: 'pairing_ready_ms', label: 'pairing: `connect` start to listeners and kubeconfig ready', unit: 'ms', better: 'lower', digits: 0 }, one('kubepair', cliReady)),
    measurement({ id: 'pairing_cpu_ms', label: 'pairing: CPU the `connect` process used until the first byte', unit: 'CPU ms', better: 'lower', digits: 0 }, one('kubepair', cliCpu)),
    measurement({ id: 'pairing_in_process_ms', label: 'pairing: client role in an already running process, to first byte', unit: 'ms', better: 'lower', digits: 0 }, one('kubepair', inProcess)),
    measurement({ id: 'cli_startup_ms', label: 'CLI start-up alone (`kubepair --version`)', unit: 'ms', better: 'lower', digits: 0 }, one('kubepair', startup)),
  ];
  const skipped: Skip[] = ssh === undefined ? [{ what: 'pairing: ssh -W comparison', why: 'OpenSSH is not available (see the ssh skip)' }] : [];
  const [total, , , cpu, inProc, cliStart] = measurements;
  return {
    measurements,
    headline: {
      pairing_ms: medianOf(total, 'kubepair'),
      pairing_in_process_ms: medianOf(inProc, 'kubepair'),
      pairing_cpu_ms: medianOf(cpu, 'kubepair'),
      pairing_cli_startup_ms: medianOf(cliStart, 'kubepair'),
      pairing_ms_ssh: medianOf(total, 'ssh'),
    },
    skipped,
    notes: [],
  };
}
