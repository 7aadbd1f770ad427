/**
 * End to end (issue 12 "the window expiring"; docs/design.md §8.1): a session whose link does not
 * come back within the agent's `--resume-window` ends on both sides, as real processes. share
 * (`--once`) and connect each say so in one line, connect removes its kubeconfig, and both exit
 * with the code docs/exit-codes.md gives a session lost to the window: 1, a kubepair failure.
 * The agent's audit log records the end with KP_ERR_RESUME_WINDOW_EXPIRED.
 *
 * Two ways to lose the link for good: the relay killed and never started again, and the client's
 * carrier black-holed (test/helpers/fault-proxy.ts) while the relay stays up.
 */
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { startRelay } from '../helpers/relay-process.js';

const T = { timeout: 180_000 };
/** The smallest window worth testing: a few seconds, so that the test is short and the end is the window's. */
const WINDOW = '3s';
const WINDOW_EXPIRED = /the link did not come back within the resume window; the session ended/;
/** connect names who went away (docs/usage.md): from its side the relay could not be reached again. */
const CONNECT_WINDOW_EXPIRED = /the session ended: the relay went away and did not come back within the resume window \(3 s\); the kubeconfig is removed/;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The agent's audit records of `event` (the share's default audit log in the stack's state directory). */
async function auditRecords(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('e2e: the resume window closes', { timeout: 600_000 }, () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  before(async () => {
    stack = await startE2EStack();
    home = await kubectlSandbox('kubepair-e2e-window-');
  });
  after(async () => {
    await stack?.close();
    await home?.remove();
  });

  /** share --once with a short window and a connect paired to it through `connectRelay`, kubectl working. */
  async function pairedSession(agentRelay: string, connectRelay: string, agentToken: string, clientToken: string, auditLog: string) {
    const share = await stack.startShare(['--once', '--resume-window', WINDOW, '--audit-log', auditLog], { KUBEPAIR_RELAY: agentRelay, KUBEPAIR_TOKEN: agentToken });
    const connect = stack.startConnect(['--no-shell', share.code], { KUBEPAIR_RELAY: connectRelay, KUBEPAIR_TOKEN: clientToken });
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
    const kubeconfig = exported[1]!;
    const ok = await runKubectl(['get', 'namespaces', '-o', 'name'], { kubeconfig, home: home.dir });
    assert.equal(ok.code, 0, ok.stderr);
    return { share: share.process, connect, kubeconfig };
  }

  /** Both ends after the window: one line each, kubeconfig gone, exit 1, the agent's audit records the end. */
  async function assertBothEnded(share: ManagedProcess, connect: ManagedProcess, kubeconfig: string, auditLog: string): Promise<void> {
    const connectExit = await connect.exitedWithin(90_000);
    assert.equal(connectExit.code, 1, connect.stderr());
    assert.match(connect.stderr(), CONNECT_WINDOW_EXPIRED);
    assert.equal(connect.stderr().match(new RegExp(CONNECT_WINDOW_EXPIRED.source, 'g'))?.length, 1, `one line on connect:\n${connect.stderr()}`);
    assert.doesNotMatch(connect.stderr(), /\n\s+at /, 'no stack trace');
    assert.equal(await exists(kubeconfig), false, 'the kubeconfig is removed');
    assert.deepEqual(await stack.kubeconfigsLeft(), []);

    const shareExit = await share.exitedWithin(90_000);
    assert.equal(shareExit.code, 1, share.stderr());
    assert.match(share.stderr(), WINDOW_EXPIRED);
    assert.doesNotMatch(share.stderr(), /\n\s+at /, 'no stack trace');
    assert.doesNotMatch(share.stderr(), /kubepair share: audit log:/, 'every audit record was written, the end included');
    const records = await auditRecords(auditLog);
    const ended = records.filter((record) => record['event'] === 'session_ended');
    assert.equal(ended.length, 1, 'one session, one end');
    assert.equal(ended[0]!['detail'], 'KP_ERR_RESUME_WINDOW_EXPIRED');
  }

  it('the relay killed and never started again: when the window closes both sides say so, connect removes its kubeconfig, both exit 1', T, async () => {
    const relay = await startRelay({ logLevel: 'warn' });
    const auditLog = join(stack.dir, 'window-relay-killed.audit.jsonl');
    let processes: ManagedProcess[] = [];
    try {
      const { share, connect, kubeconfig } = await pairedSession(relay.url, relay.url, relay.tokens.agent, relay.tokens.client, auditLog);
      processes = [share, connect];
      await relay.stop('SIGKILL');
      await assertBothEnded(share, connect, kubeconfig, auditLog);
    } finally {
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      await relay.dispose();
    }
  });

  it('the client\'s carrier black-holed, the relay up: when the window closes both sides say so, connect removes its kubeconfig, both exit 1', T, async () => {
    const relay = await startRelay({ logLevel: 'warn' });
    const proxy = await startFaultProxy({ port: relay.port });
    const auditLog = join(stack.dir, 'window-black-hole.audit.jsonl');
    let processes: ManagedProcess[] = [];
    try {
      const { share, connect, kubeconfig } = await pairedSession(relay.url, `http://127.0.0.1:${proxy.port}`, relay.tokens.agent, relay.tokens.client, auditLog);
      processes = [share, connect];
      await proxy.blackHole();
      await assertBothEnded(share, connect, kubeconfig, auditLog);
    } finally {
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      await proxy.close();
      await relay.dispose();
    }
  });
});
