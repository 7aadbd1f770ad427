/**
 * The far end of every benchmark path (issue 6), in its own process so the load generator and
 * the servers it measures do not share one event loop. Started by bench/lib/target-process.ts;
 * prints one JSON line with its ports on stdout and exits when its stdin closes.
 *
 * Servers, all on 127.0.0.1 with a port the OS picks:
 * - source: the client sends one line `<bytes>\n`; the server sends that many bytes (with
 *   backpressure) and ends the connection. Bulk and head-of-line workloads.
 * - http: a minimal HTTP/1.1 keep-alive server: every request head is answered with the same
 *   1 KiB JSON body. Deliberately lighter than node:http so the tunnel, not the server, is what
 *   the latency and concurrency workloads see.
 * - hello: writes one byte when a connection arrives (first byte for the pairing workload).
 *
 * Untrusted input: none beyond the benchmark's own clients on loopback; still every buffer is
 * bounded (a request line of 32 bytes, a request head of 8 KiB, at most 4 GiB per download).
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { HTTP_REQUEST_HEAD_MAX_BYTES, SOURCE_MAX_BYTES, SOURCE_REQUEST_MAX_BYTES, jsonResponse } from './lib/wire.js';

const SOURCE_CHUNK = Buffer.alloc(1024 * 1024, 0x5a); // 1 MiB written again and again
const RESPONSE = jsonResponse();
const HEAD_END = Buffer.from('\r\n\r\n');

/** Send `total` bytes on `socket`, waiting for `drain` whenever the socket's buffer is full. */
function sendBytes(socket: Socket, total: number): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const chunk = left >= SOURCE_CHUNK.length ? SOURCE_CHUNK : SOURCE_CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
  };
  pump();
}

function sourceConnection(socket: Socket): void {
  let line = '';
  const onData = (chunk: Buffer): void => {
    line += chunk.toString('latin1');
    const end = line.indexOf('\n');
    if (end < 0) {
      if (line.length > SOURCE_REQUEST_MAX_BYTES) socket.destroy();
      return;
    }
    socket.off('data', onData);
    const bytes = Number(line.slice(0, end));
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > SOURCE_MAX_BYTES) {
      socket.destroy();
      return;
    }
    // Keep reading (and discarding) so a half-close from the client is seen.
    socket.resume();
    sendBytes(socket, bytes);
  };
  socket.on('data', onData);
}

function httpConnection(socket: Socket): void {
  socket.setNoDelay(true);
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let start = 0;
    let answers = 0;
    for (let end = pending.indexOf(HEAD_END, start); end >= 0; end = pending.indexOf(HEAD_END, start)) {
      answers += 1;
      start = end + HEAD_END.length;
    }
    pending = start === pending.length ? Buffer.alloc(0) : pending.subarray(start);
    if (pending.length > HTTP_REQUEST_HEAD_MAX_BYTES) {
      socket.destroy();
      return;
    }
    // Pipelined requests (none from our clients, but allowed) get their answers in one write.
    if (answers === 1) socket.write(RESPONSE);
    else if (answers > 1) socket.write(Buffer.concat(Array.from({ length: answers }, () => RESPONSE)));
  });
}

function helloConnection(socket: Socket): void {
  socket.setNoDelay(true);
  socket.end('k');
}

function listen(onConnection: (socket: Socket) => void): Promise<Server> {
  const server = createServer({ allowHalfOpen: false }, (socket) => {
    socket.on('error', () => socket.destroy());
    onConnection(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main(): Promise<void> {
  const servers = {
    source: await listen(sourceConnection),
    http: await listen(httpConnection),
    hello: await listen(helloConnection),
  };
  const port = (server: Server): number => (server.address() as AddressInfo).port;
  process.stdout.write(`${JSON.stringify({ source: port(servers.source), http: port(servers.http), hello: port(servers.hello) })}\n`);
  // The benchmark ends us by closing stdin (or by a signal, or by exiting itself).
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
}

await main();
