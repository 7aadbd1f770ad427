/**
 * The fault-injecting proxy of test/helpers/fault-proxy.ts does what issue 12's tests rely on:
 * each control is proven against a real echo server (and a real WebSocket) on loopback. Checks
 * are structural (what arrived, in what order, what the proxy holds), never wall-clock bounds,
 * except one generous lower bound on delay.
 */
import assert from 'node:assert/strict';
import type { AddressInfo, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import type { FaultProxy } from '../../helpers/fault-proxy.js';
import { startFaultProxy } from '../../helpers/fault-proxy.js';
import { waitUntil, within } from '../../helpers/wait-until.js';

/** Bound for anything here that should happen at once, in ms (generous: the machine may be loaded). */
const SETTLES_MS = 20_000;

/** What each test started, stopped in reverse order after it (pass or fail). */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function proxyTo(port: number): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ port });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A TCP echo server on 127.0.0.1 that counts what it saw and can also speak first. */
interface EchoServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes received so far, over all connections. */
  readonly received: number;
  /** Write `text` on every open connection (server-initiated traffic). */
  sendToAll(text: string): void;
  close(): Promise<void>;
}

async function startEchoServer(port = 0): Promise<EchoServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  let received = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  let closing: Promise<void> | undefined;
  const echo: EchoServer = {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    get received() {
      return received;
    },
    sendToAll(text) {
      for (const socket of sockets) socket.write(text);
    },
    close() {
      closing ??= within(
        SETTLES_MS,
        'the echo server to close',
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        }),
      );
      return closing;
    },
  };
  cleanups.push(() => echo.close());
  return echo;
}

/** A test's client connection, logging what happened to it in order. */
interface Peer {
  readonly socket: Socket;
  /** 'connect', 'end', 'error:<code>', 'close', in the order they happened. */
  readonly events: string[];
  text(): string;
  readonly closed: Promise<void>;
}

function dial(port: number): Peer {
  const socket = connect({ host: '127.0.0.1', port });
  const events: string[] = [];
  let text = '';
  socket.setEncoding('utf8');
  socket.on('connect', () => events.push('connect'));
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('end', () => events.push('end'));
  socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code ?? error.message}`));
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      events.push('close');
      resolve();
    }),
  );
  cleanups.push(() => {
    socket.destroy();
    return within(SETTLES_MS, 'a test connection to close', closed);
  });
  return { socket, events, text: () => text, closed };
}

/** Dial through the proxy and wait until `probe` has made the round trip through the echo server. */
async function connectedPeer(port: number, probe = 'hello'): Promise<Peer> {
  const peer = dial(port);
  peer.socket.write(probe);
  await waitUntil(() => peer.text().endsWith(probe), SETTLES_MS, `the echo of ${probe}`);
  return peer;
}

describe('fault proxy (test/helpers/fault-proxy.ts): each control against a real echo server', () => {
  it('forwards both ways, passes a half-close on, and counts connections and bytes', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const peer = await connectedPeer(proxy.port, 'hello');
    assert.equal(echo.connections, 1, 'the echo server saw the proxied connection');
    assert.deepEqual(proxy.counters(), {
      accepted: 1,
      refused: 0,
      open: 1,
      bytesToTarget: 5,
      bytesToClient: 5,
      inTransitToTarget: 0,
      inTransitToClient: 0,
    });
    peer.socket.end(); // the client's FIN reaches the server, whose FIN comes back
    await within(SETTLES_MS, 'the connection to close', peer.closed);
    assert.deepEqual(peer.events, ['connect', 'end', 'close'], 'a clean FIN both ways, no error');
    await waitUntil(() => proxy.counters().open === 0, SETTLES_MS, 'the proxy to count the connection closed');
  });

  it('cut() resets every current connection on both sides, and new ones are forwarded again', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const peers = [await connectedPeer(proxy.port), await connectedPeer(proxy.port)];
    assert.equal(await proxy.cut(), 2, 'both connections cut');
    assert.equal(proxy.counters().open, 0, 'cut() resolves once every socket is closed');
    for (const peer of peers) {
      await within(SETTLES_MS, 'the cut connection to close', peer.closed);
      assert.ok(peer.events.includes('error:ECONNRESET'), `a reset, not a clean close: ${peer.events.join(' ')}`);
      assert.ok(!peer.events.includes('end'), 'no FIN before the reset');
    }
    await waitUntil(() => echo.connections === 2, SETTLES_MS, 'the echo server to count both');
    const after = await connectedPeer(proxy.port, 'again');
    assert.equal(after.text(), 'again');
    assert.equal(proxy.counters().accepted, 3);
  });

  it('cut({ graceful: true }) closes both sides with a FIN, no reset', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const peer = await connectedPeer(proxy.port);
    assert.equal(await proxy.cut({ graceful: true }), 1);
    await within(SETTLES_MS, 'the cut connection to close', peer.closed);
    assert.deepEqual(peer.events, ['connect', 'end', 'close'], 'a FIN, no error');
    assert.equal(proxy.counters().open, 0);
  });

  it('blackHole() holds bytes both ways without closing, new connections included; restore() delivers them in order', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const peer = await connectedPeer(proxy.port, 'hello');
    await proxy.blackHole();
    const before = proxy.counters();

    peer.socket.write('ping'); // client → target: held in the proxy
    await waitUntil(() => proxy.counters().inTransitToTarget === 4, SETTLES_MS, 'the proxy to hold the client bytes');
    echo.sendToAll('srv'); // target → client: held too
    await waitUntil(() => proxy.counters().inTransitToClient === 3, SETTLES_MS, 'the proxy to hold the server bytes');
    const late = dial(proxy.port); // accepted, but not connected on to the target
    late.socket.write('late');
    await waitUntil(() => proxy.counters().inTransitToTarget === 8, SETTLES_MS, 'the proxy to hold the new connection bytes');

    const during = proxy.counters();
    assert.equal(during.bytesToTarget, before.bytesToTarget, 'nothing forwarded to the target');
    assert.equal(during.bytesToClient, before.bytesToClient, 'nothing forwarded to the client');
    assert.equal(echo.received, 5, 'the echo server got only the probe');
    assert.equal(echo.connections, 1, 'the late connection did not reach the target');
    assert.equal(peer.text(), 'hello', 'the client got nothing new');
    assert.deepEqual(peer.events, ['connect'], 'nothing closed');
    assert.deepEqual(late.events, ['connect'], 'the late connection was accepted and left open');
    assert.equal(during.accepted, 2);

    await proxy.restore();
    await waitUntil(() => peer.text() === 'hellosrvping', SETTLES_MS, 'the held bytes after restore');
    await waitUntil(() => late.text() === 'late', SETTLES_MS, 'the late connection to flow after restore');
    assert.equal(echo.connections, 2);
    const after = proxy.counters();
    assert.equal(after.inTransitToTarget + after.inTransitToClient, 0, 'nothing left in transit');
  });

  it('blackHole() holds a FIN too: the target does not see the client close until restore()', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const peer = await connectedPeer(proxy.port);
    await proxy.blackHole();
    peer.socket.end('bye');
    await waitUntil(() => proxy.counters().inTransitToTarget === 3, SETTLES_MS, 'the proxy to hold the last bytes');
    assert.equal(proxy.counters().open, 1, 'the target side stays open');
    assert.deepEqual(peer.events, ['connect'], 'no FIN came back');
    await proxy.restore();
    await within(SETTLES_MS, 'the connection to close after restore', peer.closed);
    assert.equal(peer.text(), 'hellobye');
    assert.deepEqual(peer.events, ['connect', 'end', 'close']);
  });

  it('delay() on one direction holds only that direction; lowering it releases what waits, in order', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const peer = await connectedPeer(proxy.port, 'hello');

    await proxy.delay(600_000, 'toClient'); // far longer than any test: only delay(0) releases it
    for (const [index, chunk] of ['a', 'b', 'c'].entries()) {
      peer.socket.write(chunk); // three separate chunks: each echoed, each delayed on the way back
      await waitUntil(() => proxy.counters().inTransitToClient === index + 1, SETTLES_MS, `the echo of ${chunk} to wait in the proxy`);
    }
    assert.equal(echo.received, 5 + 3, 'the client → target direction is not delayed');
    assert.equal(peer.text(), 'hello', 'nothing delayed has reached the client');

    await proxy.delay(0, 'toClient');
    await waitUntil(() => peer.text() === 'helloabc', SETTLES_MS, 'the delayed echoes, in order');
  });

  it('a connection that closes while a chunk waits out a long delay leaves no timer behind', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const peer = await connectedPeer(proxy.port);
    const timers = (): number => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
    const baseline = timers();
    await proxy.delay(600_000, 'toClient');
    peer.socket.write('x');
    await waitUntil(() => proxy.counters().inTransitToClient === 1, SETTLES_MS, 'the echo to wait in the proxy');
    peer.socket.resetAndDestroy(); // the client goes away; its reset reaches the target at once
    await waitUntil(() => proxy.counters().open === 0, SETTLES_MS, 'the proxy to count the connection closed');
    assert.equal(timers(), baseline, 'the delay timer of the closed connection is gone');
  });

  it('delay() adds at least the delay to each chunk and keeps their order', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const peer = await connectedPeer(proxy.port, 'hello');
    const delayMs = 200;
    await proxy.delay(delayMs); // both ways: a round trip takes at least 2 × delayMs
    const sentAt = Date.now();
    const chunks = Array.from({ length: 20 }, (_unused, index) => `<${index}>`);
    for (const chunk of chunks) peer.socket.write(chunk);
    const expected = 'hello' + chunks.join('');
    await waitUntil(() => peer.text() === expected, SETTLES_MS, 'every delayed chunk, in order');
    // A lower bound only, with a generous margin (half the round trip's delay): load only adds time.
    assert.ok(Date.now() - sentAt >= delayMs, `the echo came back after at least ${delayMs} ms`);
    assert.equal(echo.received, expected.length);
  });

  it('delay() rejects a negative or non-finite delay', async () => {
    const proxy = await proxyTo((await startEchoServer()).port);
    await assert.rejects(async () => proxy.delay(-1), RangeError);
    await assert.rejects(async () => proxy.delay(Number.NaN, 'toTarget'), RangeError);
  });

  it("refuseNew(true) accepts and closes new connections at once, current ones keep working; refuseNew(false) forwards again", async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const current = await connectedPeer(proxy.port, 'one');
    await proxy.refuseNew(true);
    const refused = dial(proxy.port);
    await within(SETTLES_MS, 'the refused connection to close', refused.closed);
    assert.equal(refused.events[0], 'connect', 'accepted first');
    assert.equal(refused.text(), '', 'and closed without a byte');
    assert.equal(proxy.counters().refused, 1);
    assert.equal(echo.connections, 1, 'the target never saw it');
    current.socket.write('two');
    await waitUntil(() => current.text() === 'onetwo', SETTLES_MS, 'the current connection to keep working');

    await proxy.refuseNew(false);
    const again = await connectedPeer(proxy.port, 'three');
    assert.equal(again.text(), 'three');
    assert.equal(proxy.counters().accepted, 2);
  });

  it("refuseNew(true, 'unlisten') closes the port (ECONNREFUSED) and refuseNew(false) opens the same port again", async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const port = proxy.port;
    const current = await connectedPeer(port, 'one');
    await proxy.refuseNew(true, 'unlisten');
    const refused = dial(port);
    await within(SETTLES_MS, 'the refused connection to close', refused.closed);
    assert.deepEqual(refused.events, ['error:ECONNREFUSED', 'close']);
    current.socket.write('two');
    await waitUntil(() => current.text() === 'onetwo', SETTLES_MS, 'the current connection to keep working');

    await proxy.refuseNew(false);
    assert.equal(proxy.port, port, 'the same port');
    const again = await connectedPeer(port, 'three');
    assert.equal(again.text(), 'three');
  });

  it('setTarget() sends new connections to the new target; current ones stay where they are', async () => {
    const first = await startEchoServer();
    const second = await startEchoServer();
    const proxy = await proxyTo(first.port);
    const old = await connectedPeer(proxy.port, 'old');
    proxy.setTarget(second.port);
    await connectedPeer(proxy.port, 'new');
    assert.equal(second.connections, 1, 'the new connection went to the new target');
    assert.equal(first.connections, 1);
    old.socket.write('still');
    await waitUntil(() => old.text() === 'oldstill', SETTLES_MS, 'the old connection to keep its target');
    assert.equal(first.received, 'oldstill'.length);
    assert.throws(() => proxy.setTarget(0), RangeError);
  });

  it('a target that is down resets new connections; restarted on the same port, it is reached again', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    await echo.close();
    const failed = dial(proxy.port);
    await within(SETTLES_MS, 'the connection to a dead target to close', failed.closed);
    assert.ok(failed.events.includes('error:ECONNRESET'), `a reset: ${failed.events.join(' ')}`);
    const restarted = await startEchoServer(echo.port);
    const peer = await connectedPeer(proxy.port, 'back');
    assert.equal(peer.text(), 'back');
    assert.equal(restarted.connections, 1);
  });

  it('close() resets every connection, stops listening, and resolves when all is gone', async () => {
    const echo = await startEchoServer();
    const proxy = await proxyTo(echo.port);
    const peer = await connectedPeer(proxy.port);
    await proxy.blackHole();
    dial(proxy.port); // one held, never connected on
    await waitUntil(() => proxy.counters().open === 2, SETTLES_MS, 'the proxy to accept the held connection');
    await proxy.close();
    assert.equal(proxy.counters().open, 0);
    await within(SETTLES_MS, 'the connection to close', peer.closed);
    assert.ok(peer.events.includes('error:ECONNRESET'), `a reset: ${peer.events.join(' ')}`);
    const refused = dial(proxy.port);
    await within(SETTLES_MS, 'the connection attempt to fail', refused.closed);
    assert.deepEqual(refused.events, ['error:ECONNREFUSED', 'close']);
    await proxy.close(); // a second close is harmless
    await assert.rejects(proxy.refuseNew(false), /closed/);
  });
});

describe('fault proxy: a WebSocket through it', () => {
  it('sees no traffic during blackHole(), traffic after restore(), and a close on cut()', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const client of server.clients) client.terminate();
          server.close(() => resolve());
        }),
    );
    const serverGot: string[] = [];
    const serverCloses: number[] = [];
    server.on('connection', (socket) => {
      socket.on('message', (data: RawData) => {
        const text = Buffer.isBuffer(data) ? data.toString('utf8') : '';
        serverGot.push(text);
        socket.send(`echo:${text}`);
      });
      socket.on('close', (code) => serverCloses.push(code));
      socket.on('error', () => undefined);
    });
    const proxy = await proxyTo((server.address() as AddressInfo).port);

    const client = new WebSocket(`ws://127.0.0.1:${proxy.port}`);
    const clientGot: string[] = [];
    const clientEvents: string[] = [];
    client.on('message', (data: RawData) => clientGot.push(Buffer.isBuffer(data) ? data.toString('utf8') : ''));
    client.on('error', (error) => clientEvents.push(`error:${error.message}`));
    const clientClosed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    cleanups.push(() => client.terminate());
    await within(SETTLES_MS, 'the WebSocket to open through the proxy', new Promise((resolve) => client.once('open', resolve)));

    client.send('one');
    await waitUntil(() => clientGot.length === 1, SETTLES_MS, 'the first echo');
    assert.deepEqual(clientGot, ['echo:one']);

    await proxy.blackHole();
    const before = proxy.counters();
    client.send('two');
    await waitUntil(() => proxy.counters().inTransitToTarget > 0, SETTLES_MS, 'the proxy to hold the frame');
    assert.deepEqual(serverGot, ['one'], 'the server got nothing during the black hole');
    assert.deepEqual(clientGot, ['echo:one'], 'the client got nothing during the black hole');
    assert.equal(proxy.counters().bytesToTarget, before.bytesToTarget);
    assert.equal(proxy.counters().bytesToClient, before.bytesToClient);
    assert.equal(client.readyState, WebSocket.OPEN, 'the WebSocket stays open');

    await proxy.restore();
    await waitUntil(() => clientGot.length === 2, SETTLES_MS, 'the held frame to make the round trip');
    assert.deepEqual(serverGot, ['one', 'two']);
    assert.deepEqual(clientGot, ['echo:one', 'echo:two']);

    await proxy.cut();
    const code = await within(SETTLES_MS, 'the client WebSocket to close on cut', clientClosed);
    assert.equal(code, 1006, `an abnormal closure (no close frame) on the client: ${clientEvents.join(' ')}`);
    await waitUntil(() => serverCloses.length === 1, SETTLES_MS, 'the server WebSocket to close on cut');
    assert.equal(serverCloses[0], 1006, 'an abnormal closure on the server too');
  });
});
