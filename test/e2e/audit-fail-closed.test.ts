/**
 * End to end, the agent fails closed for every target (issue 10, docs/audit.md "In the agent"):
 * real relay, `kubepair share` and `kubepair connect` processes, real kubectl. The share's audit
 * log is broken for real — its RLIMIT_FSIZE is lowered to the log's size with prlimit, so the
 * kernel refuses the next write with EFBIG, as a full disk would — and healed again.
 *
 * While the log cannot be written, an `--expose` target and passthrough mode refuse every new
 * connection: the target never sees it, and the client is told why (connect's stderr for plain
 * connections, a Status for kubectl in proxy mode). After the log heals they work again. And
 * every connection a target accepted found its `connection_opened` record already in the log
 * (checked the moment it was accepted, before its first byte), with a `connection_closed`
 * record after it.
 */
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKubepair } from '../helpers/cli.js';
import type { CountingTarget } from '../helpers/counting-target.js';
import { startCountingTarget } from '../helpers/counting-target.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { liftFileSizeLimit, limitFileSize } from '../helpers/file-size-limit.js';
import type { KubectlOptions } from '../helpers/kubectl.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { waitUntil } from '../helpers/wait-until.js';
import { exchangeTcp, freePort } from '../helpers/tcp.js';
import type { AuditRecord } from '../helpers/audit-records.js';
import { readAuditRecords } from '../helpers/audit-records.js';

const RECORD_WAIT_MS = 15_000;
const REFUSED_LINE = 'the agent cannot write its audit log, so it refuses new connections (fail closed)';


function connectionRecords(path: string, event: 'connection_opened' | 'connection_closed', target: string): AuditRecord[] {
  return readAuditRecords(path).filter((record) => record['event'] === event && record['target'] === target);
}

/** What came back for `payload`, as text (bounded by RECORD_WAIT_MS). */
async function exchangeText(port: number, payload: string): Promise<string> {
  return (await exchangeTcp(port, payload, RECORD_WAIT_MS)).toString('utf8');
}

/**
 * Checks, the moment a target accepts connection number `count` (counted from `base`), that
 * the log already holds at least that many `connection_opened` records for it.
 */
class OpenedBeforeAccepted {
  base = 0;
  readonly violations: string[] = [];
  constructor(
    readonly auditLog: string,
    readonly target: string,
  ) {}
  check(count: number): void {
    const opened = connectionRecords(this.auditLog, 'connection_opened', this.target).length;
    if (opened < count - this.base) this.violations.push(`connection ${count - this.base} accepted with ${opened} opened records in the log`);
  }
}

/** Wait until every opened connection of the log has its closed record (the file is quiet). */
async function waitForClosedRecords(path: string, targets: readonly string[]): Promise<void> {
  await waitUntil(
    () => targets.every((target) => connectionRecords(path, 'connection_opened', target).length === connectionRecords(path, 'connection_closed', target).length),
    RECORD_WAIT_MS,
    'every opened connection to be recorded as closed',
  );
}

describe('e2e: Security: the agent refuses new connections to every target while its audit log cannot be written', { timeout: 240_000 }, () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  const running: ManagedProcess[] = [];
  const targets: CountingTarget[] = [];
  before(async () => {
    stack = await startE2EStack({
      api: { objects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'audited', namespace: 'default' }, data: { k: 'v' } }] },
    });
    home = await kubectlSandbox('kubepair-e2e-fail-closed-home-');
  });
  after(async () => {
    await Promise.allSettled(running.map((p) => p.stop('SIGTERM', 3000)));
    await Promise.allSettled(targets.map((t) => t.close()));
    await stack.close();
    await home.remove();
  });

  it('an --expose target (and kubectl in proxy mode): refused while the log is broken, never reaching the target; served again once it heals', async () => {
    const auditLog = join(stack.dir, 'expose-audit', 'audit.jsonl');
    const opened = new OpenedBeforeAccepted(auditLog, 'cache');
    const target = await startCountingTarget({ onAccept: (count) => opened.check(count) });
    targets.push(target);
    const share = await stack.startShare(['--once', '--expose', `cache=127.0.0.1:${target.port}`, '--audit-log', auditLog, '--audit-chain']);
    running.push(share.process);
    const localPort = await freePort();
    const connect = stack.startConnect(['--no-shell', '--forward', `${localPort}:cache`, share.code]);
    running.push(connect);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout');
    const kubectl: KubectlOptions = { kubeconfig: exported[1]!, home: home.dir };

    // Working: the exposed target and the API through the agent's proxy.
    assert.equal(await exchangeText(localPort, 'first'), 'first');
    const listed = await runKubectl(['get', 'configmaps', '-o', 'name'], kubectl);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /configmap\/audited/);
    await waitForClosedRecords(auditLog, ['cache', 'kube-apiserver']);
    assert.equal(target.accepted(), 1);

    // Broken: the next write of the share process fails with EFBIG.
    const pid = share.process.child.pid ?? 0;
    await limitFileSize(pid, (await stat(auditLog)).size);
    const apiRequestsBefore = stack.api.requests().length;
    assert.equal(await exchangeText(localPort, 'refused'), '', 'a refused connection is closed without a byte');
    await connect.waitFor(new RegExp(`a connection on 127\\.0\\.0\\.1:${localPort} \\(cache\\) was closed: ${REFUSED_LINE.replace(/[()]/g, '\\$&')}`), RECORD_WAIT_MS, 'stderr');
    assert.equal(await exchangeText(localPort, 'refused again'), '');
    assert.equal(target.accepted(), 1, 'the target never saw a refused connection');
    // kubectl says why, with its discovery cached (a request) and without (discovery first).
    const fresh = await kubectlSandbox('kubepair-e2e-fail-closed-fresh-');
    try {
      for (const [id, options] of [['cached discovery', kubectl], ['fresh discovery', { ...kubectl, home: fresh.dir }]] as const) {
        const refusedKubectl = await runKubectl(['get', 'configmaps', '-o', 'name'], options);
        assert.equal(refusedKubectl.code, 1, id);
        const last = refusedKubectl.stderr.trimEnd().split('\n').at(-1) ?? '';
        assert.ok(
          last.startsWith(`Error from server (InternalError): an error on the server ("kubepair: ${REFUSED_LINE}") has prevented the request from succeeding`),
          `${id}: kubectl shows why: ${refusedKubectl.stderr}`,
        );
      }
    } finally {
      await fresh.remove();
    }
    assert.equal(stack.api.requests().length, apiRequestsBefore, 'nothing reached the API server');
    await share.process.waitFor(/kubepair share: audit log: .*EFBIG.*; every new connection and request is refused until it can be written again/, RECORD_WAIT_MS, 'stderr');

    // Healed: served again.
    await liftFileSizeLimit(pid);
    assert.equal(await exchangeText(localPort, 'after'), 'after');
    assert.equal(target.accepted(), 2);
    const again = await runKubectl(['get', 'configmaps', '-o', 'name'], kubectl);
    assert.equal(again.code, 0, again.stderr);
    await waitForClosedRecords(auditLog, ['cache', 'kube-apiserver']);

    await connect.stop('SIGTERM');
    assert.equal((await share.process.exited).code, 0, share.process.stderr());
    assert.deepEqual(opened.violations, [], 'every accepted connection found its opened record in the log');
    const cacheOpened = connectionRecords(auditLog, 'connection_opened', 'cache');
    const cacheClosed = connectionRecords(auditLog, 'connection_closed', 'cache');
    assert.equal(cacheOpened.length, 2, 'one opened record per served connection, none for the refused ones');
    assert.deepEqual(
      cacheClosed.map((r) => [r['stream'], r['bytes_in'], r['bytes_out']]),
      [
        [cacheOpened[0]?.['stream'], 5, 5],
        [cacheOpened[1]?.['stream'], 5, 5],
      ],
      'each served connection is closed with its bytes',
    );
    const verified = await runKubepair(['audit', 'verify', auditLog], { env: stack.env('agent') });
    assert.equal(verified.code, 0, `the chain is intact across the failure: ${verified.stderr}`);
  });

  it('passthrough: refused while the log is broken, never reaching the API server; served again once it heals', async () => {
    const auditLog = join(stack.dir, 'passthrough-audit', 'audit.jsonl');
    const opened = new OpenedBeforeAccepted(auditLog, 'kube-apiserver');
    // The agent reaches the API server through a forwarder that counts connections.
    const forwarder = await startCountingTarget({ forwardTo: stack.api.port, onAccept: (count) => opened.check(count) });
    targets.push(forwarder);
    const agentKubeconfig = join(stack.dir, 'counted.kubeconfig');
    await writeFile(agentKubeconfig, stack.api.kubeconfigFor({ server: `https://127.0.0.1:${forwarder.port}` }), { mode: 0o600 });
    const share = await stack.startShare(['--once', '--mode', 'passthrough', '--kubeconfig', agentKubeconfig, '--audit-log', auditLog, '--audit-chain']);
    running.push(share.process);
    opened.base = forwarder.accepted(); // the agent's own checks before the session are not tunnel connections
    const connect = stack.startConnect(['--no-shell', share.code]);
    running.push(connect);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout');
    const kubectl: KubectlOptions = { kubeconfig: exported[1]!, home: home.dir };

    const listed = await runKubectl(['get', 'configmaps', '-o', 'name'], kubectl);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /configmap\/audited/);
    await waitForClosedRecords(auditLog, ['kube-apiserver']);

    const pid = share.process.child.pid ?? 0;
    await limitFileSize(pid, (await stat(auditLog)).size);
    const acceptedBefore = forwarder.accepted();
    const apiRequestsBefore = stack.api.requests().length;
    const refused = await runKubectl(['get', 'configmaps', '-o', 'name'], kubectl);
    assert.equal(refused.code, 1, 'kubectl fails');
    assert.equal(refused.stdout, '');
    await connect.waitFor(/a connection on 127\.0\.0\.1:\d+ \(kube-apiserver\) was closed: the agent cannot write its audit log, so it refuses new connections \(fail closed\)/, RECORD_WAIT_MS, 'stderr');
    assert.equal(forwarder.accepted(), acceptedBefore, 'the API server never saw a refused connection');
    assert.equal(stack.api.requests().length, apiRequestsBefore, 'nothing reached the API server');

    await liftFileSizeLimit(pid);
    const again = await runKubectl(['get', 'configmaps', '-o', 'name'], kubectl);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(forwarder.accepted() > acceptedBefore, 'served again');
    await waitForClosedRecords(auditLog, ['kube-apiserver']);

    await connect.stop('SIGTERM');
    assert.equal((await share.process.exited).code, 0, share.process.stderr());
    assert.deepEqual(opened.violations, [], 'every accepted connection found its opened record in the log');
    const openedRecords = connectionRecords(auditLog, 'connection_opened', 'kube-apiserver');
    assert.equal(openedRecords.length, forwarder.accepted() - opened.base, 'one opened record per connection the API server accepted through the tunnel');
    for (const record of connectionRecords(auditLog, 'connection_closed', 'kube-apiserver')) {
      assert.ok(Number(record['bytes_in']) > 0 && Number(record['bytes_out']) > 0, `a served passthrough connection carried TLS both ways: ${JSON.stringify(record)}`);
    }
    const verified = await runKubepair(['audit', 'verify', auditLog], { env: stack.env('agent') });
    assert.equal(verified.code, 0, `the chain is intact across the failure: ${verified.stderr}`);
  });
});
