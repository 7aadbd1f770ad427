/**
 * The relay's WebSockets against a real relay process (docs/design.md §3): upgrades are checked
 * before they are accepted, binary frames are forwarded unchanged and in order, text frames are
 * relay control only, one socket per role, the message size limit, and liveness.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { api, connectPair, createSessionViaApi, openPeer, pairViaApi, refusedUpgrade, startRelay, within } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';

const T = { timeout: 30_000 };

describe('relay WebSockets', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '10000'] });
  });
  after(() => relay.dispose());

  it('masks frames with bufferutil (native), not in JavaScript', T, async () => {
    const listening = await relay.logs.event('relay_listening');
    assert.equal(listening.native_masking, true);
  });

  it('splices agent and client: peer_connected to both, binary frames unchanged and in order both ways', T, async () => {
    const { agent, client } = await connectPair(relay);
    const sent = Array.from({ length: 200 }, (_, i) => randomBytes(1 + ((i * 7919) % 70_000)));
    for (const frame of sent) agent.ws.send(frame);
    await client.until(() => client.frames.length === sent.length, 'all frames at the client');
    assert.deepEqual(client.frames, sent, 'agent → client: same frames, same order');
    const back = sent.slice(0, 50).map((frame) => Buffer.from(frame).reverse());
    for (const frame of back) client.ws.send(frame);
    await agent.until(() => agent.frames.length === back.length, 'all frames at the agent');
    assert.deepEqual(agent.frames, back, 'client → agent: same frames, same order');
    agent.ws.close();
    client.ws.close();
  });

  it('never forwards text frames: the agent\'s control messages stay at the relay', T, async () => {
    const { agent, client } = await connectPair(relay);
    agent.ws.send(JSON.stringify({ type: 'established' }));
    agent.ws.send(Buffer.from('after'));
    await client.until(() => client.frames.length === 1, 'the binary frame');
    assert.deepEqual(
      client.controls.map((c) => c.type),
      ['peer_connected'],
      'the client saw only its own control message, not the agent\'s text frame',
    );
    agent.ws.close();
    client.ws.close();
  });

  it('sends peer_disconnected to the agent when the client leaves before established', T, async () => {
    const { agent, client } = await connectPair(relay);
    client.ws.close();
    await agent.control('peer_disconnected');
    agent.ws.close();
  });

  it('closes a client that sends a text frame with 4400', T, async () => {
    const { agent, client } = await connectPair(relay);
    client.ws.send(JSON.stringify({ type: 'established' }));
    const closed = await client.closedWithin();
    assert.equal(closed.code, 4400, closed.reason);
    agent.ws.close();
  });

  it('closes an agent that sends an unknown control message with 4400', T, async () => {
    const { agent, client } = await connectPair(relay);
    agent.ws.send(JSON.stringify({ type: 'hello' }));
    const closed = await agent.closedWithin();
    assert.equal(closed.code, 4400, closed.reason);
    const clientClosed = await client.closedWithin();
    assert.equal(clientClosed.code, 4410, 'the agent leaving ends the session');
    assert.match(clientClosed.reason, /agent left/);
  });

  describe('Security: upgrades are refused before the WebSocket is accepted', { timeout: 120_000 }, () => {
    it('a wrong agent_key → 401 KP_ERR_RELAY_UNAUTHORIZED', T, async () => {
      const session = await createSessionViaApi(relay);
      const wrong = randomBytes(32).toString('base64url');
      const refused = await refusedUpgrade(openPeer(relay, 'agent', session.session_id, wrong));
      assert.deepEqual(refused, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' });
    });

    it('a client using the agent_key, or a client without a claim → 401', T, async () => {
      const session = await createSessionViaApi(relay);
      const refused = await refusedUpgrade(openPeer(relay, 'client', session.session_id, session.agent_key));
      assert.deepEqual(refused, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' });
    });

    it('a missing or malformed Authorization header → 401', T, async () => {
      const session = await createSessionViaApi(relay);
      assert.deepEqual(await refusedUpgrade(openPeer(relay, 'agent', session.session_id, '', { authorization: null })), {
        status: 401,
        code: 'KP_ERR_RELAY_UNAUTHORIZED',
      });
      assert.deepEqual(await refusedUpgrade(openPeer(relay, 'agent', session.session_id, '', { authorization: `Basic ${session.agent_key}` })), {
        status: 401,
        code: 'KP_ERR_RELAY_UNAUTHORIZED',
      });
    });

    it('the key in the URL query is never accepted (400), even when it is right', T, async () => {
      const session = await createSessionViaApi(relay);
      const refused = await refusedUpgrade(
        openPeer(relay, 'agent', session.session_id, '', { authorization: null, query: `?key=${session.agent_key}` }),
      );
      assert.deepEqual(refused, { status: 400, code: 'KP_ERR_RELAY_INVALID_REQUEST' });
      const withHeader = await refusedUpgrade(openPeer(relay, 'agent', session.session_id, session.agent_key, { query: `?token=${session.agent_key}` }));
      assert.deepEqual(withHeader, { status: 400, code: 'KP_ERR_RELAY_INVALID_REQUEST' });
    });

    it('a browser Origin not in --allow-origin → 403 KP_ERR_RELAY_ORIGIN_DENIED', T, async () => {
      const session = await createSessionViaApi(relay);
      const refused = await refusedUpgrade(openPeer(relay, 'agent', session.session_id, session.agent_key, { origin: 'https://evil.example' }));
      assert.deepEqual(refused, { status: 403, code: 'KP_ERR_RELAY_ORIGIN_DENIED' });
    });

    it('without subprotocol kubepair.v1 → 400', T, async () => {
      const session = await createSessionViaApi(relay);
      const refused = await refusedUpgrade(openPeer(relay, 'agent', session.session_id, session.agent_key, { protocols: ['other.v1'] }));
      assert.deepEqual(refused, { status: 400, code: 'KP_ERR_RELAY_INVALID_REQUEST' });
    });

    it('an unknown session with a key that proves nothing → 401, an unknown path → 404', T, async () => {
      // A restarted relay cannot tell an unknown session from one it lost: only a key that verifies
      // under the relay secret proves a session (session-keys.ts), so this is an authentication failure.
      const refused = await refusedUpgrade(openPeer(relay, 'agent', randomBytes(16).toString('base64url'), randomBytes(32).toString('base64url')));
      assert.deepEqual(refused, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' });
      const badPath = await refusedUpgrade(openPeer(relay, 'agent', 'not-a-session', randomBytes(32).toString('base64url')));
      assert.deepEqual(badPath, { status: 404, code: 'KP_ERR_RELAY_NOT_FOUND' });
    });

    it('accepts only the subprotocol kubepair.v1 and negotiates it', T, async () => {
      const session = await createSessionViaApi(relay);
      const agent = await openPeer(relay, 'agent', session.session_id, session.agent_key, { protocols: ['other', 'kubepair.v1'] });
      assert.equal(agent.ws.protocol, 'kubepair.v1');
      agent.ws.close();
    });
  });

  describe('Security: one socket per role', { timeout: 120_000 }, () => {
    it('a second agent socket is closed with 4409 and the first keeps working', T, async () => {
      const { session, agent, client } = await connectPair(relay);
      const second = await openPeer(relay, 'agent', session.session_id, session.agent_key);
      const closed = await second.closedWithin();
      assert.equal(closed.code, 4409, closed.reason);
      agent.ws.send(Buffer.from('still here'));
      await client.until(() => client.frames.length === 1, 'the frame from the first agent');
      agent.ws.close();
      client.ws.close();
    });

    it('a second client socket with the same client_key is closed with 4409', T, async () => {
      const { session, pairing, agent, client } = await connectPair(relay);
      const second = await openPeer(relay, 'client', session.session_id, pairing.client_key);
      const closed = await second.closedWithin();
      assert.equal(closed.code, 4409, closed.reason);
      agent.ws.close();
      client.ws.close();
    });
  });

  it('Security: a message over the size limit closes the socket with 1009', T, async () => {
    const { agent, client } = await connectPair(relay);
    agent.ws.send(Buffer.alloc(16 * 1024 * 1024 + 1));
    const closed = await agent.closedWithin(20_000);
    assert.equal(closed.code, 1009);
    assert.equal(client.frames.length, 0, 'nothing of the oversized message was forwarded');
    await relay.logs.waitFor((r) => r.event === 'socket_error' && (r.err as { code?: string } | undefined)?.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    client.ws.close();
  });

  it('a message of exactly 16 MiB is forwarded', T, async () => {
    const { agent, client } = await connectPair(relay);
    const big = randomBytes(16 * 1024 * 1024);
    agent.ws.send(big);
    await client.until(() => client.frames.length === 1, 'the 16 MiB frame', 20_000);
    assert.ok(client.frames[0]?.equals(big));
    agent.ws.close();
    client.ws.close();
  });

  it('the relay answers pings and pings its peers', T, async () => {
    const { agent, client } = await connectPair(relay);
    const pong = new Promise<void>((resolve) => agent.ws.once('pong', () => resolve()));
    agent.ws.ping();
    await within(5_000, 'pong', pong);
    agent.ws.close();
    client.ws.close();
  });

  it('pairing needs the API: a nameplate claimed by one client gives the next one 409', T, async () => {
    const session = await createSessionViaApi(relay);
    await pairViaApi(relay, session.nameplate);
    const second = await api(relay, 'POST', '/api/v1/pair', { token: relay.tokens.client, body: { nameplate: session.nameplate } });
    assert.equal(second.status, 409);
  });
});

describe('Security: refused upgrades are rate limited per address', { timeout: 300_000 }, () => {
  it('after --rate-limit refused upgrades in a minute, the address gets 429, even with the right key', { timeout: 30_000 }, async () => {
    const relay = await startRelay({ args: ['--rate-limit', '3'] });
    try {
      const session = await createSessionViaApi(relay);
      for (let i = 0; i < 3; i++) {
        const refused = await refusedUpgrade(openPeer(relay, 'agent', session.session_id, randomBytes(32).toString('base64url')));
        assert.deepEqual(refused, { status: 401, code: 'KP_ERR_RELAY_UNAUTHORIZED' }, `attempt ${i + 1}`);
      }
      const limited = await refusedUpgrade(openPeer(relay, 'agent', session.session_id, session.agent_key));
      assert.deepEqual(limited, { status: 429, code: 'KP_ERR_RELAY_RATE_LIMITED' });
      await refusedUpgrade(openPeer(relay, 'agent', session.session_id, session.agent_key));
      const audit = await readFile(relay.auditLog, 'utf8');
      assert.equal(audit.split('\n').filter((line) => line.includes('"limit":"auth_failures"')).length, 1, 'the limit hit is audited once per window');
    } finally {
      await relay.dispose();
    }
  });
});

describe('relay liveness', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({ args: ['--ping-interval', '250ms', '--peer-timeout', '2s', '--rate-limit', '1000'] });
  });
  after(() => relay.dispose());

  it('drops a peer that stops answering pings; the other side gets peer_disconnected', T, async () => {
    const { agent, client } = await connectPair(relay);
    // A paused socket reads nothing, so it answers no ping: the relay must drop it.
    client.ws.pause();
    await relay.logs.event('peer_silent', 10_000);
    await agent.control('peer_disconnected', 1, 10_000);
    agent.ws.close();
    client.ws.terminate();
  });

  it('keeps a peer that answers pings', T, async () => {
    const { agent, client } = await connectPair(relay);
    const pinged = new Promise<void>((resolve) => {
      let pings = 0;
      client.ws.on('ping', () => {
        if (++pings === 16) resolve();
      });
    });
    await within(15_000, '16 pings (twice the silence limit)', pinged);
    assert.equal(client.ws.readyState, client.ws.OPEN);
    agent.ws.close();
    client.ws.close();
  });
});
