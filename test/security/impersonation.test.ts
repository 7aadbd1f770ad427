/**
 * Security: who the API server acts as (issue 10, "headers with authority"). A client holding the
 * session token sends its own `Impersonate-*` fields through the in-process tunnel (real local
 * listener, mux, kube proxy, fixture API server) and tries to lift the identity the sharer chose
 * — the `as:` of the agent's kubeconfig user, or `share --as` — or to act as someone the audit
 * log does not name. The invariant: the identity each executed request acted as is the one its
 * audit record names, and never wider than the sharer's choice.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import type { RequestAuditRecord } from '../../src/audit/record.js';
import type { InProcessTunnel, InProcessTunnelOptions } from '../helpers/in-process-tunnel.js';
import { startInProcessTunnel } from '../helpers/in-process-tunnel.js';
import type { RequestRecord } from '../fixtures/kube-api-server/request-log.js';

const PATH = '/api/v1/namespaces/default/configmaps';

/** One request through the tunnel's local listener with extra fields; resolves with the status. */
function get(tunnel: InProcessTunnel, fields: Record<string, string | string[]>): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port: tunnel.listenerPort,
        path: PATH,
        ca: tunnel.caPem,
        agent: false,
        headers: { authorization: `Bearer ${tunnel.token}`, ...fields },
      },
      (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
      },
    );
    outgoing.once('error', reject);
    outgoing.setTimeout(15_000, () => outgoing.destroy(new Error('no answer within 15 s')));
    outgoing.end();
  });
}

/** Send, then return what the API server executed and the request's audit record. */
async function attack(tunnel: InProcessTunnel, fields: Record<string, string | string[]>): Promise<{ status: number; executed: RequestRecord; record: RequestAuditRecord }> {
  const before = tunnel.api.requests().at(-1)?.seq ?? 0;
  const count = tunnel.records.length;
  const status = await get(tunnel, fields);
  const record = await tunnel.waitForRecord((candidate) => tunnel.records.indexOf(candidate) >= count && candidate.path === PATH, 10_000);
  const executed = tunnel.api.requests().filter((entry) => entry.seq > before && entry.path === PATH);
  assert.equal(executed.length, 1, `the API server executed the request once: ${JSON.stringify(executed)}`);
  return { status, executed: executed[0]!, record };
}

function withTunnel(options: InProcessTunnelOptions, body: (tunnel: () => InProcessTunnel) => void): void {
  let tunnel: InProcessTunnel;
  before(async () => {
    tunnel = await startInProcessTunnel(options);
  });
  after(() => tunnel.close());
  body(() => tunnel);
}

describe('Security: a client cannot lift the identity the sharer chose, nor act as someone the audit does not name', () => {
  describe('the agent kubeconfig user has `as: narrow-user`, policy open', () => {
    withTunnel({ policy: { mode: 'open' }, agentKubeconfig: { impersonate: { user: 'narrow-user' } } }, (tunnel) => {
      it('Impersonate-Group: system:masters from the client never reaches the API server', async () => {
        const { status, executed, record } = await attack(tunnel(), { 'impersonate-group': 'system:masters' });
        assert.equal(status, 200);
        assert.equal(executed.user, 'narrow-user');
        assert.ok(!(executed.groups ?? []).includes('system:masters'), `executed with groups ${JSON.stringify(executed.groups)}`);
        assert.equal(record.impersonate_user, 'narrow-user');
        assert.equal(record.impersonate_source, 'kubeconfig');
        assert.equal(record.impersonate_groups, undefined);
      });

      it('Impersonate-User from the client does not replace the kubeconfig user (the API server reads the first one)', async () => {
        const { status, executed, record } = await attack(tunnel(), { 'impersonate-user': 'fixture-admin', 'impersonate-uid': '0' });
        assert.equal(status, 200);
        assert.equal(executed.user, 'narrow-user');
        assert.equal(record.impersonate_user, 'narrow-user');
      });
    });
  });

  describe('`share --as bob` over a kubeconfig with `as: narrow-user`', () => {
    withTunnel({ policy: { mode: 'open' }, impersonate: { user: 'bob', groups: [] }, agentKubeconfig: { impersonate: { user: 'narrow-user' } } }, (tunnel) => {
      it('exactly one Impersonate-User travels: --as', async () => {
        const { status, executed, record } = await attack(tunnel(), { 'impersonate-user': 'mallory', 'impersonate-group': 'system:masters' });
        assert.equal(status, 200, 'one Impersonate-User reached the API server (two are a 400 there)');
        assert.equal(executed.user, 'bob');
        assert.ok(!(executed.groups ?? []).includes('system:masters'));
        assert.equal(record.impersonate_user, 'bob');
        assert.equal(record.impersonate_source, 'share');
      });
    });
  });

  describe('no impersonation by the sharer, policy open (impersonation allowed)', () => {
    withTunnel({ policy: { mode: 'open' } }, (tunnel) => {
      it("the client's own impersonation is the identity in the audit record", async () => {
        const { status, executed, record } = await attack(tunnel(), { 'impersonate-user': 'alice', 'impersonate-group': ['devs', 'ops'], 'impersonate-extra-reason': 'audit' });
        assert.equal(status, 200);
        assert.equal(executed.user, 'alice');
        assert.equal(record.decision, 'allow');
        assert.equal(record.impersonate_source, 'client');
        assert.equal(record.impersonate_user, executed.user, 'the audit names who the request acted as');
        assert.deepEqual(record.impersonate_groups, ['devs', 'ops']);
        assert.deepEqual(record.impersonate_extra, { reason: ['audit'] });
      });
    });
  });
});
