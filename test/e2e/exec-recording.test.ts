/**
 * Recorded exec sessions end to end (issue 14; docs/audit.md "Recorded sessions"): real relay,
 * `kubepair share --record-input --audit-chain` and `kubepair connect` processes, the fixture API
 * server and the real kubectl. An `exec -i` session's recording holds exactly the bytes that
 * crossed (what the test typed and what kubectl printed), `kubepair audit play` replays them,
 * `kubepair audit verify` checks the recording named in the log and fails on a changed or a
 * missing one; a recording that cannot be written refuses the exec (fail closed) and the sharer
 * sees why; SPDY exec is refused with a message naming the kubectl that works.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseEvent } from '../../src/audit/asciicast.js';
import type { AsciicastEvent } from '../../src/audit/asciicast.js';
import { PASSWORD_LINE_REDACTED } from '../../src/audit/password-prompt.js';
import type { AuditRecord } from '../helpers/audit-records.js';
import { readAuditRecords } from '../helpers/audit-records.js';
import { runKubepair } from '../helpers/cli.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { liftFileSizeLimit, limitFileSize } from '../helpers/file-size-limit.js';
import type { KubectlOptions } from '../helpers/kubectl.js';
import { kubectlSandbox, runKubectl, startKubectlInTerminal } from '../helpers/kubectl.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { waitUntil } from '../helpers/wait-until.js';

const WAIT_MS = 20_000;
const TEST_TIMEOUT_MS = 60_000;

const OBJECTS = [
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'default' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader-0', namespace: 'default' }, spec: { containers: [{ name: 'reader', image: 'busybox', stdin: true, stdinOnce: true }] } },
];

function execRecords(auditLog: string): AuditRecord[] {
  return readAuditRecords(auditLog).filter((record) => record['event'] === 'request' && record['subresource'] === 'exec');
}

/** The events of a recording; a last line cut off by a failed write (no newline) is left out. */
async function castEvents(path: string): Promise<AsciicastEvent[]> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  lines.pop();
  return lines.slice(1).map((line) => {
    const event = parseEvent(line);
    assert.ok(!('problem' in event), `event line ${line}`);
    return event;
  });
}

function joined(events: readonly AsciicastEvent[], code: string): string {
  return events.filter((event) => event.code === code).map((event) => event.data).join('');
}

describe('e2e: recorded exec sessions', { timeout: 6 * TEST_TIMEOUT_MS }, () => {
  let stack: E2EStack;
  let kubectl: KubectlOptions;
  let sandbox: Awaited<ReturnType<typeof kubectlSandbox>>;
  let share: ManagedProcess;
  let auditDir: string;
  let auditLog: string;
  before(async () => {
    stack = await startE2EStack({ api: { objects: OBJECTS } });
    auditDir = join(stack.dir, 'agent-audit');
    auditLog = join(auditDir, 'audit.jsonl');
    const started = await stack.startShare(['--policy', 'open', '--audit-log', auditLog, '--audit-chain', '--record-input']);
    share = started.process;
    const connectProcess = stack.startConnect(['--no-shell', started.code]);
    const exported = await connectProcess.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
    sandbox = await kubectlSandbox('kubepair-e2e-recording-');
    const kubeconfig = await sandbox.writeKubeconfig('tunnel.kubeconfig', await readFile(exported[1]!, 'utf8'));
    kubectl = { kubeconfig, home: sandbox.dir };
  });
  after(async () => {
    await stack.close();
    await sandbox.remove();
  });

  /** The exec record with its recording, once written. */
  async function recordedExec(count: number): Promise<AuditRecord> {
    await waitUntil(() => execRecords(auditLog).length >= count, WAIT_MS, `exec record ${count} in the audit log`);
    return execRecords(auditLog)[count - 1]!;
  }

  it('an exec -i session is recorded byte for byte, played back by audit play, and checked by audit verify', { timeout: TEST_TIMEOUT_MS }, async () => {
    const typed = 'hello recording\nsecond line é€\n\x1b[31mred\x1b[0m\n';
    const result = await runKubectl(['exec', '-i', 'web-0', '--', 'cat'], { ...kubectl, stdin: typed, timeoutMs: WAIT_MS });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, typed);

    const record = await recordedExec(1);
    assert.match(String(record['recording']), /^recordings\/\d{8}T\d{6}Z-[0-9a-f]{6}-\d+-[0-9a-f]{8}\.cast$/);
    assert.equal(record['recording_input'], true);
    assert.equal(record['recording_error'], undefined);
    const file = join(auditDir, String(record['recording']));
    const bytes = await readFile(file);
    assert.deepEqual([record['recording_bytes'], record['recording_sha256']], [bytes.length, createHash('sha256').update(bytes).digest('hex')]);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const header = JSON.parse(bytes.toString('utf8').split('\n')[0]!) as Record<string, unknown>;
    assert.deepEqual([header['version'], typeof header['width'], typeof header['height'], typeof header['timestamp']], [2, 'number', 'number', 'number']);
    const events = await castEvents(file);
    assert.equal(joined(events, 'o'), result.stdout, 'the output events are what kubectl printed');
    assert.equal(joined(events, 'i'), typed, 'the input events are what the test typed');

    const played = await runKubepair(['audit', 'play', file, '--speed', '1000', '--idle-limit', '0'], { env: stack.env('agent') });
    assert.equal(played.code, 0, played.stderr);
    assert.equal(played.stdout, result.stdout, 'audit play replays the received bytes');
    const inert = await runKubepair(['audit', 'play', file, '--inert', '--idle-limit', '0'], { env: stack.env('agent') });
    assert.equal(inert.code, 0, inert.stderr);
    assert.ok(inert.stdout.includes('\\x1b[31mred\\x1b[0m') && !inert.stdout.includes('\x1b'), '--inert shows escapes as text');

    const verified = await runKubepair(['audit', 'verify', auditLog], { env: stack.env('agent') });
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /\d+ session recordings? present and unchanged/);
  });

  it('an attach -i session is recorded too', { timeout: TEST_TIMEOUT_MS }, async () => {
    const result = await runKubectl(['attach', '-i', 'reader-0'], { ...kubectl, stdin: 'first\nsecond\n', timeoutMs: WAIT_MS });
    assert.equal(result.stdout, 'attached to reader-0/reader\necho: first\necho: second\n', result.stderr);
    const attach = (): AuditRecord | undefined => readAuditRecords(auditLog).find((record) => record['event'] === 'request' && record['subresource'] === 'attach');
    await waitUntil(() => attach() !== undefined, WAIT_MS, 'the attach record');
    const events = await castEvents(join(auditDir, String(attach()!['recording'])));
    assert.equal(joined(events, 'o'), result.stdout);
    assert.equal(joined(events, 'i'), 'first\nsecond\n');
  });

  it('Security: a password typed at a prompt in kubectl exec -it (a pty, keystrokes as typed) is not in the recording; what is typed after it is', { timeout: TEST_TIMEOUT_MS }, async () => {
    const before = execRecords(auditLog).length;
    const terminal = startKubectlInTerminal(['exec', '-it', 'web-0', '--', 'read-password'], kubectl);
    try {
      await terminal.waitForOutput((shown) => shown.includes('password for root:'), WAIT_MS);
      for (const key of 'hunter2-e2e-Qx7') terminal.type(key);
      terminal.type('\r');
      await terminal.waitForOutput((shown) => shown.includes('authenticated'), WAIT_MS);
      terminal.type('after the prompt\r');
      await terminal.waitForOutput((shown) => shown.includes('after the prompt'), WAIT_MS);
      terminal.type('\x04');
      assert.equal(await terminal.waitForExit(WAIT_MS), 0, terminal.output());
    } finally {
      await terminal.stop();
    }
    assert.ok(!terminal.output().includes('hunter2'), 'the fixture did not echo the password');
    const record = await recordedExec(before + 1);
    const file = join(auditDir, String(record['recording']));
    const events = await castEvents(file);
    assert.equal(joined(events, 'i'), `${PASSWORD_LINE_REDACTED}\rafter the prompt\r\x04`);
    assert.ok(!(await readFile(file, 'utf8')).includes('hunter2'), 'the password is nowhere in the recording');
  });

  it('Security: audit verify fails, naming the recording, when a recording was changed or is missing', { timeout: TEST_TIMEOUT_MS }, async () => {
    const record = await recordedExec(1);
    const copy = join(stack.dir, 'audit-copy');
    await cp(auditDir, copy, { recursive: true });
    const copiedLog = join(copy, 'audit.jsonl');
    const recording = join(copy, String(record['recording']));
    const original = await readFile(recording);
    // One byte of the output changed, the size kept.
    const tampered = Buffer.from(original);
    const at = tampered.indexOf('hello');
    tampered[at] = 'j'.charCodeAt(0);
    await writeFile(recording, tampered);
    const changed = await runKubepair(['audit', 'verify', copiedLog], { env: stack.env('agent') });
    assert.equal(changed.code, 1, changed.stdout);
    assert.match(changed.stderr, new RegExp(`recording ${String(record['recording']).replaceAll('.', '\\.')}: its SHA-256 differs`));
    assert.match(changed.stderr, /KP_ERR_AUDIT_VERIFY_FAILED|missing or changed/);

    await rm(recording);
    const missing = await runKubepair(['audit', 'verify', copiedLog], { env: stack.env('agent') });
    assert.equal(missing.code, 1, missing.stdout);
    assert.match(missing.stderr, /: it is missing/);
    await rm(copy, { recursive: true, force: true });
  });

  it('Security: a recording that cannot be created refuses the exec (fail closed), and the sharer sees why', { timeout: TEST_TIMEOUT_MS }, async () => {
    const before = execRecords(auditLog).length;
    const recordings = join(auditDir, 'recordings');
    // A broken disk for real, as root sees one: the directory's name is taken by a regular file,
    // so the kernel refuses to create anything under it (ENOTDIR).
    await mkdir(recordings, { recursive: true, mode: 0o700 });
    await rename(recordings, `${recordings}.aside`);
    await writeFile(recordings, 'not a directory');
    try {
      const result = await runKubectl(['exec', '-i', 'web-0', '--', 'cat'], { ...kubectl, stdin: 'never run\n', timeoutMs: WAIT_MS });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /cannot write the recording of this session, so it refuses it \(fail closed\)/);
      const record = await recordedExec(before + 1);
      assert.match(String(record['recording_error']), /cannot create recordings\/.*\((EEXIST|ENOTDIR)\)/);
      assert.equal(record['recording'], undefined);
      await share.waitFor(/exec .*web-0; recording: .*cannot create/, WAIT_MS, 'stderr');
      const execs = stack.api.requests().filter((request) => request.subresource === 'exec');
      assert.ok(execs.every((request) => !String(request.query ?? '').includes('never')), 'the API server never saw the refused exec');
    } finally {
      await rm(recordings, { force: true });
      await rename(`${recordings}.aside`, recordings);
    }
    const again = await runKubectl(['exec', '-i', 'web-0', '--', 'cat'], { ...kubectl, stdin: 'works again\n', timeoutMs: WAIT_MS });
    assert.equal(again.stdout, 'works again\n', again.stderr);
  });

  it('Security: a recording write that fails mid-session ends the session; nothing reached kubectl that was not recorded', { timeout: TEST_TIMEOUT_MS }, async () => {
    const before = execRecords(auditLog).length;
    const logSize = (await stat(auditLog)).size;
    // The share can no longer write past this size in any file (EFBIG, as a full disk): the audit
    // log keeps 64 KiB of room for its records, a recording gets no more than that in all.
    const limit = logSize + 64 * 1024;
    await limitFileSize(share.child.pid!, limit);
    let result;
    try {
      const line = `${'x'.repeat(99)}\n`;
      result = await runKubectl(['exec', '-i', 'web-0', '--', 'cat'], { ...kubectl, stdin: line.repeat(4000), timeoutMs: WAIT_MS });
      await waitUntil(() => execRecords(auditLog).slice(before).some((record) => record['recording_error'] !== undefined), WAIT_MS, 'the ended exec to be recorded');
    } finally {
      await liftFileSizeLimit(share.child.pid!);
    }
    assert.notEqual(result.code, 0, 'kubectl sees the session cut');
    // Records of the previous test's last exec may land after `before` was counted: take this one by its error.
    const record = execRecords(auditLog).slice(before).find((candidate) => candidate['recording_error'] !== undefined)!;
    assert.match(String(record['recording_error']), /cannot write recordings\/.*EFBIG/);
    const file = join(auditDir, String(record['recording']));
    const bytes = await readFile(file);
    assert.equal(record['recording_bytes'], bytes.length);
    const events = await castEvents(file);
    const recorded = joined(events, 'o');
    assert.ok(recorded.length < 400_000, 'the recording stopped');
    assert.ok(recorded.startsWith(result.stdout), `what kubectl received (${result.stdout.length} chars) was recorded first (${recorded.length} chars)`);
    await share.waitFor(/exec .*web-0; recording: .*cannot write recordings\/.*EFBIG/, WAIT_MS, 'stderr');
  });

  it('Security: exec over SPDY is refused while sessions are recorded, naming the kubectl that works', { timeout: TEST_TIMEOUT_MS }, async () => {
    const result = await runKubectl(['exec', '-i', 'web-0', '--', 'cat'], { ...kubectl, stdin: 'spdy\n', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, timeoutMs: WAIT_MS });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /only their WebSocket form can be recorded: use kubectl 1\.30 or newer/);
  });
});

describe('e2e: --record off serves exec unrecorded', { timeout: 3 * TEST_TIMEOUT_MS }, () => {
  let stack: E2EStack;
  let sandbox: Awaited<ReturnType<typeof kubectlSandbox>>;
  after(async () => {
    await stack.close();
    await sandbox.remove();
  });
  it('no recordings directory, no recording fields', { timeout: 2 * TEST_TIMEOUT_MS }, async () => {
    stack = await startE2EStack({ api: { objects: OBJECTS } });
    const auditDir = join(stack.dir, 'agent-audit');
    await mkdir(auditDir, { recursive: true, mode: 0o700 });
    const auditLog = join(auditDir, 'audit.jsonl');
    const started = await stack.startShare(['--policy', 'open', '--audit-log', auditLog, '--record', 'off']);
    const connectProcess = stack.startConnect(['--no-shell', started.code]);
    const exported = await connectProcess.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
    sandbox = await kubectlSandbox('kubepair-e2e-recording-off-');
    const kubeconfig = await sandbox.writeKubeconfig('tunnel.kubeconfig', await readFile(exported[1]!, 'utf8'));
    const result = await runKubectl(['exec', '-i', 'web-0', '--', 'cat'], { kubeconfig, home: sandbox.dir, stdin: 'plain\n', timeoutMs: WAIT_MS });
    assert.equal(result.stdout, 'plain\n', result.stderr);
    await waitUntil(() => execRecords(auditLog).length === 1, WAIT_MS, 'the exec record');
    assert.equal(execRecords(auditLog)[0]!['recording'], undefined);
    await assert.rejects(stat(join(auditDir, 'recordings')), { code: 'ENOENT' });
  });
});
