/**
 * Security: bytes a client sends on a stream before the agent answered its CONNECT ("early
 * data", docs/design.md §5 "A stream's first bytes"). connect sends a connection's first bytes
 * right behind the CONNECT; a hostile client may send anything there. What is sent on a stream
 * the agent refuses (404 unknown target, 405 not CONNECT, 503 from the gate) reaches no handler
 * and no target, and is discarded, so that refused streams carrying early bytes can neither hold
 * the agent's memory nor use up the connection's flow-control window for the streams of others.
 * The hostile client here is a raw HTTP/2 session on the secure channel, which never reads,
 * ends or resets its refused streams.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { connect, constants } from 'node:http2';
import { createConnection } from 'node:net';
import { describe, it } from 'node:test';
import type { Duplex } from 'node:stream';
import { LocalListener } from '../../../src/client/local-listener.js';
import type { GateVerdict, StreamGate, TargetHandler } from '../../../src/mux/index.js';
import { MuxClient, MuxServer } from '../../../src/mux/index.js';
import { pairedChannels, within } from '../../helpers/channel-pair.js';
import { waitUntil } from '../../helpers/wait-until.js';

/** Small windows, so that a few refused streams carry several times the connection's window. */
const STREAM_WINDOW = 256 * 1024;
const CONNECTION_WINDOW = 1024 * 1024;
const REFUSED_STREAMS = 24;
const TIMEOUT_MS = 15_000;
const EARLY = 'GET /version HTTP/1.1\r\nhost: x\r\n\r\n';

/** Refuses streams to `closed` as the audit's fail-closed rule would; admits the rest. */
const gate: StreamGate = {
  admit: ({ target }): Promise<GateVerdict> =>
    Promise.resolve(target === 'closed' ? { admitted: false, reason: 'audit-unavailable' } : { admitted: true, end: () => undefined }),
};

interface Setup {
  readonly server: MuxServer;
  readonly hostile: ClientHttp2Session;
  close(): void;
}

async function setup(targets: Record<string, TargetHandler>): Promise<Setup> {
  const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
  const server = new MuxServer(agent, { targets: new Map(Object.entries(targets)), gate, streamWindowBytes: STREAM_WINDOW, connectionWindowBytes: CONNECTION_WINDOW });
  // The hostile client: HTTP/2 on the channel, as MuxClient uses it, but sending what it likes.
  const hostile = connect('http://kubepair.tunnel', { createConnection: () => client.mux, settings: { initialWindowSize: STREAM_WINDOW } });
  hostile.on('error', () => undefined);
  await once(hostile, 'connect');
  return {
    server,
    hostile,
    close: () => {
      hostile.destroy();
      server.close();
      agent.close();
      client.close();
    },
  };
}

/** A raw stream that writes `bytes` before any answer and then never reads, ends or resets. */
function hostileStream(session: ClientHttp2Session, method: string, target: string, bytes: number): { stream: ClientHttp2Stream; status: Promise<number> } {
  const stream = session.request({ [constants.HTTP2_HEADER_METHOD]: method, [constants.HTTP2_HEADER_AUTHORITY]: target, ...(method !== 'CONNECT' && { [constants.HTTP2_HEADER_PATH]: '/', [constants.HTTP2_HEADER_SCHEME]: 'http' }) }, { endStream: false });
  stream.on('error', () => undefined);
  stream.write(Buffer.alloc(bytes, 0x41));
  const status = new Promise<number>((resolve) => stream.once('response', (headers) => resolve(Number(headers[constants.HTTP2_HEADER_STATUS]))));
  return { stream, status };
}

/** A handler that records that it ran and every byte it got. */
function recording(name: string, reached: string[]): TargetHandler {
  return (stream: Duplex) => {
    reached.push(`${name} handler`);
    stream.on('data', (chunk: Buffer) => reached.push(`${name} ${chunk.length} bytes`));
  };
}

describe('Security: early data on refused streams', () => {
  it('bytes sent before a refusal (404, 405, 503) reach no handler, and the refused streams are reset, not held open', async () => {
    const reached: string[] = [];
    const t = await setup({ 'kube-apiserver': recording('kube-apiserver', reached), closed: recording('closed', reached) });
    const refused: string[] = [];
    t.server.on('refused', (info) => refused.push(`${info.method} ${info.target} ${info.status}`));
    try {
      const cases = [
        { method: 'CONNECT', target: 'nowhere', status: 404 },
        { method: 'GET', target: 'kube-apiserver', status: 405 },
        { method: 'CONNECT', target: 'closed', status: 503 },
      ];
      for (const { method, target, status } of cases) {
        const { stream, status: answered } = hostileStream(t.hostile, method, target, 64 * 1024);
        assert.equal(await within(answered, TIMEOUT_MS, `${method} ${target} answered`), status);
        // The agent resets the stream after its refusal (RST_STREAM NO_ERROR): the client's
        // stream closes although it never ended its side.
        await within(once(stream, 'close'), TIMEOUT_MS, `${method} ${target} closed by the agent`);
        assert.equal(stream.rstCode, constants.NGHTTP2_NO_ERROR, `${method} ${target}: reset with NO_ERROR`);
      }
      assert.deepEqual(refused, ['CONNECT nowhere 404', 'GET kube-apiserver 405', 'CONNECT closed 503']);
      assert.deepEqual(reached, [], 'no handler ran and no byte reached one');
    } finally {
      t.close();
    }
  });

  it(`refused streams carrying early bytes (${REFUSED_STREAMS} × the stream window, ${(REFUSED_STREAMS * STREAM_WINDOW) / CONNECTION_WINDOW}× the connection window) do not stall an admitted stream`, async () => {
    let received = 0;
    const t = await setup({
      sink: (stream: Duplex) => {
        stream.on('data', (chunk: Buffer) => (received += chunk.length));
      },
      closed: () => assert.fail('a refused stream reached its handler'),
    });
    try {
      const kinds: ReadonlyArray<readonly [string, string]> = [
        ['CONNECT', 'nowhere'],
        ['GET', 'sink'],
        ['CONNECT', 'closed'],
      ];
      const opened: Array<{ stream: ClientHttp2Stream; status: Promise<number> }> = [];
      for (let index = 0; index < REFUSED_STREAMS; index++) {
        const [method, target] = kinds[index % kinds.length]!;
        // A whole stream window each: more than the agent's connection window taken together.
        opened.push(hostileStream(t.hostile, method, target, STREAM_WINDOW));
      }
      const statuses = await within(Promise.all(opened.map(({ status }) => status)), TIMEOUT_MS, 'the refusals');
      assert.ok(statuses.every((status) => status === 404 || status === 405 || status === 503), statuses.join(','));
      // Nothing of them is held at the agent: each was reset after its refusal.
      // (Node 22 emits 'close' on a reset stream only once its unsent writes are dropped: look at `closed`.)
      await waitUntil(() => opened.every(({ stream }) => stream.closed), TIMEOUT_MS, 'the refused streams closed by the agent');
      assert.ok(opened.every(({ stream }) => stream.rstCode === constants.NGHTTP2_NO_ERROR), 'each reset with NO_ERROR');
      // An admitted stream then moves several connection windows' worth.
      const total = 4 * CONNECTION_WINDOW;
      const { stream, status } = hostileStream(t.hostile, 'CONNECT', 'sink', 0);
      assert.equal(await within(status, TIMEOUT_MS, 'sink answered'), 200);
      const chunk = Buffer.alloc(64 * 1024, 0x42);
      for (let sent = 0; sent < total; sent += chunk.length) {
        if (!stream.write(chunk)) await within(once(stream, 'drain'), TIMEOUT_MS, `drain after ${sent} bytes (${received} received)`);
      }
      await waitUntil(() => received === total, TIMEOUT_MS, `all ${total} bytes at the sink (${received} so far)`);
    } finally {
      t.close();
    }
  });

  it('early bytes on a stream the gate has not decided yet wait in the stream: no handler sees them before the admission, then it gets all of them in order', async () => {
    const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
    let admit: ((verdict: GateVerdict) => void) | undefined;
    const held: StreamGate = { admit: () => new Promise<GateVerdict>((resolve) => (admit = resolve)) };
    const reached: string[] = [];
    let got = '';
    const server = new MuxServer(agent, {
      targets: new Map([
        [
          'kube-apiserver',
          (stream: Duplex) => {
            reached.push('handler');
            stream.on('data', (chunk: Buffer) => (got += chunk.toString()));
          },
        ],
      ]),
      gate: held,
    });
    const mux = new MuxClient(client);
    try {
      const { stream, answered } = mux.beginStream('kube-apiserver');
      stream.write(EARLY.slice(0, 23));
      stream.write(EARLY.slice(23));
      // The gate has the stream; the bytes have crossed the channel by now and wait in it.
      await waitUntil(() => admit !== undefined, TIMEOUT_MS, 'the gate to hold the stream');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(reached, [], 'no handler before the gate decided');
      admit!({ admitted: true, end: () => undefined });
      await within(answered, TIMEOUT_MS, 'the 200');
      await waitUntil(() => got.length >= EARLY.length, TIMEOUT_MS, `the early bytes at the handler (${JSON.stringify(got)})`);
      assert.equal(got, EARLY);
      assert.deepEqual(reached, ['handler']);
    } finally {
      mux.close();
      server.close();
      agent.close();
      client.close();
    }
  });

  it('MuxClient.beginStream: a refused stream rejects its answer and is destroyed; nothing is read from it', async () => {
    const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
    const server = new MuxServer(agent, { targets: new Map([['closed', () => assert.fail('a refused stream reached its handler')]]), gate });
    const mux = new MuxClient(client);
    try {
      for (const [target, code] of [
        ['closed', 'KP_ERR_MUX_AUDIT_UNAVAILABLE'],
        ['nowhere', 'KP_ERR_MUX_TARGET_UNKNOWN'],
      ] as const) {
        const { stream, answered } = mux.beginStream(target);
        let read = 0;
        stream.on('data', (chunk: Buffer) => (read += chunk.length));
        stream.write(Buffer.alloc(32 * 1024));
        await assert.rejects(within(answered, TIMEOUT_MS, `${target} refused`), (err: Error & { code?: string }) => err.code === code);
        assert.ok(stream.destroyed, `${target}: the stream is destroyed`);
        assert.equal(read, 0, `${target}: nothing was read`);
      }
    } finally {
      mux.close();
      server.close();
      agent.close();
      client.close();
    }
  });

  it('a plain listener: a client that sends its bytes and leaves before the answer is no refusal; one the agent refuses is closed and reported once', async () => {
    const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
    let admit: ((verdict: GateVerdict) => void) | undefined;
    const held: StreamGate = { admit: ({ target }) => (target === 'closed' ? gate.admit({ target, streamId: 0 }) : new Promise<GateVerdict>((resolve) => (admit = resolve))) };
    const server = new MuxServer(agent, { targets: new Map([['echo', (stream: Duplex) => void stream.pipe(stream)], ['closed', () => assert.fail('a refused stream reached its handler')]]), gate: held });
    const mux = new MuxClient(client);
    const errors: string[] = [];
    const listeners = ['echo', 'closed'].map((target) => {
      const listener = new LocalListener({ security: { kind: 'plain' }, target, peers: { kind: 'any' }, beginStream: (name) => Promise.resolve(mux.beginStream(name)) });
      listener.on('streamError', (error, phase) => errors.push(`${target} ${phase} ${error.code}`));
      return listener;
    });
    try {
      const [echoPort, closedPort] = await Promise.all(listeners.map((listener) => listener.listen()));
      // Leaves while the gate holds its stream.
      const leaving = createConnection(echoPort!, '127.0.0.1');
      leaving.on('error', () => undefined);
      leaving.write('bye');
      await waitUntil(() => admit !== undefined, TIMEOUT_MS, 'the gate to hold the stream');
      leaving.resetAndDestroy();
      await waitUntil(() => listeners[0]!.connectionCount === 0, TIMEOUT_MS, 'the listener to see the client leave');
      await new Promise((resolve) => setTimeout(resolve, 100));
      admit!({ admitted: true, end: () => undefined });
      // Refused: the connection closes without a byte, and connect is told why.
      const refused = createConnection(closedPort!, '127.0.0.1');
      let got = 0;
      refused.on('data', (chunk: Buffer) => (got += chunk.length));
      refused.on('error', () => undefined);
      refused.write('early');
      await within(once(refused, 'close'), TIMEOUT_MS, 'the refused client closed');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(got, 0, 'nothing reached the refused client');
      assert.deepEqual(errors, ['closed open KP_ERR_MUX_AUDIT_UNAVAILABLE']);
    } finally {
      for (const listener of listeners) await listener.close();
      mux.close();
      server.close();
      agent.close();
      client.close();
    }
  });

  it('a hostile agent that sends DATA before its answer: nothing reaches the local client, connect reports the stream failed', async () => {
    const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
    // A raw HTTP/2 "agent" on the channel: its SETTINGS, then DATA on the client's first stream
    // as soon as the CONNECT has come, with no response HEADERS before it.
    const frame = (type: number, flags: number, streamId: number, payload: Buffer): Buffer => {
      const header = Buffer.alloc(9);
      header.writeUIntBE(payload.length, 0, 3);
      header[3] = type;
      header[4] = flags;
      header.writeUInt32BE(streamId, 5);
      return Buffer.concat([header, payload]);
    };
    let received = 0;
    let sent = false;
    agent.mux.on('data', (chunk: Buffer) => {
      if (received === 0) agent.mux.write(frame(4, 0, 0, Buffer.alloc(0))); // SETTINGS
      received += chunk.length;
      // The client's preface and SETTINGS (24 + 9 + its settings) came first; anything after is the CONNECT.
      if (!sent && received > 24 + 9 + 6 * 4) {
        sent = true;
        agent.mux.write(frame(4, 1, 0, Buffer.alloc(0))); // SETTINGS ACK
        agent.mux.write(frame(0, 0, 1, Buffer.from('leaked before the answer')));
      }
    });
    const mux = new MuxClient(client);
    const errors: string[] = [];
    const listener = new LocalListener({ security: { kind: 'plain' }, target: 'echo', peers: { kind: 'any' }, beginStream: (name) => Promise.resolve(mux.beginStream(name, { timeoutMs: 3000 })) });
    listener.on('streamError', (error, phase) => errors.push(`${phase} ${error.code}`));
    try {
      const port = await listener.listen();
      const socket = createConnection(port, '127.0.0.1');
      let got = 0;
      socket.on('data', (chunk: Buffer) => (got += chunk.length));
      socket.on('error', () => undefined);
      socket.write('hello');
      await within(once(socket, 'close'), TIMEOUT_MS, 'the local client closed');
      assert.ok(sent, 'the hostile agent sent its DATA');
      assert.equal(got, 0, 'no byte reached the local client');
      assert.deepEqual(errors, ['open KP_ERR_MUX_STREAM_FAILED']);
    } finally {
      await listener.close();
      mux.close();
      agent.close();
      client.close();
    }
  });
});
