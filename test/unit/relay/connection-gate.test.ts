/**
 * ConnectionGate: open connections per TCP peer address on a real server on 127.0.0.1, with
 * clients bound to 127.0.0.1 and 127.0.0.2 (Linux routes all of 127/8 to lo).
 */
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ConnectionGate } from '../../../src/relay/connection-gate.js';
import { within } from '../../helpers/relay-process.js';
import { waitUntil } from '../../helpers/wait-until.js';

interface Client {
  readonly socket: Socket;
  /** Resolves true when the server closed the connection, false when it answered "open". */
  readonly verdict: Promise<boolean>;
}

/** Connect from `from`; the test server writes "open" to every connection it keeps. */
function client(port: number, from: string): Client {
  const socket = connect({ host: '127.0.0.1', port, localAddress: from });
  socket.on('error', () => undefined);
  const verdict = within(
    5_000,
    `a verdict for a connection from ${from}`,
    new Promise<boolean>((resolve) => {
      socket.once('data', () => resolve(false));
      socket.once('close', () => resolve(true));
    }),
  );
  return { socket, verdict };
}

async function withGate(maxPerAddress: number, exempt: readonly string[], body: (port: number, gate: ConnectionGate, refused: string[]) => Promise<void>): Promise<void> {
  const refused: string[] = [];
  const gate = new ConnectionGate({ maxPerAddress, isExempt: (address) => exempt.includes(address), onRefused: (address) => refused.push(address) });
  const accepted: Socket[] = [];
  const server: Server = createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => undefined);
    if (!socket.destroyed) socket.write('open');
  });
  gate.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await body((server.address() as AddressInfo).port, gate, refused);
  } finally {
    for (const socket of accepted) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('Security: ConnectionGate', { timeout: 60_000 }, () => {
  it('caps open connections per TCP peer address, counts each address on its own, and frees a slot on close', async () => {
    await withGate(2, [], async (port, gate, refused) => {
      const first = [client(port, '127.0.0.1'), client(port, '127.0.0.1'), client(port, '127.0.0.1')];
      assert.deepEqual(await Promise.all(first.map((c) => c.verdict)), [false, false, true], 'the third from 127.0.0.1 is closed at once');
      assert.deepEqual(refused, ['127.0.0.1']);
      const other = client(port, '127.0.0.2');
      assert.equal(await other.verdict, false, '127.0.0.2 has its own slots');
      assert.equal(gate.addresses, 2);
      assert.equal(gate.openFrom('127.0.0.1'), 2, 'the refused connection was never counted');
      first[0]?.socket.destroy();
      await waitUntil(() => gate.openFrom('127.0.0.1') === 1, 5_000, 'the gate to count the close');
      const again = client(port, '127.0.0.1');
      assert.equal(await again.verdict, false, 'the closed connection gave its slot back');
      for (const c of [...first, other, again]) c.socket.destroy();
      await waitUntil(() => gate.addresses === 0, 5_000, 'every address to be forgotten once its connections closed');
    });
  });

  it('trusted proxies are exempt: the cap is on the TCP peer, and a proxy carries many clients', async () => {
    await withGate(1, ['127.0.0.1'], async (port, _gate, refused) => {
      const viaProxy = [client(port, '127.0.0.1'), client(port, '127.0.0.1'), client(port, '127.0.0.1')];
      assert.deepEqual(await Promise.all(viaProxy.map((c) => c.verdict)), [false, false, false]);
      const direct = [client(port, '127.0.0.2'), client(port, '127.0.0.2')];
      assert.deepEqual(await Promise.all(direct.map((c) => c.verdict)), [false, true], 'others are still capped');
      assert.deepEqual(refused, ['127.0.0.2']);
      for (const c of [...viaProxy, ...direct]) c.socket.destroy();
    });
  });
});

describe('ConnectionGate memory (issue 15)', { timeout: 60_000 }, () => {
  it('on a single node every counted connection shares one close listener (no closure per connection), and closing still frees its slot', async () => {
    const gate = new ConnectionGate({ maxPerAddress: 2, isExempt: () => false, onRefused: () => undefined });
    const accepted: Socket[] = [];
    const server: Server = createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      socket.write('open');
    });
    gate.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const clients = [client(port, '127.0.0.1'), client(port, '127.0.0.1')];
      assert.deepEqual(await Promise.all(clients.map((c) => c.verdict)), [false, false]);
      const [first, second] = accepted as [Socket, Socket];
      assert.equal(first.listeners('close').length, 1);
      assert.equal(first.listeners('close')[0], second.listeners('close')[0], 'the same listener function for both connections');
      assert.equal(gate.openFrom('127.0.0.1'), 2);
      clients[0]!.socket.destroy();
      await waitUntil(() => gate.openFrom('127.0.0.1') === 1, 5_000, 'the closed connection to free its slot');
      const third = client(port, '127.0.0.1');
      assert.equal(await third.verdict, false, 'the freed slot is usable');
      for (const c of [...clients, third]) c.socket.destroy();
      await waitUntil(() => gate.addresses === 0, 5_000, 'every slot freed');
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
