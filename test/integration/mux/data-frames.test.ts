/**
 * HTTP/2 DATA frame sizes on the tunnel (docs/performance.md, "Larger HTTP/2 frames on the
 * tunnel"). Node's HTTP/2 never sends a DATA frame larger than 16 KiB, whatever
 * SETTINGS_MAX_FRAME_SIZE the peer advertises (nghttp2 asks for more only through a
 * data_source_read_length_callback, which Node does not set), so the mux advertises no larger
 * frame size and batches frames into records instead: a bulk write leaves the agent as one MUX
 * record of many 16 KiB frames. If a Node release starts sending larger frames, the first test
 * fails and the mux settings are worth revisiting.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as http2Connect, constants as http2Constants, createServer as createHttp2Server } from 'node:http2';
import { createServer as createTcpServer, connect as tcpConnect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import type { TargetHandler } from '../../../src/mux/index.js';
import { MuxClient, MuxServer } from '../../../src/mux/index.js';
import { SOCKET_READ_BYTES } from '../../../src/limits.js';
import { pairedChannels, within } from '../../helpers/channel-pair.js';

/** RFC 9113 §4.2: the frame size every peer must accept, and the largest one a peer may allow. */
const DEFAULT_MAX_FRAME_BYTES = 16_384;
const LARGEST_MAX_FRAME_BYTES = 2 ** 24 - 1;
const FRAME_HEADER_BYTES = 9;
const DATA = 0x0;

/**
 * Reads an HTTP/2 byte stream (without the client preface) as it comes, in pieces of any size,
 * and keeps the payload length of every DATA frame. Each piece's work is bounded by its length.
 */
class DataFrameTap {
  readonly dataPayloads: number[] = [];
  #pending: Buffer = Buffer.alloc(0);

  push(piece: Buffer): void {
    let bytes = this.#pending.length === 0 ? piece : Buffer.concat([this.#pending, piece]);
    while (bytes.length >= FRAME_HEADER_BYTES) {
      const length = bytes.readUIntBE(0, 3);
      if (bytes.length < FRAME_HEADER_BYTES + length) break;
      if (bytes[3] === DATA) this.dataPayloads.push(length);
      bytes = bytes.subarray(FRAME_HEADER_BYTES + length);
    }
    this.#pending = Buffer.from(bytes);
  }
}

/**
 * A loopback HTTP/2 server (with `paddingStrategy`) answering one request with `body`, reached
 * through a TCP proxy that taps the server's bytes; the client advertises the largest frame size
 * RFC 9113 allows. Resolves with the DATA payload sizes the server sent. Everything is closed.
 */
async function dataFramesSent(body: Buffer, paddingStrategy: number): Promise<number[]> {
  const server = createHttp2Server({ paddingStrategy });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tap = new DataFrameTap();
  const sockets: Socket[] = [];
  const proxy = createTcpServer((downstream) => {
    const upstream = tcpConnect((server.address() as AddressInfo).port, '127.0.0.1');
    sockets.push(downstream, upstream);
    downstream.pipe(upstream);
    upstream.on('data', (piece: Buffer) => tap.push(piece));
    upstream.pipe(downstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const client = http2Connect(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, {
    settings: { maxFrameSize: LARGEST_MAX_FRAME_BYTES, initialWindowSize: 8 * 1024 * 1024 },
  });
  try {
    const request = client.request({ ':path': '/' });
    request.end();
    let received = 0;
    request.on('data', (chunk: Buffer) => (received += chunk.length));
    await within(once(request, 'end'), 10_000, `the response (padding strategy ${paddingStrategy})`);
    assert.equal(received, body.length, 'the whole body arrived');
    return tap.dataPayloads;
  } finally {
    client.destroy();
    for (const socket of sockets) socket.destroy();
    proxy.close();
    server.close();
  }
}

async function readAll(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(stream, 'end');
  return Buffer.concat(chunks);
}

describe('mux: HTTP/2 DATA frames on the tunnel', () => {
  it('Node sends DATA frames of at most 16 KiB even to a peer that allows 16 MiB, under every padding strategy', async () => {
    const body = randomBytes(1024 * 1024);
    // PADDING_STRATEGY_ALIGNED is in Node's constants but not in @types/node.
    const aligned = (http2Constants as unknown as Record<string, unknown>)['PADDING_STRATEGY_ALIGNED'];
    assert.equal(typeof aligned, 'number', 'Node names PADDING_STRATEGY_ALIGNED');
    const strategies = {
      none: http2Constants.PADDING_STRATEGY_NONE,
      aligned: aligned as number,
      max: http2Constants.PADDING_STRATEGY_MAX,
    };
    for (const [name, strategy] of Object.entries(strategies)) {
      const payloads = await dataFramesSent(body, strategy);
      // Padding counts in a DATA frame's length, so a padded frame could only be longer.
      const total = payloads.reduce((sum, n) => sum + n, 0);
      assert.ok(total >= body.length, `${name}: the tap saw the whole body in DATA frames (${total} bytes)`);
      assert.ok(payloads.length >= body.length / DEFAULT_MAX_FRAME_BYTES, `${name}: ${payloads.length} DATA frames`);
      assert.equal(Math.max(...payloads), DEFAULT_MAX_FRAME_BYTES, `${name}: the largest DATA frame is the 16 KiB default`);
    }
  });

  it('a full read of a target (SOCKET_READ_BYTES) crosses as one MUX record of 16 KiB DATA frames', async () => {
    const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
    const payload = randomBytes(SOCKET_READ_BYTES);
    // The target answers with one write of a full read, as src/agent/tcp-targets.ts hands it on.
    const target: TargetHandler = (stream) => {
      stream.once('data', () => stream.end(payload));
    };
    const server = new MuxServer(agent, { targets: new Map([['bulk', target]]) });
    const mux = new MuxClient(client);
    // Each chunk `client.mux` delivers is one record's body (SecureChannel pushes them whole).
    const records: number[] = [];
    const tap = new DataFrameTap();
    client.mux.on('data', (body: Buffer) => {
      records.push(body.length);
      tap.push(body);
    });
    try {
      const stream = await within(mux.openStream('bulk'), 5000, 'open');
      const received = readAll(stream);
      stream.write('go');
      assert.ok((await within(received, 10_000, 'the payload')).equals(payload), 'the payload arrived intact');
      const frames = Math.ceil(SOCKET_READ_BYTES / DEFAULT_MAX_FRAME_BYTES);
      assert.deepEqual(
        tap.dataPayloads.filter((n) => n > 0),
        [...Array.from({ length: frames - 1 }, () => DEFAULT_MAX_FRAME_BYTES), SOCKET_READ_BYTES - (frames - 1) * DEFAULT_MAX_FRAME_BYTES],
        'the payload came as 16 KiB DATA frames',
      );
      const largest = Math.max(...records);
      assert.ok(largest >= SOCKET_READ_BYTES + frames * FRAME_HEADER_BYTES, `one record held all ${frames} frames (largest record ${largest} bytes; records: ${records.join(', ')})`);
    } finally {
      mux.close();
      server.close();
      agent.close();
      client.close();
    }
  });
});
