/**
 * End to end, session control while it runs (issue 14): real relay, `kubepair share`, `kubepair
 * connect --no-shell`, the real kubectl and the real `kubepair status` / `kubepair session ...`
 * against the processes' local control sockets. `status` on both sides; a policy narrowed
 * mid-session refuses the next kubectl request with the new rule and connect prints the change;
 * an extension beyond --max-duration is refused; ending one session leaves share offering codes;
 * every change is in the chained audit log. Security: the socket is 0600 in a 0700 directory; a
 * hostile local client sending garbage, oversized or slow lines gets an error and neither
 * crashes nor stalls share; the connect side's socket cannot change the policy.
 */
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readFile } from 'node:fs/promises';
import { connect as connectSocket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findControlSockets, sendControlCommand } from '../../src/control/control-client.js';
import { ProcessStatusSchema } from '../../src/control/session-status.js';
import { isKubepairError } from '../../src/errors/index.js';
import { CONTROL_REQUEST_MAX_BYTES } from '../../src/limits.js';
import { runKubepair } from '../helpers/cli.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import { within } from '../helpers/wait-until.js';

const T = { timeout: 120_000 };

describe('e2e: session control while it runs', () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  before(async () => {
    stack = await startE2EStack({
      api: { objects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' }, data: { keep: 'me' } }] },
    });
    home = await kubectlSandbox('kubepair-e2e-session-control-');
  });
  after(async () => {
    await stack.close();
    await home.remove();
  });

  /** Run `kubepair ARGS` as the stack's user (the same runtime directory as share and connect). */
  const kubepair = (args: readonly string[]) => runKubepair(args, { env: stack.env('agent'), timeoutMs: 60_000 });

  async function pairedSession(auditLog: string): Promise<{ share: ManagedProcess; connect: ManagedProcess; kubeconfig: string }> {
    const share = await stack.startShare(['--max-duration', '1h', '--audit-log', auditLog, '--audit-chain']);
    const connect = stack.startConnect(['--no-shell', share.code]);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
    return { share: share.process, connect, kubeconfig: exported[1]! };
  }

  it('status on both sides; a narrowed policy refuses the next request and connect says so; extension past --max-duration is refused; ending the session leaves share offering; all audited', T, async () => {
    const auditLog = join(stack.dir, 'control-audit', 'audit.jsonl');
    const { share, connect, kubeconfig } = await pairedSession(auditLog);
    const sharePid = String(share.child.pid);
    const connectPid = String(connect.child.pid);
    try {
      // Both run under one user here: without --pid the CLI names them and asks for one.
      const ambiguous = await kubepair(['status']);
      assert.equal(ambiguous.code, 2, ambiguous.stderr);
      assert.match(ambiguous.stderr, new RegExp(`several kubepair processes are running; choose one with --pid: .*share \\(pid ${sharePid}\\)`));

      const shareStatus = ProcessStatusSchema.parse(JSON.parse((await kubepair(['status', '--pid', sharePid, '--json'])).stdout));
      assert.equal(shareStatus.role, 'share');
      assert.equal(shareStatus.sessions.length, 1);
      const session = shareStatus.sessions[0]!;
      assert.deepEqual(session.policy, { mode: 'guarded', allow: [], deny: [] });
      assert.equal(session.mode, 'proxy');
      assert.equal(Date.parse(session.latest_end!) - Date.parse(session.started_at), 3_600_000, 'the latest end is the start plus --max-duration');
      const human = await kubepair(['status', '--pid', sharePid]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, new RegExp(`^kubepair share \\(pid ${sharePid}\\): 1 session open\\n  session ${session.id}\\n`));
      assert.match(human.stdout, /policy: {3}guarded\n/);

      const connectStatus = ProcessStatusSchema.parse(JSON.parse((await kubepair(['status', '--pid', connectPid, '--json'])).stdout));
      assert.equal(connectStatus.role, 'connect');
      assert.equal(connectStatus.sessions[0]!.id, session.id, 'both sides name the same session');
      assert.equal(connectStatus.sessions[0]!.expires_at, session.expires_at);

      const before = await runKubectl(['get', 'configmap', 'x', '-o', 'name'], { kubeconfig, home: home.dir });
      assert.equal(before.code, 0, before.stderr);

      // Narrow: a --deny rule from the next request on.
      const narrowed = await kubepair(['session', 'policy', '--pid', sharePid, '--deny', 'get configmaps']);
      assert.equal(narrowed.code, 0, narrowed.stderr);
      assert.match(narrowed.stdout, /policy is now guarded, 1 rule: deny "get configmaps"; the client was told/);
      const refused = await runKubectl(['get', 'configmap', 'x', '-o', 'name'], { kubeconfig, home: home.dir });
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /Error from server \(Forbidden\): kubepair policy "guarded" refuses "get configmaps" \(tier 0\): refused by --deny "get configmaps"/);
      await connect.waitFor(/kubepair: the sharer changed this session: policy is now guarded, 1 rule: deny "get configmaps" \(was guarded\)/, 20_000, 'stderr');
      const connectAfter = ProcessStatusSchema.parse(JSON.parse((await kubepair(['status', '--pid', connectPid, '--json'])).stdout));
      assert.deepEqual(connectAfter.sessions[0]!.policy, { mode: 'guarded', allow: [], deny: ['get configmaps'] }, "connect's state follows the change");
      assert.match(share.stderr(), /kubepair share: session policy changed to guarded, 1 rule: deny "get configmaps" \(was guarded\)/);

      // The session started at its longest: an extension is refused, a shortening and a smaller extension are not.
      const tooLong = await kubepair(['session', 'extend', '1m', '--pid', sharePid]);
      assert.equal(tooLong.code, 2, tooLong.stderr);
      assert.match(tooLong.stderr, /a session cannot last beyond --max-duration from its start: it started at .* and may last until .* at the latest/);
      const shortened = await kubepair(['session', 'shorten', '30m', '--pid', sharePid]);
      assert.equal(shortened.code, 0, shortened.stderr);
      await connect.waitFor(/kubepair: the sharer changed this session: it now ends at /, 20_000, 'stderr');
      const extended = await kubepair(['session', 'extend', '10m', '--pid', sharePid]);
      assert.equal(extended.code, 0, extended.stderr);
      const afterExpiry = ProcessStatusSchema.parse(JSON.parse((await kubepair(['status', '--pid', sharePid, '--json'])).stdout)).sessions[0]!;
      assert.equal(Date.parse(afterExpiry.expires_at), Date.parse(session.expires_at) - 20 * 60_000);

      // End this session: connect is told why; share offers a fresh code.
      const ended = await kubepair(['session', 'end', '--pid', sharePid]);
      assert.equal(ended.code, 0, ended.stderr);
      assert.equal((await connect.exitedWithin(20_000)).code, 1, connect.stderr());
      assert.match(connect.stderr(), /kubepair: the session ended: the sharer ended it; the kubeconfig is removed\n/);
      await within(30_000, 'a fresh code', waitForSecondCode(share));
      const idle = ProcessStatusSchema.parse(JSON.parse((await kubepair(['status', '--json'])).stdout));
      assert.deepEqual({ role: idle.role, sessions: idle.sessions }, { role: 'share', sessions: [] }, 'only share runs now, with no session');
    } finally {
      await connect.stop('SIGKILL');
      await share.stop('SIGTERM', 20_000);
    }
    const verified = await kubepair(['audit', 'verify', auditLog]);
    assert.equal(verified.code, 0, verified.stderr);
    const changes = (await readFile(auditLog, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => record['event'] === 'session_changed')
      .map((record) => ({ change: record['change'], by: record['by'], policy: record['policy'] }));
    assert.deepEqual(changes, [
      { change: 'policy', by: 'sharer', policy: { mode: 'guarded', allow: [], deny: ['get configmaps'] } },
      { change: 'expiry', by: 'sharer', policy: undefined },
      { change: 'expiry', by: 'sharer', policy: undefined },
      { change: 'ended', by: 'sharer', policy: undefined },
    ]);
  });

  it('with no share or connect running, status says so and exits 1', T, async () => {
    const runtime = join(stack.dir, 'empty-run');
    await mkdir(runtime, { mode: 0o700 });
    await chmod(runtime, 0o700);
    const result = await runKubepair(['status'], { env: { ...stack.env('agent'), XDG_RUNTIME_DIR: runtime }, timeoutMs: 60_000 });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /no kubepair share or connect of this user is running: no share or connect is running/);
  });

  it('Security: the socket is 0600 in a 0700 directory; hostile local clients get errors and share keeps answering and serving; the connect side cannot change the policy', T, async () => {
    const auditLog = join(stack.dir, 'control-audit-2', 'audit.jsonl');
    const { share, connect, kubeconfig } = await pairedSession(auditLog);
    try {
      const sockets = await findControlSockets({ env: stack.env('agent') });
      const shareSocket = sockets.find((socket) => socket.pid === share.child.pid)!;
      const connectSocketEntry = sockets.find((socket) => socket.pid === connect.child.pid)!;
      assert.ok(shareSocket !== undefined && connectSocketEntry !== undefined, JSON.stringify(sockets));
      assert.equal((await lstat(shareSocket.path)).mode & 0o777, 0o600);
      assert.equal((await lstat(join(shareSocket.path, '..'))).mode & 0o777, 0o700);

      // A slow client holds a connection open while the others go on.
      const slow = connectSocket(shareSocket.path);
      slow.on('error', () => undefined);
      slow.write('{"v":1,');
      try {
        for (const garbage of ['\u0000\u00ff garbage\n', `${'x'.repeat(CONTROL_REQUEST_MAX_BYTES + 10)}\n`, '{"v":1,"command":"session.policy","args":{"mode":"open","__proto__":{}}}\n']) {
          const answer = await rawAnswer(shareSocket.path, garbage);
          assert.match(answer, /^\{"ok":false,"error":\{"code":"KP_ERR_CONTROL_REQUEST(_INVALID|_TOO_LARGE)"/, answer);
        }
        const status = ProcessStatusSchema.parse(await sendControlCommand(shareSocket.path, 'status'));
        assert.equal(status.sessions.length, 1, 'share still answers while the slow client waits');
        const served = await runKubectl(['get', 'configmap', 'x', '-o', 'name'], { kubeconfig, home: home.dir });
        assert.equal(served.code, 0, `share still serves: ${served.stderr}`);
      } finally {
        slow.destroy();
      }

      // Only the agent decides: connect's socket has no command that changes the session.
      for (const command of ['session.policy', 'session.expiry', 'session.end']) {
        await assert.rejects(sendControlCommand(connectSocketEntry.path, command, { mode: 'open', by_ms: 60_000 }), (err: unknown) => isKubepairError(err, 'KP_ERR_CONTROL_COMMAND_UNKNOWN'), command);
      }
      // And the session commands of the CLI only ever go to a share.
      const viaConnect = await kubepair(['session', 'policy', '--pid', String(connect.child.pid), '--policy', 'open']);
      assert.equal(viaConnect.code, 1, viaConnect.stderr);
      assert.match(viaConnect.stderr, /no kubepair share or connect of this user is running: no share with pid/);
      const status = ProcessStatusSchema.parse(await sendControlCommand(shareSocket.path, 'status'));
      assert.equal(status.sessions[0]!.policy.mode, 'guarded', 'the policy is unchanged');
      assert.equal(share.child.exitCode, null, 'share is still running');
    } finally {
      await connect.stop('SIGKILL');
      await share.stop('SIGTERM', 20_000);
    }
  });
});

/** Resolves once share has printed a second pairing code. */
async function waitForSecondCode(share: ManagedProcess): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if ((share.stdout().match(/Pairing code: /g) ?? []).length >= 2) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`share offered no second code: ${share.stderr()}`);
}

/** Send `text` raw and read the answer until the server closes. */
function rawAnswer(path: string, text: string): Promise<string> {
  return within(
    20_000,
    'the raw control answer',
    new Promise<string>((resolve, reject) => {
      const socket = connectSocket(path);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      // The server may answer and close before it has read everything (an oversized line): what came back counts.
      socket.on('error', (err) => (chunks.length > 0 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(err)));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.once('connect', () => socket.end(text));
    }),
  );
}
