/** A port on 127.0.0.1 that was free a moment ago (the OS picks it; bound and released at once). */
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';

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
