/**
 * The relay socket's large reads (src/relay-client/frame-reads.ts, issue 15) on both ways of
 * reaching a relay straight: plain TCP (http://) and TLS (https://, as in production). A stand-in
 * relay (ws's WebSocketServer on a real HTTP or HTTPS server on 127.0.0.1, the tests' loopback
 * certificate) sends 256 KiB binary frames, the size of the channel's records; each must reach
 * the caller intact as a view of a read slab (RELAY_CLIENT_READ_SLAB_BYTES), not as a buffer ws
 * copied the frame's pieces into (Node decrypts TLS 16 KiB at a time: a 256 KiB frame is 16
 * reads). And TLS to the relay keeps its checks: a certificate the endpoint does not trust is
 * refused, whatever reads the socket does.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { isKubepairError } from '../../../src/errors/index.js';
import { RELAY_CLIENT_READ_SLAB_BYTES } from '../../../src/limits.js';
import { openRelaySocket } from '../../../src/relay-client/index.js';
import type { RelayEndpoint, RelaySocket } from '../../../src/relay-client/index.js';
import { RELAY_TLS_CERT as CERT, RELAY_TLS_KEY as KEY, OTHER_TLS_CERT as OTHER_CERT, OTHER_TLS_KEY as OTHER_KEY } from '../../helpers/relay-tls-fixtures.js';
import { within } from '../../helpers/wait-until.js';

const T = { timeout: 60_000 };
const FRAME_BYTES = 256 * 1024;
const FRAMES = 12;

/** A stand-in relay: accepts any relay socket with subprotocol kubepair.v1 and sends `frames`. */
interface StandInRelay {
  readonly url: string;
  close(): Promise<void>;
}

async function startStandInRelay(server: Server, scheme: 'http' | 'https', frames: readonly Buffer[]): Promise<StandInRelay> {
  const wss = new WebSocketServer({ server, handleProtocols: (protocols) => (protocols.has('kubepair.v1') ? 'kubepair.v1' : false) });
  wss.on('connection', (ws: WebSocket) => {
    for (const frame of frames) ws.send(frame, { binary: true });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function open(endpoint: RelayEndpoint): Promise<RelaySocket> {
  return within(20_000, 'the relay socket to open', openRelaySocket({ endpoint, role: 'client', sessionId: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url') }));
}

/** The next `count` messages of `socket`, then close it. */
async function receive(socket: RelaySocket, count: number): Promise<Uint8Array[]> {
  const messages: Uint8Array[] = [];
  await within(
    30_000,
    `${count} messages from the stand-in relay`,
    new Promise<void>((resolve, reject) => {
      socket.on('message', (message) => {
        messages.push(message);
        if (messages.length === count) resolve();
      });
      socket.once('close', (info) => reject(new Error(`the socket closed after ${messages.length} messages: ${String(info.error)}`)));
    }),
  );
  socket.close();
  return messages;
}

describe('relay socket reads whole frames into slabs, plain TCP and TLS', { timeout: 120_000 }, () => {
  const frames = Array.from({ length: FRAMES }, () => randomBytes(FRAME_BYTES));
  let plain: StandInRelay;
  let tls: StandInRelay;
  let ca: Buffer;
  before(async () => {
    ca = await readFile(CERT);
    plain = await startStandInRelay(createHttpServer(), 'http', frames);
    tls = await startStandInRelay(createHttpsServer({ cert: ca, key: await readFile(KEY) }), 'https', frames);
  });
  after(async () => {
    await plain.close();
    await tls.close();
  });

  for (const scheme of ['http', 'https'] as const) {
    it(`${scheme}: every 256 KiB frame arrives intact, as a view of a read slab (no copy by ws)`, T, async () => {
      const endpoint: RelayEndpoint = scheme === 'http' ? { url: plain.url } : { url: tls.url, ca };
      const messages = await receive(await open(endpoint), FRAMES);
      messages.forEach((message, i) => {
        assert.ok(Buffer.from(message.buffer, message.byteOffset, message.byteLength).equals(frames[i]!), `frame ${i} arrived intact`);
        assert.ok(
          message.buffer.byteLength >= RELAY_CLIENT_READ_SLAB_BYTES,
          `frame ${i} is a view of a ${message.buffer.byteLength}-byte buffer, not of a ${RELAY_CLIENT_READ_SLAB_BYTES}-byte read slab`,
        );
      });
    });
  }
});

describe('Security: a TLS relay read into slabs keeps its certificate checks', { timeout: 120_000 }, () => {
  let impostor: StandInRelay;
  before(async () => {
    impostor = await startStandInRelay(createHttpsServer({ cert: await readFile(OTHER_CERT), key: await readFile(OTHER_KEY) }), 'https', [randomBytes(1024)]);
  });
  after(() => impostor.close());

  it('a relay whose certificate the endpoint does not trust is refused (KP_ERR_RELAY_UNREACHABLE), nothing delivered', T, async () => {
    const error = await open({ url: impostor.url, ca: await readFile(CERT) }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(isKubepairError(error, 'KP_ERR_RELAY_UNREACHABLE'), String(error));
    assert.match((error as Error).message, /certificate|self.signed|issuer/i);
  });
});
