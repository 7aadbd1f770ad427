/**
 * The relay's part of durable sessions (docs/design.md §8.1), against real relay processes on
 * 127.0.0.1: a side whose socket is cut after `established` is suspended for the resume window and
 * resumes with its key; a newer socket replaces a half-dead one at once; the window closing ends
 * the session; a relay killed with SIGKILL (or stopped) and started again on the same port with the
 * same state directory accepts both sides back; forged, expired and foreign keys are refused
 * and spend the failure budget; resumptions for sessions nobody can prove allocate nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RELAY_SECRET_FILE } from '../../../src/relay/relay-secret.js';
import { newSessionId } from '../../../src/relay/secrets.js';
import { SessionKeys, keyExpiryFor } from '../../../src/relay/session-keys.js';
import type { TransportCloseInfo } from '../../../src/channel/transport.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { createSession, openRelaySocket, pair, reconnectVerdict } from '../../../src/relay-client/index.js';
import type { RelaySocket } from '../../../src/relay-client/index.js';
import type { RelayControlMessage } from '../../../src/protocol/relay-control.js';
import { connectPair, metric, openPeer, refusedUpgrade, startRelay, within } from '../../helpers/relay-process.js';
import type { StartedRelay, TestPeer } from '../../helpers/relay-process.js';

const T = { timeout: 60_000 };
const HOUR = 3_600_000;

type AuditRecord = Record<string, unknown>;

/** The relay's audit records of `session` once `ready` holds (bounded: re-read every 20 ms for at most 10 s). */
async function auditOf(relay: StartedRelay, session: string, ready: (records: AuditRecord[]) => boolean): Promise<AuditRecord[]> {
  const read = async (): Promise<AuditRecord[]> =>
    (await readFile(relay.auditLog, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditRecord)
      .filter((record) => record.session === session);
  for (let attempt = 0; attempt < 500; attempt++) {
    const records = await read();
    if (ready(records)) return records;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return read();
}

const has = (event: string, fields: AuditRecord = {}) => (records: AuditRecord[]): boolean =>
  records.some((record) => record.event === event && Object.entries(fields).every(([key, value]) => record[key] === value));

/** A metric's value once `ready` holds for it (bounded: every 20 ms for at most 10 s). */
async function metricOnce(relay: StartedRelay, name: string, labels: string, ready: (value: number) => boolean): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const value = (await metric(relay, name, labels)) ?? 0;
    if (ready(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return (await metric(relay, name, labels)) ?? 0;
}

/** The agent says `established` with a resume window; resolves once the relay recorded it. */
async function establish(relay: StartedRelay, agent: TestPeer, sessionId: string, resumeWindowS: number): Promise<void> {
  const mark = relay.logs.mark();
  agent.ws.send(JSON.stringify({ type: 'established', resume_window_s: resumeWindowS }));
  await relay.logs.waitFor((r) => r.event === 'session_established' && r.session === sessionId, 10_000, mark, 'session_established');
}

/** Binary frames flow both ways between `a` and `b`, unchanged and in order. */
async function exchange(a: TestPeer, b: TestPeer, what: string): Promise<void> {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const sent = Array.from({ length: 20 }, (_, i) => randomBytes(1 + i * 997));
    const start = to.frames.length;
    for (const frame of sent) from.ws.send(frame);
    await to.until(() => to.frames.length >= start + sent.length, `${what}: all frames`);
    assert.deepEqual(to.frames.slice(start), sent, `${what}: same frames, same order`);
  }
}

/** A refused upgrade's status, code and message (the message is what the returning side reads). */
async function refusal(promise: Promise<TestPeer>): Promise<{ status: number; code: string | undefined; message: string | undefined }> {
  try {
    const peer = await promise;
    peer.ws.terminate();
  } catch (err) {
    const e = err as { status?: number; body?: { error?: { code?: string; message?: string } } };
    if (e.status === undefined) throw err;
    return { status: e.status, code: e.body?.error?.code, message: e.body?.error?.message };
  }
  throw new Error('the upgrade was accepted');
}

/** The relay secret the test forges keys with, as an attacker who stole the state directory could. */
async function relaySecret(relay: StartedRelay): Promise<Buffer> {
  return readFile(join(relay.stateDir, RELAY_SECRET_FILE));
}

describe('durable sessions: suspension, resumption, replacement', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    // Default liveness (30 s pings, 90 s silence): a replacement must not wait for it.
    relay = await startRelay({ args: ['--rate-limit', '10000'] });
  });
  after(() => relay.dispose());

  it('a cut after established: peer_suspended, frames meanwhile dropped, the same key resumes, peer_resumed to both, frames flow both ways', T, async () => {
    const { session, pairing, agent, client } = await connectPair(relay);
    await establish(relay, agent, session.session_id, 600);
    await exchange(agent, client, 'before the cut');
    client.ws.terminate(); // no close frame: a network cut as the relay sees it
    await agent.control('peer_suspended');
    assert.equal(agent.ws.readyState, agent.ws.OPEN, 'the agent stays connected');
    const dropped = (await metric(relay, 'kubepair_relay_dropped_frames_total')) ?? 0;
    agent.ws.send(Buffer.from('sent while the client was away'));
    await metricOnce(relay, 'kubepair_relay_dropped_frames_total', '', (value) => value > dropped);
    const resumed = await openPeer(relay, 'client', session.session_id, pairing.client_key);
    await resumed.control('peer_resumed');
    await agent.control('peer_resumed');
    await exchange(agent, resumed, 'after resuming');
    assert.ok(!resumed.frames.some((frame) => frame.toString() === 'sent while the client was away'), 'the relay dropped, not queued, what came meanwhile');
    assert.deepEqual(
      resumed.controls.map((c) => c.type),
      ['peer_resumed'],
      'no peer_connected: a resumed session does not pair again',
    );
    const audit = await auditOf(relay, session.session_id, has('session_resumed'));
    assert.ok(has('session_suspended', { role: 'client', close_code: 1006 })(audit), 'the suspension is audited');
    assert.ok(has('session_resumed', { role: 'client' })(audit), 'the resumption is audited');
    assert.ok(!audit.some((r) => r.event === 'session_destroyed'), 'the session did not end');
    assert.equal(await metric(relay, 'kubepair_relay_suspensions_total'), 1);
    agent.ws.close(1000);
    resumed.ws.close(1000);
  });

  it('a side that ends the session on purpose (close 1000) ends it at once, window or not', T, async () => {
    const { session, agent, client } = await connectPair(relay);
    await establish(relay, agent, session.session_id, 600);
    client.ws.close(1000, 'done');
    await agent.control('peer_disconnected');
    const closed = await agent.closedWithin();
    assert.equal(closed.code, 4410, closed.reason);
    assert.match(closed.reason, /client left/);
    assert.ok(!agent.controls.some((c) => c.type === 'peer_suspended'));
  });

  it('an endpoint that breaks the protocol after established ends the session (4400), it is not suspended', T, async () => {
    const { session, agent, client } = await connectPair(relay);
    await establish(relay, agent, session.session_id, 600);
    agent.ws.send(JSON.stringify({ type: 'hello' }));
    assert.equal((await agent.closedWithin()).code, 4400);
    const closed = await client.closedWithin();
    assert.equal(closed.code, 4410);
    assert.match(closed.reason, /agent left/);
    assert.ok(!client.controls.some((c) => c.type === 'peer_suspended'));
  });

  for (const role of ['client', 'agent'] as const) {
    it(`a newer ${role} socket replaces a half-dead one at once (4001), without waiting for the 90 s liveness timeout`, T, async () => {
      const { session, pairing, agent, client } = await connectPair(relay);
      await establish(relay, agent, session.session_id, 600);
      const [old, other] = role === 'client' ? [client, agent] : [agent, client];
      const key = role === 'client' ? pairing.client_key : session.agent_key;
      old.ws.pause(); // half-dead: reads nothing, answers no ping
      const before = (await metric(relay, 'kubepair_relay_resumptions_total', '{kind="replaced"}')) ?? 0;
      const newer = await openPeer(relay, role, session.session_id, key);
      await newer.control('peer_resumed');
      await other.control('peer_resumed');
      await exchange(other, newer, `${role} replaced`);
      old.ws.resume();
      const closed = await old.closedWithin();
      assert.equal(closed.code, 4001, closed.reason);
      assert.match(closed.reason, /a newer connection for this side of the session replaced this one/);
      assert.equal(old.frames.length, 0, 'nothing went to the replaced socket');
      assert.equal(await metric(relay, 'kubepair_relay_resumptions_total', '{kind="replaced"}'), before + 1);
      const audit = await auditOf(relay, session.session_id, has('socket_replaced'));
      assert.ok(has('socket_replaced', { role })(audit));
      assert.ok(!audit.some((r) => r.event === 'session_suspended'), 'a replacement is not a suspension');
      await exchange(other, newer, 'after the old socket closed');
      agent.ws.close(1000);
      newer.ws.close(1000);
    });
  }

  it('before established nothing changes: a second socket of a connected side is refused with 4409', T, async () => {
    const { session, agent, client } = await connectPair(relay);
    const second = await openPeer(relay, 'agent', session.session_id, session.agent_key);
    assert.equal((await second.closedWithin()).code, 4409);
    await exchange(agent, client, 'the first agent still works');
    agent.ws.close(1000);
    client.ws.close(1000);
  });

  it('both sides cut: each resuming socket hears peer_suspended until the other is back, then both peer_resumed', T, async () => {
    const { session, pairing, agent, client } = await connectPair(relay);
    await establish(relay, agent, session.session_id, 600);
    client.ws.terminate();
    await agent.control('peer_suspended');
    agent.ws.terminate();
    await relay.logs.waitFor((r) => r.event === 'session_suspended' && r.session === session.session_id && r.role === 'agent');
    const agent2 = await openPeer(relay, 'agent', session.session_id, session.agent_key);
    await agent2.control('peer_suspended');
    const client2 = await openPeer(relay, 'client', session.session_id, pairing.client_key);
    await client2.control('peer_resumed');
    await agent2.control('peer_resumed');
    await exchange(agent2, client2, 'after both came back');
    agent2.ws.close(1000);
    client2.ws.close(1000);
  });
});

describe('durable sessions: the resume window', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '10000', '--max-resume-window', '1s'] });
  });
  after(() => relay.dispose());

  it('capped by --max-resume-window; when it closes the session is destroyed (4410, audited) and its keys open nothing', T, async () => {
    const { session, pairing, agent, client } = await connectPair(relay);
    await establish(relay, agent, session.session_id, 3600);
    const established = await auditOf(relay, session.session_id, has('session_established'));
    assert.ok(has('session_established', { resume_window_s: 1 })(established), 'an hour asked, one second granted');
    client.ws.terminate();
    await agent.control('peer_suspended');
    const closed = await agent.closedWithin(10_000);
    assert.equal(closed.code, 4410, closed.reason);
    assert.match(closed.reason, /the client did not come back within the resume window/);
    const audit = await auditOf(relay, session.session_id, has('session_destroyed'));
    assert.ok(has('session_destroyed', { reason: 'resume_expired', missing: 'client' })(audit), JSON.stringify(audit));
    assert.equal(await metric(relay, 'kubepair_relay_sessions_ended_total', '{reason="resume_expired"}'), 1);
    // This relay knows the session ended, and the side that comes back too late hears why.
    const late = await refusal(openPeer(relay, 'client', session.session_id, pairing.client_key));
    assert.deepEqual(late, {
      status: 404,
      code: 'KP_ERR_RELAY_SESSION_NOT_FOUND',
      message: 'the relay session does not exist or has ended: its resume window closed before this side came back',
    });
  });

  it('an agent that asks for no window gets none: a cut ends the session at once, as before', T, async () => {
    const { session, agent, client } = await connectPair(relay);
    agent.ws.send(JSON.stringify({ type: 'established' }));
    await relay.logs.waitFor((r) => r.event === 'session_established' && r.session === session.session_id);
    client.ws.terminate();
    await agent.control('peer_disconnected');
    assert.equal((await agent.closedWithin()).code, 4410);
  });
});

describe('durable sessions: relay restarts', { timeout: 300_000 }, () => {
  it('Security: killed with SIGKILL twice and stopped once, restarted on the same port and state directory: both sides resume and frames flow', { timeout: 120_000 }, async () => {
    let relay = await startRelay({ args: ['--rate-limit', '10000'] });
    try {
      const { session, pairing, agent, client } = await connectPair(relay);
      await establish(relay, agent, session.session_id, 600);
      await exchange(agent, client, 'before any restart');
      let peers = { agent, client };
      for (const [round, signal] of (['SIGKILL', 'SIGKILL', 'SIGTERM'] as const).entries()) {
        const stopped = await relay.stop(signal);
        assert.equal(stopped.signal ?? String(stopped.code), signal === 'SIGKILL' ? 'SIGKILL' : '0', `round ${round}: how the relay ended`);
        if (signal === 'SIGTERM') {
          const closed = await peers.agent.closedWithin();
          assert.equal(closed.code, 4503, 'a graceful stop closes with 4503');
          assert.ok(!peers.agent.controls.some((c) => c.type === 'expiring'), 'no expiring: the session survives the restart');
          const last = JSON.parse((await readFile(relay.auditLog, 'utf8')).trimEnd().split('\n').at(-1) ?? '{}') as AuditRecord;
          assert.equal(last.event, 'relay_stopped');
          assert.equal(last.sessions_resumable, 1);
          assert.equal(last.sessions_dropped, 0);
        }
        await peers.agent.closedWithin();
        await peers.client.closedWithin();
        relay = await startRelay({ restartOf: relay, args: ['--rate-limit', '10000'] });
        const agentBack = await openPeer(relay, 'agent', session.session_id, session.agent_key);
        await agentBack.control('peer_suspended');
        const clientBack = await openPeer(relay, 'client', session.session_id, pairing.client_key);
        await clientBack.control('peer_resumed');
        await agentBack.control('peer_resumed');
        await exchange(agentBack, clientBack, `after restart ${round + 1} (${signal})`);
        const audit = await auditOf(relay, session.session_id, (records) => records.filter((r) => r.event === 'session_recreated').length > round);
        assert.equal(audit.filter((r) => r.event === 'session_recreated').length, round + 1, `round ${round}: recreated once per restart`);
        assert.equal(await metric(relay, 'kubepair_relay_sessions_recreated_total'), 1);
        peers = { agent: agentBack, client: clientBack };
      }
      // The agent restates its window after a recreation: from then on it is the agent's again.
      const mark = relay.logs.mark();
      peers.agent.ws.send(JSON.stringify({ type: 'established', resume_window_s: 1 }));
      const granted = await relay.logs.waitFor((r) => r.event === 'resume_window' && r.session === session.session_id, 10_000, mark, 'resume_window');
      assert.equal(granted.granted_s, 1);
      peers.client.ws.terminate();
      await peers.agent.control('peer_suspended');
      assert.equal((await peers.agent.closedWithin(10_000)).code, 4410, 'the agent\'s own window (1 s) applies again');
    } finally {
      await relay.dispose();
    }
  });

  it('Security: after a restart, a wrong key, an expired key, the other side\'s key and a key under another secret are refused (401) and spend the failure budget', { timeout: 60_000 }, async () => {
    const args = ['--rate-limit', '5'];
    let relay = await startRelay({ args });
    try {
      const { session, pairing, agent } = await connectPair(relay); // two API requests of the five
      await establish(relay, agent, session.session_id, 600);
      const secret = await relaySecret(relay);
      await relay.stop('SIGKILL');
      relay = await startRelay({ restartOf: relay, args });
      const id = session.session_id;
      const stolen = new SessionKeys(secret, randomBytes(4)); // the right secret, as a previous relay process
      const forgeries: Array<[string, 'agent' | 'client', string]> = [
        ['a wrong key', 'agent', randomBytes(32).toString('base64url')],
        ['an expired key', 'agent', stolen.issue(id, 'agent', keyExpiryFor(Date.now() - 60_000))],
        ['the client\'s key on the agent\'s socket', 'agent', pairing.client_key],
        ['the agent\'s key on the client\'s socket', 'client', session.agent_key],
        ['a key under another relay secret', 'client', new SessionKeys(randomBytes(32)).issue(id, 'client', keyExpiryFor(Date.now() + HOUR))],
      ];
      for (const [what, role, key] of forgeries) {
        const refused = await refusedUpgrade(openPeer(relay, role, id, key));
        assert.deepEqual(refused, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' }, what);
      }
      // Five failures spent 127.0.0.1's budget: even the right key is refused from there now.
      const limited = await refusedUpgrade(openPeer(relay, 'agent', id, session.agent_key));
      assert.deepEqual(limited, { status: 429, code: 'KP_ERR_RELAY_RATE_LIMITED' });
      assert.equal(await metric(relay, 'kubepair_relay_auth_failures_total', '{where="upgrade"}', '127.0.0.2'), 5);
      assert.equal(await metric(relay, 'kubepair_relay_sessions_recreated_total', '', '127.0.0.2'), 0, 'no forgery recreated anything');
      // The real sides, from an address with budget left, resume.
      const agentBack = await openPeer(relay, 'agent', id, session.agent_key, { localAddress: '127.0.0.2' });
      const clientBack = await openPeer(relay, 'client', id, pairing.client_key, { localAddress: '127.0.0.2' });
      await agentBack.control('peer_resumed');
      await exchange(agentBack, clientBack, 'the real sides after the forgeries');
      agentBack.ws.close(1000);
      clientBack.ws.close(1000);
    } finally {
      await relay.dispose();
    }
  });

  it('Security: once a recreated session adopted a client key, another valid client key of that session (an earlier pairing attempt) is refused', T, async () => {
    let relay = await startRelay({ args: ['--rate-limit', '10000'] });
    try {
      const { session, pairing, agent } = await connectPair(relay);
      await establish(relay, agent, session.session_id, 600);
      const secret = await relaySecret(relay);
      await relay.stop('SIGKILL');
      relay = await startRelay({ restartOf: relay, args: ['--rate-limit', '10000'] });
      const client = await openPeer(relay, 'client', session.session_id, pairing.client_key);
      await client.control('peer_suspended');
      const otherAttempt = new SessionKeys(secret, randomBytes(4)).issue(session.session_id, 'client', Buffer.from(pairing.client_key, 'base64url').readUInt32BE(0) * 1000);
      const refused = await refusedUpgrade(openPeer(relay, 'client', session.session_id, otherAttempt));
      assert.deepEqual(refused, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' });
      client.ws.close(1000);
    } finally {
      await relay.dispose();
    }
  });

  it('Security: a session recreated after a restart whose window then closed is never recreated again: a side coming back hears why (404)', T, async () => {
    const args = ['--rate-limit', '10000', '--max-resume-window', '1s'];
    let relay = await startRelay({ args });
    try {
      const { session, pairing, agent } = await connectPair(relay);
      await establish(relay, agent, session.session_id, 600);
      await relay.stop('SIGKILL');
      relay = await startRelay({ restartOf: relay, args });
      const agentBack = await openPeer(relay, 'agent', session.session_id, session.agent_key);
      await agentBack.control('peer_suspended');
      const closed = await agentBack.closedWithin(10_000);
      assert.equal(closed.code, 4410, closed.reason);
      assert.match(closed.reason, /the client did not come back within the resume window/);
      // Both keys still verify under the relay secret, but this process saw the session end.
      for (const [role, key] of [
        ['client', pairing.client_key],
        ['agent', session.agent_key],
      ] as const) {
        const late = await refusal(openPeer(relay, role, session.session_id, key));
        assert.deepEqual(
          late,
          { status: 404, code: 'KP_ERR_RELAY_SESSION_NOT_FOUND', message: 'the relay session does not exist or has ended: its resume window closed before this side came back' },
          role,
        );
      }
      assert.equal(await metric(relay, 'kubepair_relay_sessions_recreated_total'), 1, 'recreated once, not again');
      assert.equal(await metric(relay, 'kubepair_relay_sessions', '{state="established"}'), 0);
    } finally {
      await relay.dispose();
    }
  });

  it('Security: a flood of resumptions for sessions nobody can prove allocates nothing; valid ones wait in a bounded table that empties itself', { timeout: 90_000 }, async () => {
    const relay = await startRelay({ logLevel: 'info', args: ['--rate-limit', '100000', '--max-recreated-waiting', '3', '--max-resume-window', '2s'] });
    try {
      for (let i = 0; i < 300; i++) {
        const refused = await refusedUpgrade(openPeer(relay, i % 2 === 0 ? 'agent' : 'client', newSessionId(), randomBytes(32).toString('base64url')));
        assert.deepEqual(refused, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' }, `attempt ${i}`);
      }
      assert.equal(await metric(relay, 'kubepair_relay_sessions', '{state="established"}'), 0);
      assert.equal(await metric(relay, 'kubepair_relay_suspended_sessions', '{kind="all"}'), 0);
      assert.equal(await metric(relay, 'kubepair_relay_sessions_recreated_total'), 0);
      // Keys that do verify (a relay secret that leaked, or many sessions coming back at once).
      const stolen = new SessionKeys(await relaySecret(relay), randomBytes(4));
      const valid = (): [string, string] => {
        const id = newSessionId();
        return [id, stolen.issue(id, 'agent', keyExpiryFor(Date.now() + HOUR))];
      };
      const waiting: TestPeer[] = [];
      for (let i = 0; i < 3; i++) {
        const [id, key] = valid();
        const peer = await openPeer(relay, 'agent', id, key);
        await peer.control('peer_suspended');
        waiting.push(peer);
      }
      for (let i = 0; i < 3; i++) {
        const [id, key] = valid();
        const refused = await refusedUpgrade(openPeer(relay, 'agent', id, key));
        assert.deepEqual(refused, { status: 503, code: 'KP_ERR_RELAY_CAPACITY' }, `recreation ${i + 4} is over the bound`);
      }
      assert.equal(await metric(relay, 'kubepair_relay_suspended_sessions', '{kind="recreated"}'), 3);
      assert.equal(await metric(relay, 'kubepair_relay_limit_hits_total', '{limit="recreated_waiting"}'), 3);
      // Nobody comes for them: the window closes, they end, and the table has room again.
      for (const peer of waiting) {
        const closed = await peer.closedWithin(10_000);
        assert.equal(closed.code, 4410, closed.reason);
        assert.match(closed.reason, /the client did not come back within the resume window/);
      }
      assert.equal(await metricOnce(relay, 'kubepair_relay_suspended_sessions', '{kind="recreated"}', (value) => value === 0), 0);
      const [id, key] = valid();
      const again = await openPeer(relay, 'agent', id, key);
      await again.control('peer_suspended');
      again.ws.close(1000);
    } finally {
      await relay.dispose();
    }
  });
});

describe('Security: a flood of reconnects', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '20', '--max-reconnects-per-minute', '10'] });
  });
  after(() => relay.dispose());

  it('each side opens at most --max-reconnects-per-minute new sockets a minute (then 429), the current socket keeps working, and wrong keys still spend the failure budget', T, async () => {
    const { session, pairing, agent, client } = await connectPair(relay); // two of the 20 API requests
    await establish(relay, agent, session.session_id, 600);
    let current = client;
    for (let i = 0; i < 10; i++) {
      const newer = await openPeer(relay, 'client', session.session_id, pairing.client_key);
      await newer.control('peer_resumed');
      assert.equal((await current.closedWithin()).code, 4001, `reconnect ${i + 1}: the older socket is replaced`);
      current = newer;
    }
    const over = await refusal(openPeer(relay, 'client', session.session_id, pairing.client_key));
    assert.deepEqual(over, {
      status: 429,
      code: 'KP_ERR_RELAY_RATE_LIMITED',
      message: 'too many requests to the relay from this address; slow down: too many new sockets for this side of the session; wait a minute',
    });
    assert.equal(await metric(relay, 'kubepair_relay_limit_hits_total', '{limit="reconnects"}'), 1);
    // The refusal says when the side's minute ends (Retry-After), and the relay client keeps it for the reconnect loop.
    const refusedByClient = await openRelaySocket({ endpoint: { url: relay.url }, role: 'client', sessionId: session.session_id, key: pairing.client_key }).then(
      () => assert.fail('the 11th reconnect was accepted'),
      (err: unknown) => err,
    );
    assert.ok(isKubepairError(refusedByClient, 'KP_ERR_RELAY_RATE_LIMITED'), String(refusedByClient));
    const retryAfterMs = refusedByClient.retryAfterMs ?? -1;
    assert.ok(retryAfterMs >= 1_000 && retryAfterMs <= 60_000, `Retry-After of the reconnect limit: ${retryAfterMs} ms, within the side's minute`);
    assert.equal(current.ws.readyState, current.ws.OPEN, 'the refused reconnect did not touch the current socket');
    await exchange(agent, current, 'after the flood');
    assert.equal(await metric(relay, 'kubepair_relay_open_sockets', '{role="client"}'), 1, 'replaced sockets do not pile up');
    // The other side has its own budget.
    const agentNewer = await openPeer(relay, 'agent', session.session_id, session.agent_key);
    await agentNewer.control('peer_resumed');
    // Authenticated reconnects spent none of the address's failure budget; wrong keys still do.
    for (let i = 0; i < 20; i++) {
      const refused = await refusedUpgrade(openPeer(relay, 'client', session.session_id, randomBytes(32).toString('base64url')));
      assert.deepEqual(refused, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' }, `wrong key ${i + 1}`);
    }
    const budgetGone = await refusal(openPeer(relay, 'agent', session.session_id, session.agent_key));
    assert.equal(budgetGone.status, 429);
    assert.match(budgetGone.message ?? '', /too many refused requests from this address/);
    const budgetByClient = await openRelaySocket({ endpoint: { url: relay.url }, role: 'agent', sessionId: session.session_id, key: session.agent_key }).then(
      () => assert.fail('an upgrade past the failure budget was accepted'),
      (err: unknown) => err,
    );
    assert.ok(isKubepairError(budgetByClient, 'KP_ERR_RELAY_RATE_LIMITED'), String(budgetByClient));
    const budgetRetryMs = budgetByClient.retryAfterMs ?? -1;
    assert.ok(budgetRetryMs >= 1_000 && budgetRetryMs <= 60_000, `Retry-After of the failure budget: ${budgetRetryMs} ms, within the address's minute`);
    await exchange(agentNewer, current, 'the session outlived the flood');
    const audit = await auditOf(relay, session.session_id, has('socket_replaced'));
    assert.equal(audit.filter((r) => r.event === 'socket_replaced').length, 11, 'ten client replacements and one agent replacement');
    agentNewer.ws.close(1000);
    current.ws.close(1000);
  });
});

/** The next relay control message of `type` on `socket` (bounded). */
async function nextControl(socket: RelaySocket, type: RelayControlMessage['type']): Promise<RelayControlMessage> {
  const message = await within(10_000, `control ${type}`, socket.nextControl([type]));
  assert.ok(message !== undefined, `the socket closed before ${type}`);
  return message;
}

function closeOf(socket: RelaySocket): Promise<TransportCloseInfo> {
  return within(10_000, 'socket close', new Promise((resolve) => socket.once('close', resolve)));
}

/** One frame each way through two relay-client sockets. */
async function roundTrip(agent: RelaySocket, client: RelaySocket, what: string): Promise<void> {
  for (const [from, to] of [
    [agent, client],
    [client, agent],
  ] as const) {
    const payload = randomBytes(4096);
    const got = within(10_000, `${what}: a frame`, new Promise<Uint8Array>((resolve) => to.once('message', resolve)));
    from.send(payload);
    assert.deepEqual(Buffer.from(await got), payload, what);
  }
}

describe('the relay client reconnecting (the API endpoints resume with)', { timeout: 300_000 }, () => {
  it('abandon() suspends, openRelaySocket with the same key resumes, a newer socket replaces (4001, stop), a killed relay is retried and resumed after its restart', { timeout: 120_000 }, async () => {
    let relay = await startRelay({ args: ['--rate-limit', '10000'] });
    try {
      const agentEndpoint = { url: relay.url, token: relay.tokens.agent };
      const clientEndpoint = { url: relay.url, token: relay.tokens.client };
      const session = await createSession(agentEndpoint);
      const agentSocket = (): Promise<RelaySocket> => openRelaySocket({ endpoint: agentEndpoint, role: 'agent', sessionId: session.sessionId, key: session.agentKey });
      let agent = await agentSocket();
      const agentConnected = nextControl(agent, 'peer_connected');
      const paired = await pair(clientEndpoint, session.nameplate);
      const clientSocket = (): Promise<RelaySocket> => openRelaySocket({ endpoint: clientEndpoint, role: 'client', sessionId: paired.sessionId, key: paired.clientKey });
      let client = await clientSocket();
      await Promise.all([agentConnected, nextControl(client, 'peer_connected')]);
      const mark = relay.logs.mark();
      agent.sendEstablished(600);
      await relay.logs.waitFor((r) => r.event === 'session_established' && r.session === session.sessionId, 10_000, mark, 'session_established');

      // The client drops its carrier on purpose (it decided the link is dead): suspended, not ended.
      const suspended = nextControl(agent, 'peer_suspended');
      const abandoned = closeOf(client);
      client.abandon();
      assert.equal((await abandoned).error, undefined, 'our own abandon is not an error');
      await suspended;
      const agentResumed = nextControl(agent, 'peer_resumed');
      client = await clientSocket();
      await Promise.all([agentResumed, nextControl(client, 'peer_resumed')]);
      await roundTrip(agent, client, 'after abandon and resume');

      // A newer socket of the same side replaces the older at once; the older hears 4001: stop.
      const replacedClose = closeOf(client);
      const newer = await clientSocket();
      await nextControl(newer, 'peer_resumed');
      const replaced = await replacedClose;
      assert.equal(replaced.code, 4001);
      assert.ok(isKubepairError(replaced.error, 'KP_ERR_RELAY_SOCKET_REPLACED'), String(replaced.error));
      assert.equal(reconnectVerdict(replaced.error), 'stop', 'a replaced socket is not reopened');
      client = newer;
      await roundTrip(agent, client, 'after replacement');

      // The relay dies: both sockets lose their carrier (retry); while it is down, opening fails (retry).
      const lost = [closeOf(agent), closeOf(client)];
      await relay.stop('SIGKILL');
      for (const info of await Promise.all(lost)) {
        assert.ok(isKubepairError(info.error, 'KP_ERR_TRANSPORT_CLOSED'), String(info.error));
        assert.equal(reconnectVerdict(info.error), 'retry');
      }
      const whileDown = await agentSocket().then(
        () => assert.fail('the relay is down'),
        (err: unknown) => err,
      );
      assert.ok(isKubepairError(whileDown, 'KP_ERR_RELAY_UNREACHABLE'), String(whileDown));
      assert.equal(reconnectVerdict(whileDown), 'retry');
      relay = await startRelay({ restartOf: relay, args: ['--rate-limit', '10000'] });
      agent = await agentSocket();
      await nextControl(agent, 'peer_suspended');
      const agentBack = nextControl(agent, 'peer_resumed');
      client = await clientSocket();
      await Promise.all([agentBack, nextControl(client, 'peer_resumed')]);
      agent.sendEstablished(600); // restate the window on the new relay process
      await roundTrip(agent, client, 'after the relay restart');
      const bothClosed = [closeOf(agent), closeOf(client)];
      client.close();
      await Promise.all(bothClosed);
    } finally {
      await relay.dispose();
    }
  });

  it('the window closing: the side that stayed gets 4410 (stop), the side that comes back gets 404 with the reason (stop)', T, async () => {
    const relay = await startRelay({ args: ['--rate-limit', '10000', '--max-resume-window', '1s'] });
    try {
      const agentEndpoint = { url: relay.url, token: relay.tokens.agent };
      const session = await createSession(agentEndpoint);
      const agent = await openRelaySocket({ endpoint: agentEndpoint, role: 'agent', sessionId: session.sessionId, key: session.agentKey });
      const agentConnected = nextControl(agent, 'peer_connected');
      const paired = await pair({ url: relay.url, token: relay.tokens.client }, session.nameplate);
      const clientOptions = { endpoint: { url: relay.url }, role: 'client' as const, sessionId: paired.sessionId, key: paired.clientKey };
      const client = await openRelaySocket(clientOptions);
      await agentConnected;
      agent.sendEstablished(600);
      await relay.logs.waitFor((r) => r.event === 'session_established' && r.session === session.sessionId);
      const agentClosed = closeOf(agent);
      client.abandon();
      await nextControl(agent, 'peer_suspended');
      const ended = await agentClosed;
      assert.ok(isKubepairError(ended.error, 'KP_ERR_RELAY_SESSION_ENDED'), String(ended.error));
      assert.match(ended.error?.message ?? '', /the client did not come back within the resume window/);
      assert.equal(reconnectVerdict(ended.error), 'stop');
      const late = await openRelaySocket(clientOptions).then(
        () => assert.fail('the session is over'),
        (err: unknown) => err,
      );
      assert.ok(isKubepairError(late, 'KP_ERR_RELAY_SESSION_NOT_FOUND'), String(late));
      assert.equal((late as Error).message, 'the relay session does not exist or has ended: its resume window closed before this side came back');
      assert.equal(reconnectVerdict(late), 'stop');
    } finally {
      await relay.dispose();
    }
  });
});
