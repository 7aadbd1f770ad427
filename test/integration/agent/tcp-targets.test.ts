/**
 * The agent's raw TCP targets (src/agent/tcp-targets.ts): the socket it dials for a tunnel
 * stream, with a real TCP server on 127.0.0.1, port 0.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { tcpTargetHandler } from '../../../src/agent/tcp-targets.js';
import { within } from '../../helpers/wait-until.js';

describe('tcp targets, socket options', () => {
  it("dials the target with Nagle's algorithm off (a request's body is not held for the target's delayed ACK of its head)", async (t) => {
    // A spy: every call still reaches the real setNoDelay.
    const setNoDelay = t.mock.method(Socket.prototype, 'setNoDelay');
    const received: Buffer[] = [];
    const server = createServer((socket) => {
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('end', () => socket.end());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      // The tunnel stream's side: one request, then its end; whatever the target sends is dropped.
      const stream = new Duplex({ read() {}, write: (_chunk, _encoding, callback) => callback() });
      const outcome = tcpTargetHandler({ name: 'db', host: '127.0.0.1', port })(stream);
      stream.push('two small writes: a head');
      stream.push(null);
      const result = await within(10_000, 'the target stream to finish', outcome);
      assert.equal(result.error, undefined, 'a clean finish');
      assert.equal(Buffer.concat(received).toString(), 'two small writes: a head', 'the target got the bytes');
      // The only JavaScript socket of this test is the one the handler dials (the server's
      // accepted socket and the stream are not set up through setNoDelay).
      const dialled = setNoDelay.mock.calls;
      assert.ok(dialled.length >= 1, 'setNoDelay was called on the socket to the target');
      assert.ok(
        dialled.every((call) => call.arguments[0] !== false),
        `TCP_NODELAY on (arguments: ${JSON.stringify(dialled.map((call) => call.arguments))})`,
      );
    } finally {
      server.close();
    }
  });
});
