/**
 * The hardened systemd unit that docs/operations.md ("Running a relay cluster", step 3) gives
 * operators, held to the relay as it runs. No systemd runs here as PID 1, so the unit is not
 * started; instead two things that would stop a node in production are checked for real:
 *
 * - `systemd-analyze verify` reads the unit exactly as printed (only ExecStart points at this
 *   build) and must report nothing: an unknown or misspelt directive is "ignored" by systemd with
 *   a warning, which would silently drop a protection.
 * - The relay is run with the unit's kind of flags (TLS, a Redis store, a cluster key, a tokens
 *   file, a state directory, an audit log, a trusted proxy) under `strace -f`, with the open-files
 *   limit as `LimitNOFILE=` sets it (soft = hard), through start, pairing, kubectl requests,
 *   SIGHUP and SIGTERM. Every system call it made must be one the unit's `SystemCallFilter=`
 *   lines admit (expanded with `systemd-analyze syscall-filter`; a call outside them would kill
 *   the relay with SIGSYS), and every socket it opened must be of a family
 *   `RestrictAddressFamilies=` admits.
 *
 * Inputs: docs/operations.md (the project's own), the trace file strace writes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CLI_PATH } from '../helpers/cli.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import { repoPath } from '../helpers/paths.js';
import type { TestRedis } from '../helpers/redis-server.js';
import { startRedis } from '../helpers/redis-server.js';
import { freePort } from '../helpers/tcp.js';
import { waitUntilAsync } from '../helpers/wait-until.js';

const run = promisify(execFile);

/** The line that opens the unit's code block in docs/operations.md. */
const UNIT_MARKER = '# /etc/systemd/system/kubepair-relay.service';

/** The unit file as docs/operations.md prints it. */
async function documentedUnit(): Promise<string> {
  const doc = await readFile(repoPath('docs/operations.md'), 'utf8');
  const start = doc.indexOf(`${UNIT_MARKER}\n`);
  assert.ok(start >= 0, `docs/operations.md has no "${UNIT_MARKER}" block`);
  const body = doc.slice(start + UNIT_MARKER.length + 1);
  const end = body.indexOf('\n```');
  assert.ok(end > 0, 'the unit block in docs/operations.md is not closed');
  return `${body.slice(0, end)}\n`;
}

/** The values of every `Key=` line in [Service] (continuation lines joined), in order. */
function directiveValues(unit: string, key: string): string[] {
  const joined = unit.replace(/\\\n\s*/g, ' ');
  return joined
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1).trim());
}

/** `systemd-analyze syscall-filter GROUP`, groups inside it expanded, as system call names. */
async function expandSyscallGroup(group: string, seen = new Set<string>()): Promise<Set<string>> {
  const names = new Set<string>();
  if (seen.has(group)) return names;
  seen.add(group);
  const { stdout } = await run('systemd-analyze', ['syscall-filter', group]);
  for (const line of stdout.split('\n').slice(1)) {
    const entry = line.trim();
    if (entry === '' || entry.startsWith('#')) continue;
    if (entry.startsWith('@')) for (const name of await expandSyscallGroup(entry, seen)) names.add(name);
    else names.add(entry);
  }
  return names;
}

/**
 * The system calls the unit's SystemCallFilter= lines admit: an allow list (the first line
 * without `~`), then each `~` line taking its entries out, as systemd applies them in order.
 */
async function admittedSyscalls(unit: string): Promise<Set<string>> {
  const admitted = new Set<string>();
  let allowListSeen = false;
  for (const value of directiveValues(unit, 'SystemCallFilter')) {
    const deny = value.startsWith('~');
    const entries = (deny ? value.slice(1) : value).split(/\s+/).filter((entry) => entry !== '');
    for (const entry of entries) {
      const names = entry.startsWith('@') ? await expandSyscallGroup(entry) : new Set([entry]);
      for (const name of names) {
        if (deny) admitted.delete(name);
        else admitted.add(name);
      }
    }
    if (!deny) allowListSeen = true;
  }
  assert.ok(allowListSeen, 'the unit has no SystemCallFilter= allow list');
  return admitted;
}

/** The system call names and socket address families in an `strace -f` output file. */
function tracedCalls(trace: string): { syscalls: Set<string>; families: Set<string> } {
  const syscalls = new Set<string>();
  const families = new Set<string>();
  for (const line of trace.split('\n')) {
    // `PID name(args) = result`, `PID name(args <unfinished ...>`, `PID <... name resumed>...`;
    // signal (`--- SIG`) and exit (`+++`) lines name no call.
    const call = /^\d+\s+(?:<\.\.\. )?([a-z_][a-z0-9_]*)(?:\(| resumed>)/.exec(line);
    if (call !== null) syscalls.add(call[1]!);
    const socket = /^\d+\s+socket(?:pair)?\((AF_[A-Z0-9]+)/.exec(line);
    if (socket !== null) families.add(socket[1]!);
  }
  return { syscalls, families };
}

/** The hard open-files limit of this process (the relay gets soft = hard, as LimitNOFILE= sets it). */
async function hardOpenFilesLimit(): Promise<string> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const row = /^Max open files\s+\S+\s+(\S+)/m.exec(limits);
  assert.ok(row !== null, '/proc/self/limits has no "Max open files" row');
  return row[1]!;
}

describe('The documented systemd unit of a relay node (docs/operations.md)', () => {
  let unit: string;
  let dir: string;
  before(async () => {
    unit = await documentedUnit();
    dir = await mkdtemp(join(tmpdir(), 'kubepair-unit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('systemd-analyze verify reads every directive of the unit without a warning', async () => {
    const execStarts = directiveValues(unit, 'ExecStart');
    assert.equal(execStarts.length, 1, 'one ExecStart= line');
    assert.match(execStarts[0]!, /^\/usr\/bin\/kubepair relay /);
    // Only the program changes: verify checks that ExecStart's executable exists.
    const runnable = unit.replace(/^ExecStart=\/usr\/bin\/kubepair /m, `ExecStart=${process.execPath} ${CLI_PATH} `);
    const file = join(dir, 'kubepair-relay.service');
    await writeFile(file, runnable);
    const verified = await run('systemd-analyze', ['verify', file]).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    assert.equal(verified.code, 0, verified.output);
    assert.equal(verified.output, '', 'systemd-analyze verify warned about the unit');
  });

  it('systemd-analyze verify does warn about a misspelt directive (so the check above can fail)', async () => {
    const broken = unit.replace('ProtectSystem=strict', 'ProtectSystem=strictly').replace(/^ExecStart=\/usr\/bin\/kubepair /m, `ExecStart=${process.execPath} ${CLI_PATH} `);
    const file = join(dir, 'kubepair-relay.service');
    await writeFile(file, broken);
    const { stdout, stderr } = await run('systemd-analyze', ['verify', file]);
    assert.match(stdout + stderr, /protect system value/i);
  });

  describe('the relay under strace, with the unit\'s kind of flags', () => {
    let redis: TestRedis;
    let stack: E2EStack;
    let home: Awaited<ReturnType<typeof kubectlSandbox>>;
    let traceFile: string;
    before(async () => {
      redis = await startRedis();
      home = await kubectlSandbox('kubepair-unit-home-');
      traceFile = join(dir, 'relay.strace');
      const clusterKeyFile = join(dir, 'cluster-key');
      await writeFile(clusterKeyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
      const port = await freePort();
      const openFiles = await hardOpenFilesLimit();
      stack = await startE2EStack({
        relayTls: true,
        relayPort: port,
        relayArgs: ['--store', redis.url, '--advertise', `https://127.0.0.1:${port}`, '--cluster-key-file', clusterKeyFile, '--trust-proxy', '127.0.0.1', '--log-level', 'info'],
        // -D: strace runs as a grandchild, so the relay keeps the pid the stack stops.
        relayWrapper: ['strace', '-D', '-f', '-q', '-o', traceFile, '--', 'prlimit', `--nofile=${openFiles}:${openFiles}`, '--'],
      });
    });
    after(async () => {
      await stack?.close();
      await home?.remove();
      await redis?.stop();
    });

    it('makes only system calls the unit admits and opens only sockets of the families it admits', async () => {
      const share = await stack.startShare(['--once', '--policy', 'open']);
      const connect = stack.startConnect(['--no-shell', share.code]);
      const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
      const kubectl = { kubeconfig: exported[1]!, home: home.dir };
      const created = await runKubectl(['create', 'configmap', 'unit', '--from-literal=a=b'], kubectl);
      assert.equal(created.code, 0, created.stderr);
      const listed = await runKubectl(['get', 'configmaps', '-o', 'name'], kubectl);
      assert.match(listed.stdout, /configmap\/unit/, listed.stderr);

      const relay = stack.relay;
      relay.child.kill('SIGHUP');
      await relay.waitFor(/"event":"tokens_reloaded"/, 15_000, 'stdout');
      await connect.stop('SIGTERM', 10_000);
      const exit = await relay.stop('SIGTERM', 30_000);
      assert.deepEqual(exit, { code: 0, signal: null }, 'the relay drains and exits 0 on SIGTERM');
      // The tracer (a grandchild) writes the relay's exit last; wait for it, bounded.
      const pid = String(relay.child.pid);
      // strace pads the pid column to its widest pid so far ("381   +++ exited ...").
      const exitLine = new RegExp(`^${pid}\\s+\\+\\+\\+ exited with 0 \\+\\+\\+$`, 'm');
      await waitUntilAsync(async () => exitLine.test(await readFile(traceFile, 'utf8').catch(() => '')), 15_000, 'strace to record the relay\'s exit').catch(async (err: Error) => {
        const tail = (await readFile(traceFile, 'utf8').catch(() => '')).split('\n').slice(-8).join('\n');
        throw new Error(`${err.message}; the trace ends:\n${tail}`);
      });

      const { syscalls, families } = tracedCalls(await readFile(traceFile, 'utf8'));
      // The trace covers the work: start (execve), TLS and network (accept4), Redis (connect).
      for (const expected of ['execve', 'accept4', 'connect', 'exit_group']) assert.ok(syscalls.has(expected), `the trace has ${expected}`);
      const admitted = await admittedSyscalls(unit);
      const refused = [...syscalls].filter((name) => !admitted.has(name)).sort();
      assert.deepEqual(refused, [], `system calls the unit's SystemCallFilter= would refuse (SIGSYS): ${refused.join(', ')}`);

      const allowedFamilies = new Set(directiveValues(unit, 'RestrictAddressFamilies').flatMap((value) => value.split(/\s+/)));
      assert.ok(allowedFamilies.has('AF_INET'), 'RestrictAddressFamilies= read from the unit');
      const foreign = [...families].filter((family) => !allowedFamilies.has(family) && !(family === 'AF_LOCAL' && allowedFamilies.has('AF_UNIX')));
      assert.deepEqual(foreign, [], `socket families RestrictAddressFamilies= refuses: ${foreign.join(', ')}`);
    });
  });
});

describe('The unit checks themselves', () => {
  it('a deny line takes a group out of the allow list, as systemd applies them', async () => {
    const admitted = await admittedSyscalls('[Service]\nSystemCallFilter=@system-service\nSystemCallFilter=~@privileged @resources\n');
    assert.ok(admitted.has('read') && admitted.has('epoll_wait'), 'basic calls admitted');
    for (const refused of ['setuid', 'setrlimit', 'sched_setaffinity', 'chown']) assert.ok(!admitted.has(refused), `${refused} refused`);
  });

  it('the trace parser finds calls in finished, unfinished and resumed lines, and socket families', () => {
    const { syscalls, families } = tracedCalls([
      '101 execve("/usr/bin/node", ["node"], 0x7ffd /* 3 vars */) = 0',
      '102 futex(0x7f, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>',
      '103 <... epoll_pwait resumed>[], 1024, 0, NULL, 8) = 0',
      '104 socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = 21',
      '104 socketpair(AF_UNIX, SOCK_STREAM, 0, [22, 23]) = 0',
      '101 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER} ---',
      '101 +++ exited with 0 +++',
    ].join('\n'));
    assert.deepEqual([...syscalls].sort(), ['epoll_pwait', 'execve', 'futex', 'socket', 'socketpair']);
    assert.deepEqual([...families].sort(), ['AF_NETLINK', 'AF_UNIX']);
  });
});
