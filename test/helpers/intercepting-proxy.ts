/**
 * A TLS-intercepting HTTP proxy for tests, like a corporate one: it accepts CONNECT, answers
 * 200, then terminates the client's TLS itself with its own certificate
 * (test/fixtures/relay-tls/other.crt, for IP 127.0.0.1) and opens a second TLS connection to
 * the real target, trusting `upstreamCa`. A client reaches the relay through it only when it
 * trusts the proxy's CA (kubepair: --proxy-ca). Loopback only; every socket is closed in close().
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { TLSSocket, connect as tlsConnect, createSecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import { repoPath } from './paths.js';
import { within } from './wait-until.js';

export const INTERCEPTING_PROXY_CA = repoPath('test/fixtures/relay-tls/other.crt');
const KEY = repoPath('test/fixtures/relay-tls/other.key');

export interface InterceptingProxy {
  readonly url: string;
  /** CONNECT targets seen, oldest first. */
  readonly connects: string[];
  close(): Promise<void>;
}

export async function startInterceptingProxy(upstreamCa: string): Promise<InterceptingProxy> {
  const context = createSecureContext({ cert: await readFile(INTERCEPTING_PROXY_CA), key: await readFile(KEY) });
  const sockets = new Set<Duplex>();
  const track = (socket: Duplex): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const connects: string[] = [];
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, clientSocket: Socket, head: Buffer) => {
    track(clientSocket);
    const target = req.url ?? '';
    connects.push(target);
    const match = /^(127\.0\.0\.1):(\d+)$/.exec(target);
    if (match === null) {
      clientSocket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    clientSocket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    if (head.length > 0) clientSocket.unshift(head);
    const intercepted = new TLSSocket(clientSocket, { isServer: true, secureContext: context });
    track(intercepted);
    const upstream = tlsConnect({ host: match[1]!, port: Number(match[2]), ca: upstreamCa });
    track(upstream);
    intercepted.pipe(upstream).pipe(intercepted);
    intercepted.once('close', () => upstream.destroy());
    upstream.once('close', () => intercepted.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    async close() {
      for (const socket of sockets) socket.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // any connection that never sent CONNECT is not in `sockets`
      await within(10_000, 'the intercepting proxy to close', closed);
    },
  };
}
