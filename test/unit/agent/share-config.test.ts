/**
 * The agent role's configurations are checked where the objects are built (issue 11 §1): a
 * CodeOffer or AgentSession constructed with a bad or conflicting Config throws a coded error
 * naming the problem, before anything is touched — the same checks `kubepair share` relies on
 * (share-config.ts), so a library caller cannot build a share the CLI would refuse.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentSession } from '../../../src/agent/agent-session.js';
import { CodeOffer } from '../../../src/agent/code-offer.js';
import { RequestPolicy } from '../../../src/agent/policy/index.js';
import type { AgentSessionConfigInput, ShareConfigInput } from '../../../src/agent/share-config.js';
import { checkShareSettings } from '../../../src/agent/share-config.js';
import type { UpstreamCluster } from '../../../src/agent/upstream-cluster.js';
import type { SecureChannel } from '../../../src/channel/index.js';
import type { ErrorCode } from '../../../src/errors/index.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { pairedChannels } from '../../helpers/channel-pair.js';
import { offlineUpstream } from '../../helpers/offline-upstream.js';

const RELAY = { url: 'http://127.0.0.1:8443' };

/** [case, extra config, expected code, expected message pattern] */
type BadCase = readonly [string, Record<string, unknown>, ErrorCode, RegExp];

const BAD_SHARES: readonly BadCase[] = [
  ['passthrough with a guarded policy', { mode: 'passthrough', policy: { mode: 'guarded' } }, 'KP_ERR_INVALID_ARGUMENT', /passthrough mode cannot enforce --policy/],
  ['passthrough with --deny rules', { mode: 'passthrough', policy: { deny: ['delete pods'] } }, 'KP_ERR_INVALID_ARGUMENT', /passthrough mode cannot enforce/],
  ['--service-account in proxy mode', { serviceAccount: { namespace: 'default', name: 'viewer' } }, 'KP_ERR_INVALID_ARGUMENT', /--service-account applies to --mode passthrough only/],
  ['passthrough with impersonation', { mode: 'passthrough', impersonate: { user: 'alice' } }, 'KP_ERR_INVALID_ARGUMENT', /passthrough mode cannot impersonate/],
  ['--as-group without --as', { impersonate: { groups: ['devs'] } }, 'KP_ERR_INVALID_ARGUMENT', /--as-group needs --as/],
  ['an --expose name given twice', { expose: [{ name: 'db', host: '127.0.0.1', port: 5432 }, { name: 'db', host: '127.0.0.1', port: 5433 }] }, 'KP_ERR_INVALID_ARGUMENT', /"db" is exposed twice/],
  ['the reserved target name', { expose: [{ name: 'kube-apiserver', host: '127.0.0.1', port: 6443 }] }, 'KP_ERR_INVALID_ARGUMENT', /reserved for the API server/],
  ['a lifetime under a minute', { sessionLifetimeMs: 59_000 }, 'KP_ERR_INVALID_ARGUMENT', /at least 1m/],
  ['an unknown mode', { mode: 'tunnel' }, 'KP_ERR_INVALID_ARGUMENT', /mode: /],
  ['an unknown field', { allowEverything: true }, 'KP_ERR_INVALID_ARGUMENT', /allowEverything/],
  ['no upstream cluster', { upstream: { server: 'https://127.0.0.1:6443' } }, 'KP_ERR_INVALID_ARGUMENT', /upstream: /],
  ['an audit log that is not one', { audit: { path: '/tmp/audit.jsonl' } }, 'KP_ERR_INVALID_ARGUMENT', /audit: /],
  ['a malformed relay token', { relay: { url: RELAY.url, token: 'kprt_short' } }, 'KP_ERR_INVALID_ARGUMENT', /relay\.token: /],
  ['a relay URL that is not http(s)', { relay: { url: 'ftp://relay.example' } }, 'KP_ERR_RELAY_URL_INVALID', /https:\/\//],
  ['plain http to a relay elsewhere', { relay: { url: 'http://relay.example' } }, 'KP_ERR_RELAY_URL_INSECURE', /relay\.example/],
  ['a policy rule that does not parse', { policy: { deny: ['frobnicate'] } }, 'KP_ERR_POLICY_RULE_INVALID', /frobnicate/],
  ['--allow in the readonly mode', { policy: { mode: 'readonly', allow: ['delete pods'] } }, 'KP_ERR_POLICY_ALLOW_UNUSED', /./],
];

describe('CodeOffer: the configuration is checked in the constructor', () => {
  let upstream: UpstreamCluster;
  before(async () => {
    upstream = await offlineUpstream();
  });

  for (const [name, extra, code, pattern] of BAD_SHARES) {
    it(`refuses ${name} with ${code}`, () => {
      const config = { relay: RELAY, upstream, ...extra } as ShareConfigInput;
      assert.throws(
        () => new CodeOffer(config),
        (err) => isKubepairError(err, code) && pattern.test(err.message),
        `${name}: expected ${code} matching ${pattern}`,
      );
    });
  }

  it('fills in the defaults: proxy mode, the guarded policy, 8 h sessions, no targets, fail closed', () => {
    const offer = new CodeOffer({ relay: RELAY, upstream });
    assert.equal(offer.state, 'idle');
    assert.equal(offer.config.mode, 'proxy');
    assert.deepEqual(offer.config.policy, { mode: 'guarded', allow: [], deny: [] });
    assert.equal(offer.config.sessionLifetimeMs, 8 * 60 * 60 * 1000);
    assert.deepEqual(offer.config.expose, []);
    assert.equal(offer.config.auditFailOpen, false);
    assert.equal(offer.config.once, false);
  });

  it('a passthrough share defaults to the open policy (the only one it can honour)', () => {
    const offer = new CodeOffer({ relay: RELAY, upstream, mode: 'passthrough', serviceAccount: { namespace: 'default', name: 'viewer' } });
    assert.equal(offer.config.policy.mode, 'open');
  });

  it('close() before start ends the offer as closed, and start afterwards is refused', async () => {
    const offer = new CodeOffer({ relay: RELAY, upstream });
    await offer.close();
    assert.deepEqual(await offer.closed, { kind: 'closed' });
    await assert.rejects(offer.start(), (err) => isKubepairError(err, 'KP_ERR_INTERNAL'));
  });

  it('checkShareSettings applies the same conflict checks without a relay or cluster (what the CLI calls first)', () => {
    assert.throws(
      () => checkShareSettings({ mode: 'passthrough', policy: { mode: 'readonly' } }),
      (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT') && /passthrough mode cannot enforce/.test(err.message),
    );
  });
});

describe('AgentSession: the configuration is checked in the constructor', () => {
  let upstream: UpstreamCluster;
  let channels: { agent: SecureChannel; client: SecureChannel };
  before(async () => {
    upstream = await offlineUpstream();
    channels = await pairedChannels();
  });
  after(() => {
    channels.agent.close();
    channels.client.close();
  });

  function sessionConfig(extra: Record<string, unknown> = {}): AgentSessionConfigInput {
    return {
      sessionId: 'AAAAAAAAAAAAAAAAAAAAAA',
      mode: 'proxy',
      policy: RequestPolicy.create({ mode: 'guarded' }),
      expose: [],
      sessionLifetimeMs: 60 * 60 * 1000,
      auditFailOpen: false,
      upstream,
      ...extra,
    };
  }

  const cases: readonly BadCase[] = [
    ['passthrough with a guarded policy', { mode: 'passthrough' }, 'KP_ERR_INVALID_ARGUMENT', /passthrough mode cannot enforce/],
    ['passthrough with impersonation', { mode: 'passthrough', policy: RequestPolicy.create({ mode: 'open' }), impersonate: { user: 'alice', groups: [] } }, 'KP_ERR_INVALID_ARGUMENT', /cannot impersonate/],
    ['a policy that is not a RequestPolicy', { policy: { mode: 'open', allow: [], deny: [] } }, 'KP_ERR_INVALID_ARGUMENT', /policy: /],
    ['a session id that is not the relay\'s', { sessionId: 'not a session id' }, 'KP_ERR_INVALID_ARGUMENT', /sessionId: /],
    ['a lifetime of zero', { sessionLifetimeMs: 0 }, 'KP_ERR_INVALID_ARGUMENT', /sessionLifetimeMs: /],
  ];
  for (const [name, extra, code, pattern] of cases) {
    it(`refuses ${name} with ${code}, leaving the channel open`, () => {
      assert.throws(
        () => new AgentSession(sessionConfig(extra), channels.agent),
        (err) => isKubepairError(err, code) && pattern.test(err.message),
        `${name}: expected ${code} matching ${pattern}`,
      );
      assert.equal(channels.agent.isClosed, false, `${name}: the channel is not touched`);
    });
  }

  it('accepts a valid configuration and starts idle', () => {
    const session = new AgentSession(sessionConfig(), channels.agent);
    assert.equal(session.state, 'idle');
    assert.equal(session.config.sessionId, 'AAAAAAAAAAAAAAAAAAAAAA');
  });
});
