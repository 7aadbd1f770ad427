/**
 * The relay client (src/relay-client) against a real relay process, and against a small
 * misbehaving WebSocket server: the API calls and their error mapping, the MessageTransport
 * semantics of the relay socket (binary frames, backpressure with drain, pause/resume), relay
 * control messages, and close codes turned into registry errors.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { TransportCloseInfo } from '../../../src/channel/transport.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { createSession, openRelaySocket, pair } from '../../../src/relay-client/index.js';
import type { RelaySocket } from '../../../src/relay-client/index.js';
import type { RelayControlMessage } from '../../../src/protocol/relay-control.js';
import { startRelay, within } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';

const T = { timeout: 30_000 };

function nextControl(socket: RelaySocket, type: RelayControlMessage['type']): Promise<RelayControlMessage> {
  return within(
    10_000,
    `control ${type}`,
    socket.nextControl([type]).then((message) => {
      if (message === undefined) throw new Error(`the socket closed before "${type}" arrived`);
      return message;
    }),
  );
}

function closed(socket: RelaySocket): Promise<TransportCloseInfo> {
  return within(10_000, 'socket close', new Promise((resolve) => socket.once('close', resolve)));
}

describe('relay client against a real relay', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '10000'] });
  });
  after(() => relay.dispose());

  const agentEndpoint = (): { url: string; token: string } => ({ url: relay.url, token: relay.tokens.agent });
  const clientEndpoint = (): { url: string; token: string } => ({ url: relay.url, token: relay.tokens.client });

  async function pairedSockets(): Promise<{ agent: RelaySocket; client: RelaySocket; sessionId: string; nameplate: string }> {
    const session = await createSession(agentEndpoint());
    const agent = await openRelaySocket({ endpoint: agentEndpoint(), role: 'agent', sessionId: session.sessionId, key: session.agentKey });
    const agentConnected = nextControl(agent, 'peer_connected');
    const paired = await pair(clientEndpoint(), session.nameplate);
    const client = await openRelaySocket({ endpoint: clientEndpoint(), role: 'client', sessionId: paired.sessionId, key: paired.clientKey });
    await Promise.all([agentConnected, nextControl(client, 'peer_connected')]);
    return { agent, client, sessionId: session.sessionId, nameplate: session.nameplate };
  }

  it('createSession and pair return the relay\'s answer, validated', T, async () => {
    const session = await createSession(agentEndpoint());
    assert.match(session.sessionId, /^[A-Za-z0-9_-]{22}$/);
    assert.match(session.agentKey, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(session.expiresAt.getTime() > Date.now());
    const paired = await pair(clientEndpoint(), session.nameplate);
    assert.equal(paired.sessionId, session.sessionId);
  });

  it('maps relay errors to KubepairErrors with the relay\'s code', T, async () => {
    await assert.rejects(createSession({ url: relay.url }), (err) => isKubepairError(err, 'KP_ERR_RELAY_UNAUTHORIZED'));
    await assert.rejects(createSession(clientEndpoint()), (err) => isKubepairError(err, 'KP_ERR_RELAY_FORBIDDEN') && /scope client/.test(err.message));
    await assert.rejects(pair(clientEndpoint(), '9999999'), (err) => isKubepairError(err, 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN'));
    const session = await createSession(agentEndpoint());
    await pair(clientEndpoint(), session.nameplate);
    await assert.rejects(pair(clientEndpoint(), session.nameplate), (err) => isKubepairError(err, 'KP_ERR_RELAY_NAMEPLATE_BUSY'));
    await assert.rejects(pair(clientEndpoint(), '007'), (err) => isKubepairError(err, 'KP_ERR_PAIRING_CODE_MALFORMED'));
  });

  it('a relay that is not there → KP_ERR_RELAY_UNREACHABLE; an aborted call → KP_ERR_ABORTED', T, async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await assert.rejects(createSession({ url: `http://127.0.0.1:${port}` }), (err) => isKubepairError(err, 'KP_ERR_RELAY_UNREACHABLE'));
    await assert.rejects(createSession(agentEndpoint(), { signal: AbortSignal.abort() }), (err) => isKubepairError(err, 'KP_ERR_ABORTED'));
  });

  it('binary frames both ways as MessageTransport messages, in order', T, async () => {
    const { agent, client } = await pairedSockets();
    const frames = Array.from({ length: 50 }, (_, i) => randomBytes(100 + i * 997));
    const received: Uint8Array[] = [];
    const all = new Promise<void>((resolve) =>
      client.on('message', (frame) => {
        received.push(frame);
        if (received.length === frames.length) resolve();
      }),
    );
    for (const frame of frames) agent.send(frame);
    await within(10_000, 'all frames', all);
    assert.deepEqual(received.map((f) => Buffer.from(f)), frames);
    const echo = new Promise<Uint8Array>((resolve) => agent.once('message', resolve));
    client.send(Buffer.from('back'));
    assert.equal(Buffer.from(await within(5_000, 'echo', echo)).toString(), 'back');
    agent.close();
    await closed(client);
  });

  it('frames given in pieces arrive whole and in order, large and small mixed, through reused frame buffers; the pieces stay as they were', T, async () => {
    const { agent, client } = await pairedSockets();
    // 120 frames, most of them large (framed into the socket's reused buffers, several in flight
    // at once), some small; each given as pieces cut at random points.
    let seed = 15;
    const next = (max: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % max;
    };
    const frames = Array.from({ length: 120 }, (_, i) => randomBytes(i % 5 === 0 ? 1 + next(20_000) : 16 * 1024 + next(240 * 1024)));
    const pieces = frames.map((frame) => {
      const cuts = [0, next(frame.length + 1), next(frame.length + 1), frame.length].sort((a, b) => a - b);
      return cuts.slice(1).map((cut, i) => Buffer.from(frame.subarray(cuts[i], cut)));
    });
    const copies = pieces.map((list) => list.map((piece) => Buffer.from(piece)));
    const digests: string[] = [];
    const all = new Promise<void>((resolve) =>
      client.on('message', (frame) => {
        digests.push(createHash('sha256').update(frame).digest('hex'));
        if (digests.length === frames.length) resolve();
      }),
    );
    for (const list of pieces) {
      if (!agent.send(list)) await within(10_000, 'drain', new Promise<void>((resolve) => agent.once('drain', () => resolve())));
    }
    await within(20_000, 'all frames', all);
    assert.deepEqual(digests, frames.map((frame) => createHash('sha256').update(frame).digest('hex')));
    assert.deepEqual(pieces, copies, 'the pieces are left as they were');
    agent.close();
    await closed(client);
  });

  it('send returns false above the high-water mark and drain follows once the relay takes the data', T, async () => {
    const session = await createSession(agentEndpoint());
    const agent = await openRelaySocket({ endpoint: agentEndpoint(), role: 'agent', sessionId: session.sessionId, key: session.agentKey, highWaterMark: 256 * 1024 });
    const paired = await pair(clientEndpoint(), session.nameplate);
    const client = await openRelaySocket({ endpoint: clientEndpoint(), role: 'client', sessionId: paired.sessionId, key: paired.clientKey });
    await nextControl(client, 'peer_connected');
    client.pause(); // the client stops reading: relay and kernel buffers fill up
    let accepted = 0;
    let sent = 0;
    const frame = Buffer.alloc(64 * 1024);
    while (agent.send(frame)) {
      sent++;
      assert.ok(sent < 10_000, 'send must eventually ask the caller to wait');
    }
    sent++;
    const drained = within(15_000, 'drain', new Promise<void>((resolve) => agent.once('drain', () => resolve())));
    let messages = 0;
    client.on('message', () => messages++);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(messages, 0, 'a paused transport emits no message');
    client.resume();
    await drained;
    accepted = sent;
    await within(15_000, 'every frame at the client', new Promise<void>((resolve) => {
      const check = (): void => {
        if (messages === accepted) resolve();
      };
      client.on('message', check);
      check();
    }));
    agent.close();
    client.close();
  });

  it('the agent\'s established and pake_failed reach the relay; the client learns the attempt ended', T, async () => {
    const { agent, client } = await pairedSockets();
    const clientClosed = closed(client);
    const agentNotified = nextControl(agent, 'peer_disconnected');
    agent.sendPakeFailed();
    const info = await clientClosed;
    assert.equal(info.code, 4403);
    assert.ok(isKubepairError(info.error, 'KP_ERR_RELAY_PAIRING_ENDED'), String(info.error));
    assert.match(info.error?.message ?? '', /attempt 1 of 5/);
    await agentNotified;
    assert.throws(() => client.send(Buffer.from('late')), (err) => isKubepairError(err, 'KP_ERR_TRANSPORT_CLOSED'));
    assert.throws(() => client.sendEstablished(), (err) => isKubepairError(err, 'KP_ERR_INTERNAL'), 'only the agent sends control');
    agent.close();
  });

  it('nextControl: the type asked for, skipping others; undefined once the socket closes, at once when it already has; KP_ERR_ABORTED on abort', T, async () => {
    const { agent, client } = await pairedSockets();
    const aborted = new AbortController();
    const abandoned = agent.nextControl(['expiring'], aborted.signal);
    aborted.abort();
    await assert.rejects(abandoned, (err) => isKubepairError(err, 'KP_ERR_ABORTED'));

    // peer_disconnected arrives; the wait for `expiring` skips it and ends with the socket.
    const skipped = agent.nextControl(['expiring']);
    const disconnected = agent.nextControl(['peer_disconnected']);
    client.close();
    assert.equal((await within(10_000, 'peer_disconnected', disconnected))?.type, 'peer_disconnected');
    const agentClosed = closed(agent);
    agent.close();
    assert.equal(await within(10_000, 'the wait to end with the socket', skipped), undefined);
    await agentClosed;
    // A socket that is closed already has no close event left to wait for: the answer is immediate.
    assert.equal(await within(10_000, 'an answer on a closed socket', agent.nextControl(['peer_connected'])), undefined);
  });

  it('a second agent socket closes with KP_ERR_RELAY_ROLE_CONNECTED (4409); a wrong key is refused with 401', T, async () => {
    const session = await createSession(agentEndpoint());
    const first = await openRelaySocket({ endpoint: agentEndpoint(), role: 'agent', sessionId: session.sessionId, key: session.agentKey });
    const second = await openRelaySocket({ endpoint: agentEndpoint(), role: 'agent', sessionId: session.sessionId, key: session.agentKey });
    const info = await closed(second);
    assert.equal(info.code, 4409);
    assert.ok(isKubepairError(info.error, 'KP_ERR_RELAY_ROLE_CONNECTED'));
    await assert.rejects(
      openRelaySocket({ endpoint: agentEndpoint(), role: 'agent', sessionId: session.sessionId, key: randomBytes(32).toString('base64url') }),
      (err) => isKubepairError(err, 'KP_ERR_RELAY_UNAUTHORIZED'),
    );
    first.close();
  });

  it('the session ending is reported as KP_ERR_RELAY_SESSION_ENDED with the relay\'s reason', T, async () => {
    const { agent, client } = await pairedSockets();
    const info = closed(client);
    agent.close();
    const result = await info;
    assert.equal(result.code, 4410);
    assert.ok(isKubepairError(result.error, 'KP_ERR_RELAY_SESSION_ENDED'));
    assert.match(result.error?.message ?? '', /the relay ended the session: the agent left/);
  });

  it('a local close is clean: no error in the close info', T, async () => {
    const { agent, client } = await pairedSockets();
    const info = closed(agent);
    agent.close();
    const result = await info;
    assert.equal(result.error, undefined);
    assert.ok(agent.closed);
    await closed(client);
  });
});

describe('Security: relay client against a misbehaving relay', { timeout: 300_000 }, () => {
  let server: ReturnType<typeof createServer>;
  let wss: WebSocketServer;
  let url: string;
  let behaviour: (ws: WebSocket) => void = () => undefined;
  before(async () => {
    server = createServer();
    wss = new WebSocketServer({ server, handleProtocols: (protocols) => (protocols.has('kubepair.v1') ? 'kubepair.v1' : false) });
    wss.on('connection', (ws) => behaviour(ws));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const open = (): Promise<RelaySocket> =>
    openRelaySocket({ endpoint: { url }, role: 'client', sessionId: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url') });

  it('an unknown control message ends the socket with KP_ERR_RELAY_CONTROL_INVALID (not ignored)', T, async () => {
    behaviour = (ws) => ws.send(JSON.stringify({ type: 'please_send_your_code' }));
    const socket = await open();
    const info = await closed(socket);
    assert.ok(isKubepairError(info.error, 'KP_ERR_RELAY_CONTROL_INVALID'), String(info.error));
  });

  it('a control message with extra fields or bad JSON is refused the same way', T, async () => {
    for (const text of ['{"type":"peer_connected","secret":1}', '{"type":"expiring","at":"tomorrow"}', 'not json']) {
      behaviour = (ws) => ws.send(text);
      const socket = await open();
      const info = await closed(socket);
      assert.ok(isKubepairError(info.error, 'KP_ERR_RELAY_CONTROL_INVALID'), `${text}: ${String(info.error)}`);
    }
  });

  it('valid control messages are delivered typed', T, async () => {
    const at = new Date(Date.now() + 60_000).toISOString();
    behaviour = (ws) => ws.send(JSON.stringify({ type: 'expiring', at }));
    const socket = await open();
    const message = await nextControl(socket, 'expiring');
    assert.deepEqual(message, { type: 'expiring', at });
    socket.close();
  });

  it('an oversized message from the relay ends the socket with KP_ERR_RELAY_MESSAGE_TOO_LARGE', T, async () => {
    behaviour = (ws) => ws.send(Buffer.alloc(16 * 1024 * 1024 + 1));
    const socket = await open();
    const info = await closed(socket);
    assert.ok(isKubepairError(info.error, 'KP_ERR_RELAY_MESSAGE_TOO_LARGE'), String(info.error));
  });

  it('gives up on a relay that stops answering pings (KP_ERR_TRANSPORT_CLOSED), not before', T, async () => {
    let relaySide: WebSocket | undefined;
    behaviour = (ws) => {
      relaySide = ws;
    };
    const socket = await openRelaySocket({
      endpoint: { url },
      role: 'client',
      sessionId: randomBytes(16).toString('base64url'),
      key: randomBytes(32).toString('base64url'),
      pingIntervalMs: 100,
      silenceTimeoutMs: 600,
    });
    // Answering pings: the socket stays open well past the silence limit.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal(socket.closed, false);
    // The relay stops reading (a hung process, a cut network): no more pongs.
    relaySide?.pause();
    const info = await closed(socket);
    assert.ok(isKubepairError(info.error, 'KP_ERR_TRANSPORT_CLOSED'), String(info.error));
    assert.match(info.error?.message ?? '', /the relay went silent/);
  });

  it('a caller that keeps the socket paused is not mistaken for a silent relay', T, async () => {
    behaviour = () => undefined;
    const socket = await openRelaySocket({
      endpoint: { url },
      role: 'client',
      sessionId: randomBytes(16).toString('base64url'),
      key: randomBytes(32).toString('base64url'),
      pingIntervalMs: 100,
      silenceTimeoutMs: 400,
    });
    socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    socket.resume();
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(socket.closed, false);
    socket.close();
  });

  it('a send while the relay\'s close handshake runs drops the frame and lets the close say why (4001 stays KP_ERR_RELAY_SOCKET_REPLACED, not a transport loss)', T, async () => {
    // A relay that sends its close frame and holds the TCP connection open: the client's socket
    // has read the close (and answered it) but its `close` event waits for the relay's FIN. A send
    // in that window must not end the carrier as a plain transport loss, which a durable link
    // retries: the relay's 4001 (a newer socket of this side took over) must reach the caller.
    const relaySockets: Socket[] = [];
    let closeAnswered!: () => void;
    const answered = new Promise<void>((resolve) => {
      closeAnswered = resolve;
    });
    const raw = createNetServer({ allowHalfOpen: true }, (tcp) => {
      relaySockets.push(tcp);
      let head = Buffer.alloc(0);
      let upgraded = false;
      tcp.on('data', (chunk: Buffer) => {
        if (upgraded) {
          if ((chunk[0]! & 0x0f) === 0x8) closeAnswered(); // the client's close frame (masked)
          return;
        }
        head = Buffer.concat([head, chunk]);
        const text = head.toString('latin1');
        if (!text.includes('\r\n\r\n')) return;
        upgraded = true;
        const key = /^sec-websocket-key: (\S+)$/im.exec(text)?.[1] ?? '';
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        tcp.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: kubepair.v1\r\n\r\n`);
        const reason = Buffer.from('replaced', 'utf8');
        const close = Buffer.alloc(4 + reason.length);
        close[0] = 0x88;
        close[1] = 2 + reason.length;
        close.writeUInt16BE(4001, 2);
        reason.copy(close, 4);
        setTimeout(() => tcp.write(close), 50); // after openRelaySocket resolved
      });
      tcp.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const socket = await openRelaySocket({
        endpoint: { url: `http://127.0.0.1:${(raw.address() as AddressInfo).port}` },
        role: 'client',
        sessionId: randomBytes(16).toString('base64url'),
        key: randomBytes(32).toString('base64url'),
      });
      const info = closed(socket);
      await within(10_000, 'the client to answer the relay\'s close frame', answered);
      assert.equal(socket.closed, false, 'the close event waits for the relay to end the connection');
      assert.equal(socket.send(Buffer.from('a record')), false, 'no room: the frame is dropped');
      for (const tcp of relaySockets) tcp.end();
      const result = await info;
      assert.equal(result.code, 4001);
      assert.ok(isKubepairError(result.error, 'KP_ERR_RELAY_SOCKET_REPLACED'), String(result.error));
      assert.throws(() => socket.send(Buffer.from('late')), (err) => isKubepairError(err, 'KP_ERR_TRANSPORT_CLOSED'));
    } finally {
      for (const tcp of relaySockets) tcp.destroy();
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    }
  });

  it('refuses ws:// to a host that is not this machine before connecting', () => {
    assert.throws(
      () => openRelaySocket({ endpoint: { url: 'http://relay.example.com' }, role: 'agent', sessionId: 'A'.repeat(22), key: 'B'.repeat(43) }),
      (err) => isKubepairError(err, 'KP_ERR_RELAY_URL_INSECURE'),
    );
  });
});
