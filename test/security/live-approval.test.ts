/**
 * Live approval under attack (issue 14): the agent's kube proxy with `share --approve`'s queue,
 * in process, behind a TCP port (TCP stands in for a tunnel stream), the fixture API server
 * behind it, and a hostile client writing raw HTTP/1.1. A flood of requests cannot grow the
 * queue past its bound (the rest is refused at once, audited) nor bury the sharer's prompt
 * (one key declines them all); what the sharer approves is exactly what is forwarded — bytes
 * the client sends while a request waits are a later request, judged and held on their own; a
 * held request outlives the reader's head and idle timers, and one whose client goes away is
 * withdrawn without reaching the API server; a name with a wildcard cannot be approved "for the
 * session" (the rule would cover every name).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ApprovalQueue } from '../../src/agent/approval-queue.js';
import { KUBE_PROXY_READER_LIMITS, KubeProxy } from '../../src/agent/kube-proxy.js';
import { RequestPolicy } from '../../src/agent/policy/index.js';
import type { UpstreamCluster } from '../../src/agent/upstream-cluster.js';
import { loadUpstreamCluster } from '../../src/agent/upstream-cluster.js';
import type { RequestAuditRecord } from '../../src/audit/record.js';
import { ApprovalPrompt } from '../../src/cli/approval-prompt.js';
import type { KubeApiServer } from '../fixtures/kube-api-server/server.js';
import { startKubeApiServer } from '../fixtures/kube-api-server/server.js';
import { kubectlSandbox } from '../helpers/kubectl.js';
import { waitUntil } from '../helpers/wait-until.js';
import { FakeTerminal } from '../helpers/fake-terminal.js';

const NAMES = ['flood-0', 'flood-1', 'flood-2', 'flood-3', 'flood-4', 'flood-5', 'held-a', 'held-b', 'slow', 'gone'];

/** A raw client connection: what it sent is its own, what came back is collected. */
interface RawClient {
  readonly socket: Socket;
  text(): string;
  /** How many HTTP responses have arrived (status lines). */
  responses(): number;
}

async function rawClient(port: number): Promise<RawClient> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    if (received.length < 1024 * 1024) received += chunk;
  });
  socket.on('error', () => undefined);
  return { socket, text: () => received, responses: () => received.match(/HTTP\/1\.1 \d{3} [A-Z]/g)?.length ?? 0 };
}

function deleteRequest(name: string): string {
  return `DELETE /api/v1/namespaces/default/configmaps/${name} HTTP/1.1\r\nHost: kubernetes\r\nAccept: application/json\r\n\r\n`;
}

describe('Security: live approval against a hostile client', { timeout: 120_000 }, () => {
  let api: KubeApiServer;
  let sandbox: Awaited<ReturnType<typeof kubectlSandbox>>;
  let upstream: UpstreamCluster;
  const fronts: Array<{ server: Server; proxy: KubeProxy }> = [];
  const clients: Socket[] = [];

  before(async () => {
    api = await startKubeApiServer({ objects: NAMES.map((name) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { keep: 'me' } })) });
    sandbox = await kubectlSandbox('kubepair-approval-security-');
    upstream = await loadUpstreamCluster({ kubeconfig: await sandbox.writeKubeconfig('agent.kubeconfig', api.kubeconfigFor()) });
  });
  after(async () => {
    for (const socket of clients) socket.destroy();
    for (const { server, proxy } of fronts) {
      await proxy.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await api.close();
    await sandbox.remove();
  });

  /** A guarded kube proxy holding refusals in `queue`, behind a TCP port; its request records. */
  async function approvingProxy(queue: ApprovalQueue, readerLimits = KUBE_PROXY_READER_LIMITS): Promise<{ port: number; records: RequestAuditRecord[] }> {
    const records: RequestAuditRecord[] = [];
    const proxy = new KubeProxy({
      upstream,
      policy: RequestPolicy.create({ mode: 'guarded' }),
      audit: undefined,
      session: 'hostile-session',
      client: 'hostile-client',
      http2: false,
      approvals: queue,
      readerLimits,
      onRequest: (record) => records.push(record),
    });
    const server = createServer({ allowHalfOpen: true }, (socket) => proxy.handle(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    fronts.push({ server, proxy });
    return { port: (server.address() as AddressInfo).port, records };
  }

  async function client(port: number): Promise<RawClient> {
    const raw = await rawClient(port);
    clients.push(raw.socket);
    return raw;
  }

  function deletesReaching(): string[] {
    return api.requests().filter((r) => r.method === 'DELETE').map((r) => r.path);
  }

  it('a flood of held requests cannot grow the queue past its bound: the rest is refused at once and audited, and one key at the prompt declines the rest', async () => {
    const queue = new ApprovalQueue({ capacity: 2, timeoutMs: 60_000 });
    const { port, records } = await approvingProxy(queue);
    const terminal = new FakeTerminal();
    const screen = new PassThrough();
    let shown = '';
    screen.setEncoding('utf8').on('data', (chunk: string) => (shown += chunk));
    const prompt = new ApprovalPrompt({ queue, input: terminal, output: screen, raise: () => assert.fail('no signal key was typed') });
    try {
      const flood = await Promise.all([0, 1, 2, 3, 4, 5].map(() => client(port)));
      flood.forEach((raw, index) => raw.socket.write(deleteRequest(`flood-${index}`)));
      await waitUntil(() => records.length === 4, 20_000, 'the four requests over the bound to be refused');
      assert.equal(queue.pending.length, 2, 'the queue holds no more than its bound');
      for (const record of records) {
        assert.deepEqual(
          { decision: record.decision, status: record.status, decided_by: record.decided_by, approval: record.approval, waited_ms: record.waited_ms },
          { decision: 'deny', status: 403, decided_by: 'policy', approval: 'queue_full', waited_ms: 0 },
          JSON.stringify(record),
        );
        assert.match(record.reason ?? '', /^kubepair: 2 requests already wait for the sharer's approval, so "delete configmaps default\/flood-\d" \(tier 3, deletion\) is refused; try again later$/);
      }
      await waitUntil(() => flood.filter((raw) => raw.responses() === 1).length === 4, 20_000, 'the four refusals to reach their clients');
      const refusedClients = flood.filter((raw) => raw.responses() === 1);
      for (const raw of refusedClients) assert.match(raw.text(), /^HTTP\/1\.1 403 Forbidden\r\n[^]*"reason":"Forbidden"/);
      assert.match(shown, /approval needed for request #\d+ \(2 waiting\)/, 'the prompt shows how many wait');
      assert.equal(terminal.raw, true, 'the prompt reads keys');

      terminal.emit('data', Buffer.from('N'));
      await waitUntil(() => records.length === 6, 20_000, 'the held requests to be declined');
      assert.equal(queue.pending.length, 0);
      assert.deepEqual(records.slice(4).map((r) => [r.approval, r.decided_by]), [['declined', 'sharer'], ['declined', 'sharer']]);
      assert.equal(terminal.raw, false, 'the terminal is given back once nothing waits');
      assert.deepEqual(deletesReaching().filter((path) => path.includes('flood-')), [], 'nothing of the flood reached the API server');
    } finally {
      prompt.close();
      queue.close();
    }
  });

  it('what is approved is exactly what is forwarded: bytes sent while a request waits are a later request, judged and held on their own', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const { port, records } = await approvingProxy(queue);
    try {
      const raw = await client(port);
      raw.socket.write(deleteRequest('held-a'));
      await waitUntil(() => queue.pending.length === 1, 10_000, 'held-a to be held');
      const first = queue.pending[0]!;
      assert.equal(first.name, 'held-a');
      // While it waits, the client pipelines another delete on the same connection.
      raw.socket.write(deleteRequest('held-b'));
      await sleep(200); // give the agent the chance to (wrongly) read it
      assert.deepEqual(queue.pending.map((p) => p.name), ['held-a'], 'the next request is not read while one waits');
      assert.deepEqual(deletesReaching().filter((path) => path.includes('held-')), [], 'nothing was forwarded before the answer');
      await queue.answer(first.id, 'once');
      await waitUntil(() => raw.responses() === 1 && queue.pending.length === 1, 10_000, 'held-a answered and held-b held');
      assert.match(raw.text(), /^HTTP\/1\.1 200 OK/);
      const second = queue.pending[0]!;
      assert.equal(second.name, 'held-b');
      assert.notEqual(second.id, first.id);
      await queue.answer(second.id, 'decline');
      await waitUntil(() => raw.responses() === 2, 10_000, 'held-b answered');
      assert.match(raw.text(), /HTTP\/1\.1 403 Forbidden[^]*the sharer declined \\"delete configmaps default\/held-b\\"/);
      assert.deepEqual(deletesReaching().filter((path) => path.includes('held-')), ['/api/v1/namespaces/default/configmaps/held-a']);
      assert.deepEqual(records.map((r) => [r.name, r.approval, r.status]), [['held-a', 'approved_once', 200], ['held-b', 'declined', 403]]);
    } finally {
      queue.close();
    }
  });

  it('a held request outlives the reader\'s head and idle timers; one whose client goes away is withdrawn and never forwarded', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const { port, records } = await approvingProxy(queue, { ...KUBE_PROXY_READER_LIMITS, headTimeoutMs: 50, idleTimeoutMs: 50 });
    try {
      const slow = await client(port);
      slow.socket.write(deleteRequest('slow'));
      await waitUntil(() => queue.pending.length === 1, 10_000, 'slow to be held');
      await sleep(500); // ten times both timers
      assert.equal(slow.socket.destroyed, false, 'the connection is still open');
      assert.equal(slow.responses(), 0);
      await queue.answer(queue.pending[0]!.id, 'once');
      await waitUntil(() => slow.responses() === 1, 10_000, 'slow answered');
      assert.match(slow.text(), /^HTTP\/1\.1 200 OK/);

      const gone = await client(port);
      gone.socket.write(deleteRequest('gone'));
      await waitUntil(() => queue.pending.length === 1, 10_000, 'gone to be held');
      gone.socket.resetAndDestroy();
      await waitUntil(() => queue.pending.length === 0 && records.length === 2, 10_000, 'gone to be withdrawn');
      assert.deepEqual([records[1]!.name, records[1]!.approval, records[1]!.decision, records[1]!.decided_by], ['gone', 'withdrawn', 'deny', 'policy']);
      assert.ok(!deletesReaching().some((path) => path.endsWith('/gone')), 'the withdrawn request never reached the API server');
    } finally {
      queue.close();
    }
  });

  it('a name with a wildcard cannot be approved for the session (the rule would cover every name), only once', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const { port } = await approvingProxy(queue);
    try {
      const raw = await client(port);
      raw.socket.write(deleteRequest('*'));
      await waitUntil(() => queue.pending.length === 1, 10_000, 'the wildcard name to be held');
      const held = queue.pending[0]!;
      assert.deepEqual(held.rules, [], 'no --allow rule is offered');
      await assert.rejects(queue.answer(held.id, 'session'), { code: 'KP_ERR_APPROVAL_SESSION_UNAVAILABLE' });
      assert.equal(queue.pending.length, 1, 'the refused answer left it waiting');
      await queue.answer(held.id, 'decline');
      await waitUntil(() => raw.responses() === 1, 10_000, 'the decline');
      assert.match(raw.text(), /^HTTP\/1\.1 403 /);
    } finally {
      queue.close();
    }
  });
});
