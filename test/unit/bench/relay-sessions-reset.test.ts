/**
 * The relay-sessions workload closes its thousands of test peers with a TCP reset, so that no
 * TIME_WAIT entry of theirs stays in the namespace's socket tables for the 60 s after it, where
 * connect's owner check would read them on every local connection of the next workload
 * (docs/performance.md "kubectl, sixth look"). Linux: reads /proc/self/net/tcp.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { closeWithReset } from '../../../bench/lib/relay-sessions.js';
import { within } from '../../helpers/wait-until.js';

const TIME_WAIT = '06';

/** The states of the IPv4 socket-table entries whose local port is `port`. */
async function statesOfLocalPort(port: number): Promise<string[]> {
  const text = await readFile('/proc/self/net/tcp', 'latin1');
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 3 && fields[1]!.endsWith(`:${hex}`))
    .map((fields) => fields[3]!);
}

describe('relay-sessions closes its peers without leaving TIME_WAIT sockets (bench)', () => {
  let server: WebSocketServer;
  let port: number;
  const serverSockets = new Set<WebSocket>();

  before(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    server.on('connection', (ws) => {
      serverSockets.add(ws);
      ws.on('error', () => undefined);
      ws.on('close', () => serverSockets.delete(ws));
    });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    for (const ws of serverSockets) ws.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Open a WebSocket to the server, close it with `close`, and return the states its client port is left in. */
  async function closedBy(close: (ws: WebSocket) => void): Promise<string[]> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.on('error', () => undefined);
    await within(5_000, 'the WebSocket to open', new Promise((resolve) => ws.once('open', resolve)));
    const localPort = ((ws as unknown as { _socket: Socket })._socket.address() as AddressInfo).port;
    const before = serverSockets.size;
    const closed = new Promise((resolve) => ws.once('close', resolve));
    close(ws);
    await within(5_000, 'the client to close', closed);
    // The server's side has gone too (it saw the FIN or the reset), so the client's entry is final.
    for (let i = 0; i < 100 && serverSockets.size >= before; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    return statesOfLocalPort(localPort);
  }

  it('terminate() leaves the client socket in TIME_WAIT (what the check below must see)', async () => {
    assert.deepEqual(await closedBy((ws) => ws.terminate()), [TIME_WAIT]);
  });

  it('closeWithReset leaves no entry on the client side', async () => {
    assert.deepEqual(await closedBy(closeWithReset), []);
  });

  it('closeWithReset of a peer already closed does not throw', async () => {
    let ws: WebSocket | undefined;
    await closedBy((opened) => {
      ws = opened;
      opened.terminate();
    });
    assert.doesNotThrow(() => closeWithReset(ws!));
  });
});
