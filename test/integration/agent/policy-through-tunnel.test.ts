/**
 * The agent's request policy (docs/design.md §6, docs/policy.md) through the whole in-process data
 * path with the real kubectl: the refusal kubectl prints in each mode, --allow and --deny, and
 * that a refused request never reaches the API server — exec's WebSocket upgrade (a GET)
 * included. Every tunnel shares one fixture API server; each test compares what the API server
 * saw from its own start on.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { TIER_NAMES } from '../../../src/agent/policy/index.js';
import type { RequestAuditRecord } from '../../../src/audit/record.js';
import type { JsonObject } from '../../fixtures/kube-api-server/objects.js';
import type { KubeApiServer } from '../../fixtures/kube-api-server/server.js';
import { startKubeApiServer } from '../../fixtures/kube-api-server/server.js';
import type { InProcessTunnel } from '../../helpers/in-process-tunnel.js';
import { startInProcessTunnel } from '../../helpers/in-process-tunnel.js';
import { runKubectl, startKubectl } from '../../helpers/kubectl.js';
import { SPDY_EXEC_HEADERS, WEBSOCKET_EXEC_HEADERS, tunnelRequest } from '../../helpers/tunnel-request.js';

const RECORD_TIMEOUT_MS = 10_000;

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function configMap(name: string): JsonObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { owner: name } };
}

const OBJECTS: JsonObject[] = [
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, type: 'Opaque', data: { password: Buffer.from('s3cret-value').toString('base64') } },
  ...['ro-victim', 'guarded-victim', 'allowed-1', 'protected', 'unprotected', 'open-victim'].map(configMap),
];

const READONLY = 'mode "readonly" allows only tier 0 (reads)';

describe('policy through the in-process tunnel, real kubectl', { timeout: 300_000 }, () => {
  let api: KubeApiServer;
  before(async () => {
    api = await startKubeApiServer({ objects: OBJECTS });
  });
  after(() => api.close());

  /** The API server's request count now: pass it to reached() to see what came after. */
  function mark(): number {
    return api.requests().at(-1)?.seq ?? 0;
  }

  /** What reached the API server after `since`, as `METHOD path`. */
  function reached(since: number): string[] {
    return api.requests().filter((r) => r.seq > since).map((r) => `${r.method} ${r.path}`);
  }

  function exists(name: string): boolean {
    try {
      api.getObject('v1', 'ConfigMap', 'default', name);
      return true;
    } catch {
      return false;
    }
  }

  /** Every refused request in `records` is absent from what reached the API server after `since`. */
  function assertRefusalsNeverReached(tunnel: InProcessTunnel, since: number, what: string): RequestAuditRecord[] {
    const refused = tunnel.records.filter((r) => r.decision === 'deny');
    const seen = reached(since);
    for (const record of refused) {
      assert.equal(record.status, 403, `${what}: ${record.method} ${record.path} answered 403`);
      assert.ok(!seen.includes(`${record.method} ${record.path}`), `${what}: refused ${record.method} ${record.path} reached the API server: ${JSON.stringify(seen)}`);
    }
    return refused;
  }

  /** Raw exec/attach/portforward attempts kubectl could send, WebSocket GET first. */
  const EXEC_ATTEMPTS = [
    { id: 'websocket-get', method: 'GET', path: '/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true', headers: WEBSOCKET_EXEC_HEADERS },
    { id: 'plain-get', method: 'GET', path: '/api/v1/namespaces/default/pods/web/exec?command=sh&stdout=true', headers: {} },
    { id: 'head', method: 'HEAD', path: '/api/v1/namespaces/default/pods/web/exec?command=sh', headers: {} },
    { id: 'spdy-post', method: 'POST', path: '/api/v1/namespaces/default/pods/web/exec?command=sh&stdout=true', headers: SPDY_EXEC_HEADERS },
    { id: 'encoded-subresource', method: 'GET', path: '/api/v1/namespaces/default/pods/web/ex%65c?command=sh&stdout=true', headers: WEBSOCKET_EXEC_HEADERS },
    { id: 'attach', method: 'GET', path: '/api/v1/namespaces/default/pods/web/attach?stdout=true', headers: WEBSOCKET_EXEC_HEADERS },
    { id: 'portforward', method: 'GET', path: '/api/v1/namespaces/default/pods/web/portforward?ports=80', headers: WEBSOCKET_EXEC_HEADERS },
  ] as const;

  /** Send every EXEC_ATTEMPTS request; each must be a 403 that names `mode`, and none may reach the API server. */
  async function assertUpgradesRefused(tunnel: InProcessTunnel, mode: string): Promise<void> {
    const since = mark();
    for (const attempt of EXEC_ATTEMPTS) {
      const firstNew = tunnel.records.length;
      const answer = await tunnelRequest({ port: tunnel.listenerPort, caPem: tunnel.caPem, token: tunnel.token, ...attempt });
      assert.equal(answer.status, 403, `${attempt.id}: status`);
      if (attempt.method !== 'HEAD') {
        const status = JSON.parse(answer.body.toString('utf8')) as { reason: string; code: number; message: string };
        assert.equal(status.reason, 'Forbidden', `${attempt.id}: reason`);
        assert.match(status.message, new RegExp(`^kubepair policy "${mode}" refuses "create pods/(exec|attach|portforward)" \\(tier 3\\)`), `${attempt.id}: message`);
      }
      const record = await tunnel.waitForRecord((r) => tunnel.records.indexOf(r) >= firstNew, RECORD_TIMEOUT_MS);
      assert.equal(record.method, attempt.method, `${attempt.id}: method as received`);
      assert.ok(attempt.path.startsWith(`${record.path}?`), `${attempt.id}: path ${record.path}`);
      assert.equal(record.verb, 'create', `${attempt.id}: classified as create whatever the method`);
      assert.equal(record.tier, 3, `${attempt.id}: tier`);
      assert.equal(record.decision, 'deny', `${attempt.id}: decision`);
      assert.equal(record.status, 403, `${attempt.id}: audited status`);
      assert.equal(record.bytes_out, answer.body.length, `${attempt.id}: audited bytes out`);
      assert.equal(record.response_sha256, sha256(answer.body), `${attempt.id}: audited hash is of the refusal the client got`);
    }
    const seen = api.requests().filter((r) => r.seq > since);
    assert.deepEqual(seen.map((r) => `${r.method} ${r.path}`), [], 'no upgrade attempt reached the API server');
  }

  describe('readonly', () => {
    let tunnel: InProcessTunnel;
    before(async () => {
      tunnel = await startInProcessTunnel({ api, policy: { mode: 'readonly' } });
    });
    after(() => tunnel.close());

    it('reads pass', async () => {
      const got = await runKubectl(['get', 'configmap', 'ro-victim', '-o', 'jsonpath={.data.owner}'], tunnel.kubectl);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stdout, 'ro-victim');
    });

    it('delete is refused with the 403 message kubectl prints, and never reaches the API server', async () => {
      const since = mark();
      const got = await runKubectl(['delete', 'configmap', 'ro-victim'], tunnel.kubectl);
      assert.equal(got.code, 1, got.stderr);
      assert.equal(got.stderr.trim(), `Error from server (Forbidden): kubepair policy "readonly" refuses "delete configmaps" (tier 3): ${READONLY}`);
      assert.ok(!reached(since).some((r) => r.startsWith('DELETE ')), 'no DELETE reached the API server');
      assert.ok(exists('ro-victim'), 'the configmap is still there');
      const refused = assertRefusalsNeverReached(tunnel, since, 'readonly delete');
      assert.ok(refused.some((r) => r.verb === 'delete' && r.resource === 'configmaps' && r.name === 'ro-victim' && r.tier === 3));
    });

    it('get secret is refused (tier 1) and never reaches the API server', async () => {
      const since = mark();
      const got = await runKubectl(['get', 'secret', 'db', '-o', 'jsonpath={.data.password}'], tunnel.kubectl);
      assert.equal(got.code, 1, got.stderr);
      assert.equal(got.stderr.trim(), `Error from server (Forbidden): kubepair policy "readonly" refuses "get secrets" (tier 1): ${READONLY}`);
      assert.equal(got.stdout, '', 'nothing of the secret was printed');
      assert.ok(!reached(since).some((r) => r.includes('/secrets')), `no secrets request reached the API server: ${JSON.stringify(reached(since))}`);
      assertRefusalsNeverReached(tunnel, since, 'readonly get secret');
    });

    it('Security: exec is refused, its WebSocket GET included, and never reaches the API server', async () => {
      const since = mark();
      const got = await runKubectl(['exec', 'web', '--', 'echo', 'should-not-run'], tunnel.kubectl);
      assert.equal(got.code, 1, got.stderr);
      assert.ok(
        got.stderr.split('\n').includes(`Error from server (Forbidden): kubepair policy "readonly" refuses "create pods/exec" (tier 3): ${READONLY}`),
        `kubectl's stderr: ${got.stderr}`,
      );
      assert.doesNotMatch(got.stdout, /should-not-run/);
      const websocket = await tunnel.waitForRecord((r) => r.subresource === 'exec' && r.method === 'GET', RECORD_TIMEOUT_MS);
      assert.equal(websocket.verb, 'create', 'the WebSocket GET is an exec, not a read');
      assert.equal(websocket.decision, 'deny');
      assert.ok(!reached(since).some((r) => r.endsWith('/exec')), `no exec reached the API server: ${JSON.stringify(reached(since))}`);
      assertRefusalsNeverReached(tunnel, since, 'readonly exec');
    });

    it('Security: every form of an exec, attach or port-forward upgrade is refused', async () => {
      await assertUpgradesRefused(tunnel, 'readonly');
    });
  });

  describe('guarded', () => {
    let tunnel: InProcessTunnel;
    before(async () => {
      tunnel = await startInProcessTunnel({ api, policy: { mode: 'guarded', allow: ['delete configmaps default/allowed-*'] } });
    });
    after(() => tunnel.close());

    it('get secret is allowed (tier 1)', async () => {
      const got = await runKubectl(['get', 'secret', 'db', '-o', 'jsonpath={.data.password}'], tunnel.kubectl);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(Buffer.from(got.stdout, 'base64').toString(), 's3cret-value');
      const record = await tunnel.waitForRecord((r) => r.resource === 'secrets' && r.name === 'db', RECORD_TIMEOUT_MS);
      assert.equal(record.decision, 'allow');
      assert.equal(record.tier, 1);
      assert.equal(record.status, 200);
    });

    it('delete without a matching --allow is refused with the rule to add', async () => {
      const since = mark();
      const got = await runKubectl(['delete', 'configmap', 'guarded-victim'], tunnel.kubectl);
      assert.equal(got.code, 1, got.stderr);
      assert.equal(
        got.stderr.trim(),
        'Error from server (Forbidden): kubepair policy "guarded" refuses "delete configmaps" (tier 3): tiers 2-3 need a matching --allow rule (the sharer can add --allow "delete configmaps")',
      );
      assert.ok(exists('guarded-victim'), 'the configmap is still there');
      assertRefusalsNeverReached(tunnel, since, 'guarded delete');
    });

    it('delete matching --allow goes through and the record names the rule', async () => {
      const since = mark();
      const got = await runKubectl(['delete', 'configmap', 'allowed-1'], tunnel.kubectl);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stdout.trim(), 'configmap "allowed-1" deleted');
      assert.ok(reached(since).includes('DELETE /api/v1/namespaces/default/configmaps/allowed-1'));
      assert.ok(!exists('allowed-1'));
      const record = await tunnel.waitForRecord((r) => r.verb === 'delete' && r.name === 'allowed-1', RECORD_TIMEOUT_MS);
      assert.equal(record.decision, 'allow');
      assert.equal(record.rule, '--allow "delete configmaps default/allowed-*"');
      assert.equal(record.reason, 'allowed by --allow "delete configmaps default/allowed-*"');
      assert.equal(record.status, 200);
    });

    it('Security: exec is refused without --allow, its WebSocket GET included', async () => {
      const since = mark();
      const got = await runKubectl(['exec', 'web', '--', 'echo', 'should-not-run'], tunnel.kubectl);
      assert.equal(got.code, 1, got.stderr);
      assert.ok(
        got.stderr
          .split('\n')
          .includes('Error from server (Forbidden): kubepair policy "guarded" refuses "create pods/exec" (tier 3): tiers 2-3 need a matching --allow rule (the sharer can add --allow "create pods/exec")'),
        `kubectl's stderr: ${got.stderr}`,
      );
      assert.ok(!reached(since).some((r) => r.endsWith('/exec')));
      assertRefusalsNeverReached(tunnel, since, 'guarded exec');
    });

    it('Security: every form of an exec, attach or port-forward upgrade is refused', async () => {
      await assertUpgradesRefused(tunnel, 'guarded');
    });
  });

  describe('--deny beats --allow', () => {
    let tunnel: InProcessTunnel;
    before(async () => {
      tunnel = await startInProcessTunnel({
        api,
        policy: {
          mode: 'guarded',
          allow: ['delete configmaps default/*', 'create pods/exec'],
          deny: ['delete configmaps default/protected', 'create pods/exec default/web', 'get secrets'],
        },
      });
    });
    after(() => tunnel.close());

    it('a delete both allowed and denied is refused, naming the --deny rule; its neighbour is allowed', async () => {
      const since = mark();
      const refused = await runKubectl(['delete', 'configmap', 'protected'], tunnel.kubectl);
      assert.equal(refused.code, 1, refused.stderr);
      assert.equal(
        refused.stderr.trim(),
        'Error from server (Forbidden): kubepair policy "guarded" refuses "delete configmaps" (tier 3): refused by --deny "delete configmaps default/protected"',
      );
      assert.ok(exists('protected'));
      const allowed = await runKubectl(['delete', 'configmap', 'unprotected'], tunnel.kubectl);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.ok(!exists('unprotected'));
      const records = assertRefusalsNeverReached(tunnel, since, 'deny beats allow');
      assert.equal(records.find((r) => r.name === 'protected')?.rule, '--deny "delete configmaps default/protected"');
    });

    it('--deny beats the mode too: get secret (tier 1, free in guarded) is refused', async () => {
      const since = mark();
      const got = await runKubectl(['get', 'secret', 'db'], tunnel.kubectl);
      assert.equal(got.code, 1, got.stderr);
      assert.equal(got.stderr.trim(), 'Error from server (Forbidden): kubepair policy "guarded" refuses "get secrets" (tier 1): refused by --deny "get secrets"');
      assertRefusalsNeverReached(tunnel, since, 'deny secrets');
    });

    it('Security: an exec allowed by --allow but denied by --deny is refused, its WebSocket GET included', async () => {
      const since = mark();
      const got = await runKubectl(['exec', 'web', '--', 'echo', 'should-not-run'], tunnel.kubectl);
      assert.equal(got.code, 1, got.stderr);
      assert.ok(
        got.stderr.split('\n').includes('Error from server (Forbidden): kubepair policy "guarded" refuses "create pods/exec" (tier 3): refused by --deny "create pods/exec default/web"'),
        `kubectl's stderr: ${got.stderr}`,
      );
      const websocket = await tunnel.waitForRecord((r) => r.subresource === 'exec' && r.method === 'GET', RECORD_TIMEOUT_MS);
      assert.equal(websocket.decision, 'deny');
      assert.ok(!reached(since).some((r) => r.endsWith('/exec')));
    });
  });

  describe('open', () => {
    let tunnel: InProcessTunnel;
    before(async () => {
      tunnel = await startInProcessTunnel({ api, policy: { mode: 'open' } });
    });
    after(() => tunnel.close());

    it('allows every tier and audits every request the API server saw', async () => {
      const since = mark();
      const firstRecord = tunnel.records.length;

      const secret = await runKubectl(['get', 'secret', 'db', '-o', 'name'], tunnel.kubectl);
      assert.equal(secret.code, 0, secret.stderr);
      const create = await runKubectl(['create', 'configmap', 'open-created', '--from-literal=a=b'], tunnel.kubectl);
      assert.equal(create.code, 0, create.stderr);
      const watch = startKubectl(['get', 'configmaps', '--watch', '-o', 'name'], tunnel.kubectl);
      const del = await runKubectl(['delete', 'configmap', 'open-victim'], tunnel.kubectl);
      assert.equal(del.code, 0, del.stderr);
      await watch.waitFor((lines) => lines.includes('configmap/open-created'), 10_000);
      await watch.stop();
      const exec = await runKubectl(['exec', '-i', 'web', '--', 'cat'], { ...tunnel.kubectl, stdin: 'open mode\n' });
      assert.equal(exec.code, 0, exec.stderr);
      assert.equal(exec.stdout, 'open mode\n');

      // Records are written when a request ends: the watch and the exec may end after kubectl.
      await tunnel.waitForRecord((r) => r.verb === 'watch', RECORD_TIMEOUT_MS);
      await tunnel.waitForRecord((r) => r.subresource === 'exec', RECORD_TIMEOUT_MS);
      const seen = reached(since).sort();
      const audited = tunnel.records.slice(firstRecord);
      assert.deepEqual(audited.map((r) => `${r.method} ${r.path}`).sort(), seen, 'one record for every request the API server saw, and no other');
      assert.ok(audited.every((r) => r.decision === 'allow'), 'nothing refused');
      const tiers = new Set(audited.map((r) => r.tier));
      assert.deepEqual([...tiers].sort(), [0, 1, 2, 3], 'requests of every tier were allowed');
      for (const record of audited) {
        assert.equal(record.reason, `tier ${record.tier} (${TIER_NAMES[record.tier]}) is allowed in mode "open"`, `${record.method} ${record.path}`);
      }
    });
  });
});
