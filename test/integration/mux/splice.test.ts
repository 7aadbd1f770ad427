/**
 * splice (src/mux/splice.ts): the chunks one side delivers in one event-loop turn leave the
 * other side in one batched write, and the batching neither loses, reorders nor mixes bytes
 * between streams, nor lets a stalled side buffer without bound.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { splice } from '../../../src/mux/splice.js';
import { SocketReads } from '../../../src/mux/socket-reads.js';
import { SPLICE_WRITE_BUFFER_BYTES } from '../../../src/limits.js';
import { echoStorm } from '../../helpers/echo-storm.js';
import { startEchoTunnel } from '../../helpers/echo-tunnel.js';
import { waitUntil, within } from '../../helpers/wait-until.js';

/** A Duplex whose writable side records each call it gets (one chunk by _write, a batch by _writev). */
let lastSinkCalls: number[][] | undefined;

function recordingSink(): { sink: Duplex; calls: number[][] } {
  const calls: number[][] = [];
  lastSinkCalls = calls;
  const sink = new Duplex({
    read: () => undefined,
    write(chunk: Buffer, _encoding, callback) {
      calls.push([chunk.length]);
      callback();
    },
    writev(chunks: Array<{ chunk: Buffer }>, callback) {
      calls.push(chunks.map((entry) => entry.chunk.length));
      callback();
    },
  });
  return { sink, calls };
}

/** SocketReads for the client side of `withSocketPair`, and whether each chunk was written within its read callback. */
let clientReads: SocketReads;
let clientWrittenInTheRead: boolean[];

/**
 * A TCP connection on 127.0.0.1 (the client reads through SocketReads; `clientWrittenInTheRead`
 * records, after each of its read callbacks, whether the recording sink's calls grew in it),
 * closed after `body`, bounded in time.
 */
async function withSocketPair(body: (client: Socket, server: Socket) => Promise<void>): Promise<void> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  clientReads = new SocketReads();
  clientWrittenInTheRead = [];
  const inner = clientReads.onread;
  let callsBefore = 0;
  const client = connect({
    host: '127.0.0.1',
    port,
    onread: {
      buffer: inner.buffer,
      callback: (bytes, buffer) => {
        callsBefore = lastSinkCalls?.length ?? 0;
        const result = inner.callback(bytes, buffer);
        clientWrittenInTheRead.push((lastSinkCalls?.length ?? 0) === callsBefore + 1);
        return result;
      },
    },
  });
  try {
    const socket = await within(5000, 'the connection accepted', accepted);
    await body(client, socket);
    socket.destroy();
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('splice', () => {
  it('writes the chunks one side delivers in one turn as one batch', async () => {
    const source = new PassThrough();
    const { sink, calls } = recordingSink();
    splice(source, sink);
    // Sixteen 16 KiB chunks in one turn, as HTTP/2 hands over one 256 KiB MUX record.
    for (let i = 0; i < 16; i++) source.write(Buffer.alloc(16 * 1024, i));
    await waitUntil(() => calls.flat().length === 16, 5000, 'all sixteen chunks written');
    assert.deepEqual(calls, [Array<number>(16).fill(16 * 1024)], 'one writev with all sixteen chunks');
    source.destroy();
  });

  it('writes a chunk read from a plain TCP socket at once, in the read callback, without a cork', async () => {
    await withSocketPair(async (client, server) => {
      const { sink, calls } = recordingSink();
      splice(server, sink);
      // Runs right after splice's own 'data' listener, before the tick queue: the chunk must already be written.
      const writtenInTheRead: boolean[] = [];
      server.on('data', () => writtenInTheRead.push(calls.length === writtenInTheRead.length + 1));
      for (let i = 1; i <= 5; i++) {
        client.write(Buffer.alloc(100 * i, i));
        await waitUntil(() => calls.length === i, 5000, `chunk ${i} written`);
      }
      assert.deepEqual(writtenInTheRead, [true, true, true, true, true], 'each chunk reached the sink within its own read callback');
      assert.deepEqual(calls, [[100], [200], [300], [400], [500]], 'one write per chunk, as read');
    });
  });

  it('writes a chunk read through SocketReads at once, in the read callback, without a cork', async () => {
    await withSocketPair(async (client, server) => {
      const { sink, calls } = recordingSink();
      splice(client, sink, undefined, { reads: { a: clientReads } });
      for (let i = 1; i <= 5; i++) {
        server.write(Buffer.alloc(100 * i, i));
        await waitUntil(() => calls.length === i, 5000, `chunk ${i} written`);
      }
      assert.deepEqual(clientWrittenInTheRead, [true, true, true, true, true], 'each chunk reached the sink within its own read callback');
      assert.deepEqual(calls, [[100], [200], [300], [400], [500]], 'one write per chunk, as read');
    });
  });

  it('still batches the chunks a paused TCP socket kept, once splice resumes it', async () => {
    await withSocketPair(async (client, server) => {
      server.pause();
      for (let i = 1; i <= 3; i++) {
        client.write(Buffer.alloc(1000, i));
        // Each its own read: the socket buffers the chunks one by one while paused.
        await waitUntil(() => server.readableLength === 1000 * i, 5000, `chunk ${i} buffered`);
      }
      const { sink, calls } = recordingSink();
      splice(server, sink);
      await waitUntil(() => calls.flat().length === 3, 5000, 'the three buffered chunks written');
      assert.deepEqual(calls, [[1000, 1000, 1000]], 'one writev with the three buffered chunks');
    });
  });

  it('pauses the sending side while the other side cannot write, within the bound', async () => {
    const chunk = Buffer.alloc(64 * 1024, 1);
    let produced = 0;
    const source = new Duplex({
      write: (_chunk, _encoding, callback) => callback(),
      read() {
        // Bounded: 4,096 chunks (256 MiB) is far more than any buffering the test allows.
        if (produced < 4096) {
          produced += 1;
          this.push(chunk);
        }
      },
    });
    // A side that accepts the first write and then never completes it (a stalled reader).
    const stalled = new Duplex({ read: () => undefined, write: () => undefined, writev: () => undefined });
    splice(source, stalled);
    await waitUntil(() => source.isPaused(), 5000, 'the source to be paused');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(
      stalled.writableLength <= SPLICE_WRITE_BUFFER_BYTES + chunk.length,
      `${stalled.writableLength} bytes wait in the stalled side's buffer, above ${SPLICE_WRITE_BUFFER_BYTES} + one chunk`,
    );
    assert.ok(produced < 64, `the source produced ${produced} chunks while its peer was stalled`);
    source.destroy();
  });

  it('a side that closes after a clean end both ways leaves the other to write all it still holds', async () => {
    const chunk = Buffer.alloc(64 * 1024, 5);
    const chunks = 8;
    // `quick` sends its bytes and ends at once; its writes complete at once too, so it closes
    // as soon as the other side's end reaches it.
    const quick = new Duplex({
      read() {
        for (let i = 0; i < chunks; i++) this.push(chunk);
        this.push(null);
      },
      write: (_chunk, _encoding, callback) => callback(),
    });
    // `slow` ends its own reads at once but takes a while over each write (a reader behind a
    // small flow-control window): it still holds most of quick's bytes when quick closes.
    let written = 0;
    const slow = new Duplex({
      read() {
        this.push(null);
      },
      write(data: Buffer, _encoding, callback) {
        setTimeout(() => {
          written += data.length;
          callback();
        }, 5);
      },
    });
    let quickClosed = false;
    quick.once('close', () => (quickClosed = true));
    const done = new Promise<Error | undefined>((resolve) => splice(quick, slow, (error) => resolve(error)));
    await waitUntil(() => quickClosed, 5000, 'the quick side to close');
    assert.ok(written < chunk.length * chunks, `the slow side had written ${written} bytes when the quick side closed`);
    assert.equal(await within(10_000, 'the splice to finish', done), undefined, 'a clean finish');
    assert.equal(written, chunk.length * chunks, 'the slow side wrote every byte before the pair was torn down');
  });

  it('carries a storm of streams of random sizes both ways through the tunnel, every byte in order', async () => {
    // Twelve streams at once, each moving up to 12 MB both ways, on every Node.js version. On
    // Node.js 22 they stalled for good before CHANNEL_READ_HIGH_WATER_BYTES outgrew the mux's
    // connection window (src/limits.ts), and lost their tails before splice let the second side
    // finish its writes.
    // The client side splices each local connection to its stream.
    const tunnel = await startEchoTunnel();
    try {
      const carried = await echoStorm(tunnel.port, 12, 60_000);
      assert.equal(carried.length, 12, 'twelve streams came back whole');
    } finally {
      await tunnel.close();
    }
  });
});
