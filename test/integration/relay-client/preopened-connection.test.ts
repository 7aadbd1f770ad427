/**
 * The relay WebSocket over a connection opened ahead (src/relay-client/direct-connection.ts,
 * issue 15 start-up): the client opens its WebSocket's TCP connection (and TLS handshake) while
 * `POST /pair` runs, and `openRelaySocket` uses it when it matches. A stand-in relay (ws's
 * WebSocketServer on a real HTTP or HTTPS server on 127.0.0.1, the tests' loopback certificate)
 * counts the TCP connections it accepts: one when the connection opened ahead was used, two when
 * it was not. TLS keeps its checks: a certificate the endpoint does not trust is refused exactly
 * as without the early connection, and one opened trusting another CA is never handed on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { isKubepairError } from '../../../src/errors/index.js';
import { RELAY_CLIENT_PREOPENED_IDLE_MAX_MS, RELAY_CLIENT_READ_SLAB_BYTES } from '../../../src/limits.js';
import { PreopenedConnection } from '../../../src/relay-client/direct-connection.js';
import { openRelaySocket } from '../../../src/relay-client/index.js';
import type { RelayEndpoint, RelaySocket } from '../../../src/relay-client/index.js';
import { proxyForRelay } from '../../../src/relay-client/proxy-settings.js';
import { RELAY_TLS_CERT as CERT, RELAY_TLS_KEY as KEY, OTHER_TLS_CERT as OTHER_CERT, OTHER_TLS_KEY as OTHER_KEY } from '../../helpers/relay-tls-fixtures.js';
import { within } from '../../helpers/wait-until.js';

const T = { timeout: 60_000 };
const FRAME_BYTES = 256 * 1024;

/** A stand-in relay that sends one frame on each relay socket and counts the TCP connections it accepted. */
interface CountingRelay {
  readonly url: string;
  readonly frame: Buffer;
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

async function startCountingRelay(server: Server, scheme: 'http' | 'https'): Promise<CountingRelay> {
  const frame = randomBytes(FRAME_BYTES);
  let connections = 0;
  server.on('connection', () => (connections += 1));
  const wss = new WebSocketServer({ server, handleProtocols: (protocols) => (protocols.has('kubepair.v1') ? 'kubepair.v1' : false) });
  wss.on('connection', (ws: WebSocket) => ws.send(frame, { binary: true }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    frame,
    connections: () => connections,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function open(endpoint: RelayEndpoint, preopened: PreopenedConnection | undefined): Promise<RelaySocket> {
  return within(
    20_000,
    'the relay socket to open',
    openRelaySocket({ endpoint, role: 'client', sessionId: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url'), preopened }),
  );
}

/** The socket's first message (then it is closed). */
async function firstMessage(socket: RelaySocket): Promise<Uint8Array> {
  const [message] = (await within(20_000, 'the first message', once(socket, 'message'))) as [Uint8Array];
  socket.close();
  return message;
}

/** Resolves once `relay` has accepted `count` connections (bounded). */
async function accepted(relay: CountingRelay, count: number): Promise<void> {
  await within(
    10_000,
    `${count} connections at the stand-in relay`,
    (async () => {
      while (relay.connections() < count) await delay(5);
    })(),
  );
}

describe('the relay socket uses the connection opened ahead', { timeout: 120_000 }, () => {
  let plain: CountingRelay;
  let tls: CountingRelay;
  let ca: Buffer;
  before(async () => {
    ca = await readFile(CERT);
    plain = await startCountingRelay(createHttpServer(), 'http');
    tls = await startCountingRelay(createHttpsServer({ cert: ca, key: await readFile(KEY) }), 'https');
  });
  after(async () => {
    await plain.close();
    await tls.close();
  });

  for (const scheme of ['http', 'https'] as const) {
    it(`${scheme}: one TCP connection for both, and the frame still arrives as a view of a read slab`, T, async () => {
      const relay = scheme === 'http' ? plain : tls;
      const endpoint: RelayEndpoint = scheme === 'http' ? { url: relay.url } : { url: relay.url, ca };
      const before = relay.connections();
      const preopened = PreopenedConnection.open(endpoint);
      assert.ok(preopened !== undefined, 'a relay reached straight gets a connection ahead');
      await accepted(relay, before + 1);
      const message = await firstMessage(await open(endpoint, preopened));
      assert.ok(Buffer.from(message.buffer, message.byteOffset, message.byteLength).equals(relay.frame), 'the frame arrived intact');
      assert.ok(message.buffer.byteLength >= RELAY_CLIENT_READ_SLAB_BYTES, `a view of a ${message.buffer.byteLength}-byte buffer, not of a read slab`);
      assert.equal(relay.connections() - before, 1, 'the WebSocket went over the connection opened ahead');
    });
  }

  it(`a connection idle longer than RELAY_CLIENT_PREOPENED_IDLE_MAX_MS (${RELAY_CLIENT_PREOPENED_IDLE_MAX_MS} ms) is closed and a new one used`, T, async () => {
    const endpoint: RelayEndpoint = { url: plain.url };
    const before = plain.connections();
    const preopened = PreopenedConnection.open(endpoint)!;
    await accepted(plain, before + 1);
    await delay(RELAY_CLIENT_PREOPENED_IDLE_MAX_MS + 200);
    const message = await firstMessage(await open(endpoint, preopened));
    assert.ok(Buffer.from(message).equals(plain.frame), 'the frame arrived over the new connection');
    assert.equal(plain.connections() - before, 2, 'a second connection was opened');
  });

  it('a connection opened for another relay is not used (and is closed)', T, async () => {
    const before = { plain: plain.connections(), tls: tls.connections() };
    const preopened = PreopenedConnection.open({ url: tls.url, ca })!;
    await accepted(tls, before.tls + 1);
    const message = await firstMessage(await open({ url: plain.url }, preopened));
    assert.ok(Buffer.from(message).equals(plain.frame), 'the socket opened to the relay it was asked for');
    assert.equal(plain.connections() - before.plain, 1, 'its own connection');
    assert.equal(tls.connections() - before.tls, 1, 'nothing more at the other relay');
  });

  it('an endpoint that goes through an HTTPS proxy gets no connection ahead (the proxy agent makes its connections)', () => {
    const proxy = proxyForRelay(tls.url, { HTTPS_PROXY: 'http://127.0.0.1:9' });
    assert.ok(proxy !== undefined, 'the proxy applies to this relay');
    assert.equal(PreopenedConnection.open({ url: tls.url, ca, proxy }), undefined);
  });
});

describe('Security: a connection opened ahead keeps TLS certificate checks', { timeout: 120_000 }, () => {
  let impostor: CountingRelay;
  let ca: Buffer;
  before(async () => {
    ca = await readFile(CERT);
    impostor = await startCountingRelay(createHttpsServer({ cert: await readFile(OTHER_CERT), key: await readFile(OTHER_KEY) }), 'https');
  });
  after(() => impostor.close());

  it('a relay whose certificate the endpoint does not trust is refused (KP_ERR_RELAY_UNREACHABLE), as without it', T, async () => {
    const endpoint: RelayEndpoint = { url: impostor.url, ca };
    const error = await open(endpoint, PreopenedConnection.open(endpoint)).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(isKubepairError(error, 'KP_ERR_RELAY_UNREACHABLE'), String(error));
    assert.match((error as Error).message, /certificate|self.signed|issuer/i);
  });

  it('a connection opened trusting another CA is not handed to a socket that trusts only the endpoint\'s', T, async () => {
    // Opened ahead trusting the impostor's own certificate (its TLS handshake succeeds) ...
    const other = await readFile(OTHER_CERT);
    const before = impostor.connections();
    const trustingImpostor = PreopenedConnection.open({ url: impostor.url, ca: other })!;
    await accepted(impostor, before + 1);
    // ... then asked for by a socket that trusts only the real CA: a new connection, refused.
    const error = await open({ url: impostor.url, ca }, trustingImpostor).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(isKubepairError(error, 'KP_ERR_RELAY_UNREACHABLE'), String(error));
    assert.match((error as Error).message, /certificate|self.signed|issuer/i);
  });
});
