/**
 * Pairing attempts and session lifetimes against a real relay process (docs/design.md §3, §7):
 * `pake_failed`, clients that leave or never connect, the five-attempt limit, `established`,
 * the unpaired TTL and the established lifetime (short values by flags), `expiring` notices.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { pair } from '../../../src/relay-client/index.js';
import {
  api,
  connectPair,
  createSessionViaApi,
  errorCode,
  openPeer,
  pairViaApi,
  refusedUpgrade,
  startRelay,
} from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';

const T = { timeout: 30_000 };

async function readAuditEvents(relay: StartedRelay, session: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(relay.auditLog, 'utf8');
  return text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.session === session);
}

type AuditRecords = Array<Record<string, unknown>>;

/** Records of `event` in a session's audit records. */
const countOf = (records: AuditRecords, event: string): number => records.filter((r) => r.event === event).length;

/**
 * The session's audit records once `ready` holds for them. The relay writes audit records
 * asynchronously, so a socket close can be seen before its record is on disk; re-read every
 * 20 ms, at most 10 s, then return what is there for the assertions to judge.
 */
async function auditEvents(relay: StartedRelay, session: string, ready: (records: AuditRecords) => boolean): Promise<AuditRecords> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const records = await readAuditEvents(relay, session);
    if (ready(records)) return records;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return readAuditEvents(relay, session);
}

describe('relay pairing attempts', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '10000', '--claim-timeout', '2s'] });
  });
  after(() => relay.dispose());

  it('pake_failed closes the client with 4403, voids its client_key, and the nameplate pairs again', T, async () => {
    const { session, pairing, agent, client } = await connectPair(relay);
    agent.ws.send(JSON.stringify({ type: 'pake_failed' }));
    const closed = await client.closedWithin();
    assert.equal(closed.code, 4403, closed.reason);
    assert.match(closed.reason, /attempt 1 of 5/);
    await agent.control('peer_disconnected');
    const reused = await refusedUpgrade(openPeer(relay, 'client', session.session_id, pairing.client_key));
    assert.deepEqual(reused, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' }, 'the old client_key is void');
    const again = await pairViaApi(relay, session.nameplate);
    assert.equal(again.session_id, session.session_id, 'the same session can be paired again');
    assert.notEqual(again.client_key, pairing.client_key);
    agent.ws.close();
  });

  it('Security: the 5th failed attempt destroys the session: agent closed with 4429, nameplate gone', T, async () => {
    const session = await createSessionViaApi(relay);
    const agent = await openPeer(relay, 'agent', session.session_id, session.agent_key);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const pairing = await pairViaApi(relay, session.nameplate);
      const client = await openPeer(relay, 'client', session.session_id, pairing.client_key);
      await agent.control('peer_connected', attempt);
      agent.ws.send(JSON.stringify({ type: 'pake_failed' }));
      const closed = await client.closedWithin();
      assert.equal(closed.code, 4403, `attempt ${attempt}: ${closed.reason}`);
    }
    const agentClosed = await agent.closedWithin();
    assert.equal(agentClosed.code, 4429, agentClosed.reason);
    assert.match(agentClosed.reason, /too many failed pairing attempts/);
    const late = await api(relay, 'POST', '/api/v1/pair', { token: relay.tokens.client, body: { nameplate: session.nameplate } });
    if (late.status === 200) {
      assert.notEqual((late.body as { session_id: string }).session_id, session.session_id, 'the nameplate now names another session');
    } else {
      assert.equal(late.status, 404);
      assert.equal(errorCode(late), 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN');
    }
    const reconnect = await refusedUpgrade(openPeer(relay, 'agent', session.session_id, session.agent_key));
    assert.deepEqual(reconnect, { status: 404, code: 'KP_ERR_RELAY_SESSION_NOT_FOUND' });
    await relay.logs.waitFor((r) => r.event === 'session_destroyed' && r.session === session.session_id && r.reason === 'attempts_exhausted');
    const audit = await auditEvents(relay, session.session_id, (r) => countOf(r, 'pairing_attempt_failed') >= 5);
    assert.equal(audit.filter((r) => r.event === 'pairing_attempt_failed').length, 5, 'five attempts audited');
    assert.ok(audit.some((r) => r.event === 'session_destroyed' && r.reason === 'attempts_exhausted'));
  });

  it('a client that disconnects before established counts as an attempt', T, async () => {
    const session = await createSessionViaApi(relay);
    const agent = await openPeer(relay, 'agent', session.session_id, session.agent_key);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const pairing = await pairViaApi(relay, session.nameplate);
      const client = await openPeer(relay, 'client', session.session_id, pairing.client_key);
      await agent.control('peer_connected', attempt);
      client.ws.close();
      await client.closedWithin();
      if (attempt < 5) await agent.control('peer_disconnected', attempt);
    }
    const agentClosed = await agent.closedWithin();
    assert.equal(agentClosed.code, 4429, agentClosed.reason);
    const audit = await auditEvents(relay, session.session_id, (r) => countOf(r, 'pairing_attempt_failed') >= 5);
    assert.deepEqual(
      audit.filter((r) => r.event === 'pairing_attempt_failed').map((r) => r.reason),
      ['client_left', 'client_left', 'client_left', 'client_left', 'client_left'],
    );
  });

  it('a claim whose client never connects ends after --claim-timeout and counts; pake_failed then counts once', T, async () => {
    const session = await createSessionViaApi(relay);
    const agent = await openPeer(relay, 'agent', session.session_id, session.agent_key);
    const mark = relay.logs.mark();
    const abandoned = await pairViaApi(relay, session.nameplate);
    await relay.logs.waitFor((r) => r.event === 'pairing_attempt_failed' && r.session === session.session_id && r.reason === 'connect_timeout', 15_000, mark);
    const late = await refusedUpgrade(openPeer(relay, 'client', session.session_id, abandoned.client_key));
    assert.deepEqual(late, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' }, 'a timed-out claim is void');
    // The nameplate is free again; a pake_failed and the client's disconnect count once together.
    const pairing = await pairViaApi(relay, session.nameplate);
    const client = await openPeer(relay, 'client', session.session_id, pairing.client_key);
    await agent.control('peer_connected');
    agent.ws.send(JSON.stringify({ type: 'pake_failed' }));
    await client.closedWithin();
    await agent.control('peer_disconnected');
    const audit = await auditEvents(relay, session.session_id, (r) => countOf(r, 'pairing_attempt_failed') >= 2);
    assert.deepEqual(
      audit.filter((r) => r.event === 'pairing_attempt_failed').map((r) => [r.reason, r.attempts]),
      [
        ['connect_timeout', 1],
        ['pake_failed', 2],
      ],
    );
    agent.ws.close();
  });

  it('established frees the nameplate, keeps forwarding, and either side leaving ends the session', T, async () => {
    const { session, agent, client } = await connectPair(relay);
    agent.ws.send(JSON.stringify({ type: 'established' }));
    await relay.logs.waitFor((r) => r.event === 'session_established' && r.session === session.session_id);
    const after = await api(relay, 'POST', '/api/v1/pair', { token: relay.tokens.client, body: { nameplate: session.nameplate } });
    if (after.status === 200) assert.notEqual((after.body as { session_id: string }).session_id, session.session_id);
    else assert.equal(errorCode(after), 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN');
    agent.ws.send(Buffer.from('ciphertext'));
    await client.until(() => client.frames.length === 1, 'a frame after established');
    client.ws.close();
    await agent.control('peer_disconnected');
    const closed = await agent.closedWithin();
    assert.equal(closed.code, 4410);
    assert.match(closed.reason, /client left/);
  });

  it('established without a connected client is ignored (logged), not fatal', T, async () => {
    const session = await createSessionViaApi(relay);
    const agent = await openPeer(relay, 'agent', session.session_id, session.agent_key);
    const mark = relay.logs.mark();
    agent.ws.send(JSON.stringify({ type: 'established' }));
    await relay.logs.waitFor((r) => r.event === 'control_ignored' && r.session === session.session_id, 5_000, mark);
    assert.equal(agent.ws.readyState, agent.ws.OPEN);
    const pairing = await pairViaApi(relay, session.nameplate);
    assert.equal(pairing.session_id, session.session_id, 'the nameplate still pairs');
    agent.ws.close();
  });

  it('the agent leaving ends the session and frees the nameplate', T, async () => {
    const { session, agent, client } = await connectPair(relay);
    agent.ws.close();
    await client.control('peer_disconnected');
    const closed = await client.closedWithin();
    assert.equal(closed.code, 4410);
    await relay.logs.waitFor((r) => r.event === 'session_destroyed' && r.session === session.session_id && r.reason === 'agent_left');
  });
});

describe('relay session lifetimes', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({
      args: ['--rate-limit', '10000', '--session-ttl', '2s', '--session-lifetime', '4s', '--expiring-notice', '1s'],
    });
  });
  after(() => relay.dispose());

  it('an unpaired session expires after --session-ttl: expiring first, then close 4410, nameplate free', T, async () => {
    const session = await createSessionViaApi(relay);
    const agent = await openPeer(relay, 'agent', session.session_id, session.agent_key);
    const expiring = await agent.control('expiring', 1, 10_000);
    assert.equal(expiring.at, session.expires_at, 'expiring announces the session end');
    const closed = await agent.closedWithin(10_000);
    assert.equal(closed.code, 4410);
    assert.match(closed.reason, /expired/);
    const late = await api(relay, 'POST', '/api/v1/pair', { token: relay.tokens.client, body: { nameplate: session.nameplate } });
    assert.equal(late.status, 404);
    assert.equal(errorCode(late), 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN');
    const audit = await auditEvents(relay, session.session_id, (r) => countOf(r, 'session_expired') >= 1);
    assert.ok(audit.some((r) => r.event === 'session_expired'), 'expiry audited');
  });

  it('a session nobody connects to expires too (timers, not sockets, drive expiry)', T, async () => {
    const mark = relay.logs.mark();
    const session = await createSessionViaApi(relay);
    await relay.logs.waitFor((r) => r.event === 'session_expired' && r.session === session.session_id, 10_000, mark);
  });

  it('an established session lives for --session-lifetime, not the unpaired TTL', T, async () => {
    const { session, agent, client } = await connectPair(relay);
    agent.ws.send(JSON.stringify({ type: 'established' }));
    await relay.logs.waitFor((r) => r.event === 'session_established' && r.session === session.session_id);
    // The unpaired TTL (2 s) passes; the session survives until its 4 s lifetime.
    // (A slow machine may also see the unpaired TTL's notice first; the lifetime's comes later.)
    const later = (c: Record<string, unknown>): boolean => c.type === 'expiring' && Date.parse(String(c.at)) > Date.parse(session.expires_at);
    await client.until(() => client.controls.some(later), 'expiring with the established end', 10_000);
    const closed = await client.closedWithin(10_000);
    assert.equal(closed.code, 4410);
    await agent.closedWithin(10_000);
  });
});

describe('Security: a stale code never lands on a newer session', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    // A 3 s TTL lets session A expire quickly and leaves session B time to be paired after it.
    relay = await startRelay({ args: ['--rate-limit', '10000', '--session-ttl', '3s', '--expiring-notice', '0s'] });
  });
  after(() => relay.dispose());

  it('an expired session\'s nameplate → 404 with the stale-code message; the newer session keeps all its attempts and pairs', { timeout: 60_000 }, async () => {
    const mark = relay.logs.mark();
    const a = await createSessionViaApi(relay);
    await relay.logs.waitFor((r) => r.event === 'session_expired' && r.session === a.session_id, 20_000, mark, 'session A to expire');
    const b = await createSessionViaApi(relay);
    assert.notEqual(b.nameplate, a.nameplate, 'the expired nameplate is in quarantine, not handed to B');

    // The laptop types A's code a while later: the relay has no session under it.
    const endpoint = { url: relay.url, token: relay.tokens.client };
    await assert.rejects(pair(endpoint, a.nameplate), (err) => {
      assert.ok(isKubepairError(err, 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN'), String(err));
      assert.equal(err.status, 404);
      assert.equal(err.message, `no session with this code: ${a.nameplate}-... expired, was used already, or was mistyped; ask for a new code`);
      return true;
    });
    const raw = await api(relay, 'POST', '/api/v1/pair', { token: relay.tokens.client, body: { nameplate: a.nameplate } });
    assert.equal(raw.status, 404);
    assert.equal(errorCode(raw), 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN');

    // B never saw the stale attempts: it pairs, with no failed attempt counted.
    const agent = await openPeer(relay, 'agent', b.session_id, b.agent_key);
    const pairing = await pair(endpoint, b.nameplate);
    assert.equal(pairing.sessionId, b.session_id);
    const client = await openPeer(relay, 'client', b.session_id, pairing.clientKey);
    await agent.control('peer_connected');
    agent.ws.send(JSON.stringify({ type: 'established' }));
    const audit = await auditEvents(relay, b.session_id, (r) => countOf(r, 'session_established') >= 1);
    assert.deepEqual(
      audit.filter((r) => r.event === 'session_claimed' || r.event === 'session_established' || r.event === 'pairing_attempt_failed').map((r) => [r.event, r.attempts]),
      [
        ['session_claimed', 0],
        ['session_established', 0],
      ],
      'one claim, no failed attempt, then established',
    );
    agent.ws.close();
    client.ws.close();
  });
});
