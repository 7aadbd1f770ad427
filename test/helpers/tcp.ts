/** Small TCP helpers for tests: a free loopback port, and a bounded request/response exchange. */
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:net';

/** A port that was free a moment ago (bound by the OS and released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Connect to 127.0.0.1:`port`, send `payload`, half-close, and collect everything that comes
 * back until the connection closes (a reset counts as a close: what arrived is returned).
 * Rejects when it has not closed within `timeoutMs`.
 */
export function exchangeTcp(port: number, payload: Buffer | string, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close from 127.0.0.1:${port} within ${timeoutMs} ms (${Buffer.concat(chunks).length} bytes so far)`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined); // a refused or reset connection: 'close' follows
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.end(payload);
  });
}
