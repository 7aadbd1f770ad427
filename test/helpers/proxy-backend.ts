/**
 * A backend for the test API server's `pods/proxy` and `services/proxy` (the process listening
 * in the pod): a real HTTP/1.1 server on 127.0.0.1 that records every request it received,
 * head and body, so a test can tell exactly what reached it.
 *
 * Routes (any prefix the proxy leaves is not there: the backend sees the path after `/proxy`):
 * - `GET /hello`: 200 `text/plain` `hello from NAME`, with `Access-Control-Allow-Origin: *`
 *   (kube-apiserver strips it) and `X-Backend: NAME`;
 * - `/echo`, any method: 200 JSON `{ method, body }`;
 * - an upgrade to `/ws`: a WebSocket (ws) that sends every message back as it came (binary as
 *   binary), and keeps what it received (`received()`);
 * - an upgrade to `/plain`: answered `200 OK` with a body and the connection left open, as a Go
 *   handler that ignores `Upgrade` answers, so whatever follows would be read as a next request;
 * - an upgrade to `/forbidden`: 403 with a text body;
 * - anything else: 404.
 *
 * Input: whatever the proxy sends; bodies are bounded (MAX_BODY_BYTES) and so are WebSocket messages.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { RawData } from 'ws';

/** Most request body bytes kept per request, and the largest WebSocket message. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface BackendRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** It came as an upgrade request. */
  readonly upgrade: boolean;
  body: string;
}

export interface ProxyBackend {
  readonly port: number;
  /** Every request received, oldest first. */
  requests(): BackendRequest[];
  /** Every WebSocket message received on `/ws`, concatenated. */
  received(): Buffer;
  close(): Promise<void>;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export async function startProxyBackend(name: string): Promise<ProxyBackend> {
  const requests: BackendRequest[] = [];
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      const bytes = toBuffer(data);
      chunks.push(bytes);
      ws.send(bytes, { binary: isBinary });
    });
    ws.on('error', () => ws.terminate());
  });
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const record: BackendRequest = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, upgrade: false, body: '' };
    requests.push(record);
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) record.body += chunk.toString('utf8');
    });
    request.on('end', () => {
      const path = record.url.split('?')[0];
      if (path === '/hello' && record.method === 'GET') {
        response.writeHead(200, { 'Content-Type': 'text/plain', 'Access-Control-Allow-Origin': '*', 'X-Backend': name });
        response.end(`hello from ${name}`);
      } else if (path === '/echo') {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ method: record.method, body: record.body }));
      } else {
        response.writeHead(404, { 'Content-Type': 'text/plain' });
        response.end('not found');
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, upgrade: true, body: '' });
    const path = (request.url ?? '').split('?')[0];
    if (path === '/ws') {
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    } else if (path === '/plain') {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\nnot a websocket');
    } else if (path === '/forbidden') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nforbidden');
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    requests: () => [...requests],
    received: () => Buffer.concat(chunks),
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
