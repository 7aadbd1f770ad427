/**
 * A TCP proxy for tests that holds one request on its way: it forwards bytes both ways unchanged,
 * but once armed with a marker, the first chunk a client sends that contains the marker is not
 * handed on, and that connection is not read further, until `release()`. A test puts it between
 * a relay node and Redis to stop the node at one exact store operation (a script's arguments name
 * it) while the rest of the cluster goes on: a race made deterministic, no sleeps.
 *
 *   const proxy = await startHoldingProxy({ port: redis.port }); // listens on 127.0.0.1, port 0
 *   const held = proxy.holdNext('"role":"client","kd":"');       // arm
 *   // ... the node sends the operation; `held` resolves once it is held
 *   proxy.release();                                             // it and what followed flow again, in order
 *   await proxy.close();
 *
 * The held connection is paused (the kernel keeps what follows), so holding is bounded in memory.
 * Markers are matched in the bytes as Latin-1 text, also across two chunks. Loopback only; nothing
 * here is untrusted input.
 */
import type { AddressInfo, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { within } from './wait-until.js';

/** Bound on waiting for the sockets and the listener to close, in ms. */
const CLOSE_TIMEOUT_MS = 10_000;

export interface HoldingProxy {
  readonly port: number;
  /** Hold the next client chunk containing `marker`; resolves once it is held. One hold at a time. */
  holdNext(marker: string): Promise<void>;
  /** Hand on the held chunk and read that connection again. */
  release(): void;
  close(): Promise<void>;
}

interface Held {
  readonly client: Socket;
  readonly target: Socket;
  readonly chunk: Buffer;
}

export async function startHoldingProxy(target: { readonly port: number; readonly host?: string }): Promise<HoldingProxy> {
  const sockets = new Set<Socket>();
  let armed: { readonly marker: string; readonly resolve: () => void } | undefined;
  let held: Held | undefined;
  const server = createServer((client) => {
    const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port });
    sockets.add(client);
    sockets.add(upstream);
    let tail = '';
    client.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString('latin1');
      const hold = armed;
      if (hold !== undefined && text.includes(hold.marker)) {
        armed = undefined;
        held = { client, target: upstream, chunk };
        client.pause();
        hold.resolve();
        return;
      }
      tail = hold === undefined ? '' : text.slice(-hold.marker.length);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('error', () => undefined);
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    holdNext(marker) {
      if (armed !== undefined || held !== undefined) throw new Error('the proxy already holds (or waits to hold) a request');
      return new Promise<void>((resolve) => {
        armed = { marker, resolve };
      });
    },
    release() {
      const current = held;
      held = undefined;
      if (current === undefined) return;
      current.target.write(current.chunk);
      current.client.resume();
    },
    async close() {
      armed = undefined;
      held = undefined;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await within(CLOSE_TIMEOUT_MS, 'the holding proxy to close', closed);
    },
  };
}
