/**
 * AgentSession's lifecycle over a real pair of SecureChannels (in memory): the description it
 * sends, the events, and that `closed` settles whichever way the session ends — including a
 * close while it is still describing itself, which once left `closed` (and close()) pending
 * forever.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { AgentSession } from '../../../src/agent/agent-session.js';
import { RequestPolicy } from '../../../src/agent/policy/index.js';
import type { UpstreamCluster } from '../../../src/agent/upstream-cluster.js';
import type { ControlMessage } from '../../../src/protocol/channel-control.js';
import { parseSessionDescription } from '../../../src/protocol/session-description.js';
import { isKubepairError } from '../../../src/errors/index.js';
import type { SecureChannel } from '../../helpers/channel-pair.js';
import { pairedChannels, within } from '../../helpers/channel-pair.js';
import { offlineUpstream } from '../../helpers/offline-upstream.js';

const T = { timeout: 30_000 };
const STEP_MS = 10_000;

describe('AgentSession lifecycle', () => {
  let upstream: UpstreamCluster;
  before(async () => {
    upstream = await offlineUpstream();
  });

  function newSession(agent: SecureChannel): AgentSession {
    return new AgentSession(
      {
        sessionId: 'AAAAAAAAAAAAAAAAAAAAAA',
        mode: 'proxy',
        policy: RequestPolicy.create({ mode: 'readonly' }),
        expose: [{ name: 'db', host: '127.0.0.1', port: 5432 }],
        sessionLifetimeMs: 60 * 60 * 1000,
        auditFailOpen: false,
        upstream,
      },
      agent,
    );
  }

  it('start sends the session description; the client leaving ends the session with ended and closed', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const received = new Promise<ControlMessage>((resolve) => client.once('control', resolve));
    const events: string[] = [];
    session.on('established', () => events.push('established'));
    session.on('ended', () => events.push('ended'));
    const sent = await within(session.start(), STEP_MS, 'the session to start');
    assert.equal(session.state, 'serving');
    const description = parseSessionDescription(await within(received, STEP_MS, 'the description'));
    assert.deepEqual(description, sent);
    assert.deepEqual(description.targets, ['kube-apiserver', 'db']);
    assert.equal(description.policy.mode, 'readonly');
    assert.equal(description.mode, 'proxy');

    client.close();
    await within(session.closed, STEP_MS, 'the session to end');
    assert.equal(session.state, 'closed');
    assert.deepEqual(events, ['established', 'ended']);
  });

  it('close() while the session is still describing itself: start rejects with KP_ERR_CHANNEL_CLOSED and closed settles', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const started = session.start();
    const closing = session.close();
    await assert.rejects(within(started, STEP_MS, 'start to end'), (err) => isKubepairError(err, 'KP_ERR_CHANNEL_CLOSED'));
    await within(closing, STEP_MS, 'close() to return');
    await within(session.closed, STEP_MS, 'closed to settle');
    assert.equal(session.state, 'closed');
    assert.equal(agent.isClosed, true);
    client.close();
  });

  it('the start signal ends a serving session', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const controller = new AbortController();
    await within(session.start(controller.signal), STEP_MS, 'the session to start');
    controller.abort();
    await within(session.closed, STEP_MS, 'the session to end');
    assert.equal(agent.isClosed, true);
    await within(client.closed, STEP_MS, 'the client to see the close');
  });

  /** The CONTROL messages the client receives until its channel closes. */
  function controlsUntilClosed(client: SecureChannel): Promise<ControlMessage[]> {
    const received: ControlMessage[] = [];
    client.on('control', (message) => received.push(message));
    return client.closed.then(() => received);
  }

  it('a serving session that the start signal ends says bye (sharer_stopped) before the channel closes', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const controls = controlsUntilClosed(client);
    const controller = new AbortController();
    await within(session.start(controller.signal), STEP_MS, 'the session to start');
    controller.abort();
    const received = await within(controls, STEP_MS, 'the client to see the close');
    assert.deepEqual(received.map((message) => message.type), ['session', 'bye']);
    assert.deepEqual(received[1], { type: 'bye', reason: 'sharer_stopped' });
  });

  it('close() of a serving session says bye (sharer_stopped); a session the client left says nothing more', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const controls = controlsUntilClosed(client);
    await within(session.start(), STEP_MS, 'the session to start');
    await within(session.close(), STEP_MS, 'close() to return');
    assert.deepEqual((await within(controls, STEP_MS, 'the client to see the close')).at(-1), { type: 'bye', reason: 'sharer_stopped' });

    const second = await pairedChannels();
    const left = newSession(second.agent);
    await within(left.start(), STEP_MS, 'the second session to start');
    let sent = 0;
    const send = second.agent.sendControl.bind(second.agent);
    second.agent.sendControl = (message) => {
      sent += 1;
      return send(message);
    };
    second.client.close();
    await within(left.closed, STEP_MS, 'the second session to end');
    await within(left.close(), STEP_MS, 'close() after the end');
    assert.equal(sent, 0, 'no bye on a channel the client closed');
  });
});
