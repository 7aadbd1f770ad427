/**
 * An echo storm for tunnel tests: many TCP connections at once to a local port that leads, through
 * the tunnel, to an echo target; each sends chunks of random sizes (up to 300 KiB, 5 to 40 of
 * them) and must get exactly the same bytes back, in order. Used by the splice storm (in
 * process) and the end-to-end storm through real relay, share and connect processes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { AddressInfo, Server, Socket } from 'node:net';
import { connect as netConnect, createServer } from 'node:net';
import { within } from './wait-until.js';

/** A TCP echo server on 127.0.0.1, port 0: each connection gets back what it sends (half-close kept). */
export async function startEchoServer(): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return { server, port: (server.address() as AddressInfo).port, close };
}

/**
 * One connection to `port`: send 5-40 random chunks (each tagged with `index`), end, and check
 * that the same bytes came back in order before the peer ended, within `timeoutMs`. Returns the
 * bytes sent (and received).
 */
export async function echoTransfer(port: number, index: number, timeoutMs: number): Promise<number> {
  const socket = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
  try {
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let sentBytes = 0;
    let receivedBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      received.update(chunk);
      receivedBytes += chunk.length;
    });
    const ended = new Promise<void>((resolve, reject) => {
      socket.once('end', resolve);
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`stream ${index}: closed after ${receivedBytes} of ${sentBytes} bytes came back`)));
    });
    // Failures surface through `ended` (awaited below); nothing is left unhandled meanwhile.
    ended.catch(() => undefined);
    const chunks = randomInt(5, 40);
    for (let i = 0; i < chunks; i++) {
      const size = randomInt(1, 300 * 1024);
      const data = randomBytes(size);
      data[0] = index;
      sent.update(data);
      sentBytes += size;
      if (!socket.write(data)) await within(timeoutMs, `stream ${index} to take more bytes`, Promise.race([new Promise((resolve) => socket.once('drain', resolve)), ended]));
    }
    socket.end();
    await within(timeoutMs, `stream ${index} to come back`, ended);
    assert.equal(receivedBytes, sentBytes, `stream ${index}: bytes back`);
    assert.equal(received.digest('hex'), sent.digest('hex'), `stream ${index}: the same bytes in the same order`);
    return sentBytes;
  } finally {
    socket.destroy();
  }
}

/** `streams` echo transfers to `port`, all at once; resolves with the bytes each carried. */
export function echoStorm(port: number, streams: number, timeoutMs: number): Promise<number[]> {
  return Promise.all(Array.from({ length: streams }, (_unused, index) => echoTransfer(port, index, timeoutMs)));
}
