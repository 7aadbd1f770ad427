/**
 * A TCP target that counts the connections it accepts, for tests that must show a connection
 * never reached it: an echo server, or a forwarder to another port (to count the connections
 * reaching the fixture API server). `onAccept` runs synchronously when a connection is
 * accepted, before any byte is read from it — where a test checks what must already be true
 * when the first byte could arrive (the agent's `connection_opened` record is on disk).
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';

export interface CountingTarget {
  readonly port: number;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

export interface CountingTargetOptions {
  /** Forward every connection to this port on 127.0.0.1; without it, echo. */
  readonly forwardTo?: number;
  /** Called with the number of this connection (1, 2, ...) as it is accepted. */
  readonly onAccept?: (count: number) => void;
}

export async function startCountingTarget(options: CountingTargetOptions = {}): Promise<CountingTarget> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    accepted += 1;
    track(socket);
    options.onAccept?.(accepted);
    if (options.forwardTo === undefined) {
      socket.pipe(socket);
    } else {
      const upstream = connect({ host: '127.0.0.1', port: options.forwardTo, allowHalfOpen: true });
      track(upstream);
      socket.pipe(upstream).pipe(socket);
      upstream.once('close', () => socket.destroy());
      socket.once('close', () => upstream.destroy());
    }
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
