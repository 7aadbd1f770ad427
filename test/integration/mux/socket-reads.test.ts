/**
 * SocketReads (src/mux/socket-reads.ts): large reads through `onread` with a read buffer used
 * again only after what it held was copied out. Tries to break it the way a reused buffer
 * breaks: chunks kept by the reader until the end must still hold exactly what was sent, and no
 * two chunks may share memory.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { tcpTargetHandler } from '../../../src/agent/tcp-targets.js';
import { MuxClient, MuxServer } from '../../../src/mux/index.js';
import { SocketReads } from '../../../src/mux/socket-reads.js';
import { pairResumable } from '../../helpers/resumable-pair.js';
import { waitUntil, within } from '../../helpers/wait-until.js';

const READ_BYTES = 64 * 1024;

/** Send `data` in writes of random sizes, some with a pause so the reader sees small reads too. */
async function sendInPieces(socket: Socket, data: Buffer): Promise<void> {
  for (let offset = 0, piece = 0; offset < data.length; piece++) {
    const size = Math.min(data.length - offset, piece % 3 === 0 ? randomInt(1, 200) : randomInt(1, 3 * READ_BYTES));
    if (!socket.write(data.subarray(offset, offset + size))) await new Promise((resolve) => socket.once('drain', resolve));
    offset += size;
    if (piece % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  socket.end();
}

/**
 * Serve `data` in pieces (sendInPieces) on 127.0.0.1 and read it through `reads` until the end;
 * `onConnected` gets the reading socket before the first chunk. Server and socket are closed.
 */
async function readThrough(data: Buffer, reads: SocketReads, onConnected: (socket: Socket) => void = () => undefined): Promise<void> {
  const server = createServer((socket) => void sendInPieces(socket, data));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const socket = connect({ host: '127.0.0.1', port, onread: reads.onread });
  onConnected(socket);
  try {
    await within(60_000, 'the whole transfer', new Promise((resolve, reject) => {
      socket.once('end', resolve);
      socket.once('error', reject);
    }));
  } finally {
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('socket reads', () => {
  it('chunks kept until the end hold exactly what was sent, and never share memory', async () => {
    const data = randomBytes(6 * 1024 * 1024);
    const reads = new SocketReads(READ_BYTES);
    const chunks: Buffer[] = [];
    reads.attach((chunk) => chunks.push(chunk));
    await readThrough(data, reads);
    // Every chunk was kept while later reads went on: any reuse of its memory would show here.
    assert.ok(Buffer.concat(chunks).equals(data), 'the bytes kept are the bytes sent, in order');
    assert.ok(chunks.some((chunk) => chunk.length * 2 >= READ_BYTES), 'some reads were large (handed on)');
    assert.ok(chunks.some((chunk) => chunk.length * 2 < READ_BYTES), 'some reads were small (copied out)');
    const byMemory = new Map<ArrayBufferLike, Array<[number, number]>>();
    for (const chunk of chunks) {
      const ranges = byMemory.get(chunk.buffer) ?? [];
      const start = chunk.byteOffset;
      const end = start + chunk.length;
      for (const [otherStart, otherEnd] of ranges) {
        assert.ok(end <= otherStart || start >= otherEnd, `two chunks share bytes ${Math.max(start, otherStart)}..${Math.min(end, otherEnd)} of one buffer`);
      }
      ranges.push([start, end]);
      byMemory.set(chunk.buffer, ranges);
    }
  });

  it('a paused socket reads no more until it is resumed', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const reads = new SocketReads(READ_BYTES);
    let received = 0;
    let whilePaused = 0;
    let paused = false;
    let socket: Socket | undefined;
    reads.attach((chunk) => {
      received += chunk.length;
      if (paused) whilePaused += chunk.length;
      if (!paused && received >= data.length / 4) {
        paused = true;
        socket?.pause();
        setTimeout(() => {
          paused = false;
          socket?.resume();
        }, 300);
      }
    });
    await readThrough(data, reads, (reading) => (socket = reading));
    assert.equal(received, data.length);
    assert.equal(whilePaused, 0, 'no chunk was delivered while the socket was paused');
  });

  it('records sealed from reused read buffers are retransmitted exactly after a resume', async () => {
    // A target that sends 8 MiB in pieces of random sizes: the agent reads it with SocketReads.
    const data = randomBytes(8 * 1024 * 1024);
    const target = createServer((socket) => void sendInPieces(socket, data));
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const port = (target.address() as AddressInfo).port;
    const { relay, agent, client } = await pairResumable();
    const server = new MuxServer(agent, { targets: new Map([['source', tcpTargetHandler({ name: 'source', host: '127.0.0.1', port })]]) });
    const mux = new MuxClient(client);
    try {
      const stream = await mux.openStream('source');
      const chunks: Buffer[] = [];
      let received = 0;
      stream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
      });
      const ended = new Promise((resolve) => stream.once('end', resolve));
      // Cut the agent's carrier mid-transfer: records sealed and not yet acknowledged are sent again.
      await waitUntil(() => received >= 1024 * 1024, 30_000, 'the first MiB');
      relay.cut('agent');
      const info = await within(10_000, 'the resume', agent.resume(relay.connect('agent')));
      await within(60_000, 'the rest of the transfer', ended);
      assert.ok(Buffer.concat(chunks).equals(data), `the bytes received are the bytes sent (${info.retransmitted} records retransmitted)`);
    } finally {
      mux.close();
      server.close();
      agent.close();
      client.close();
      await new Promise((resolve) => target.close(resolve));
    }
  });
});
