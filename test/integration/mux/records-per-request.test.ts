/**
 * One record per small request and per answer (docs/performance.md "Added latency, sixth pass"):
 * a request written whole by a local client crosses LocalListener → splice → HTTP/2 → the secure
 * channel as one sealed message, and its answer comes back as one, however the layers in between
 * hand the bytes on (a cork, a writev of a frame header and its payload). ACK records (25 bytes,
 * docs/protocol.md §7.1) come on their own schedule and are counted apart.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { MemoryTransport } from '../../../src/channel/index.js';
import type { OutgoingFrame } from '../../../src/channel/transport.js';
import { outgoingFrameLength } from '../../../src/channel/transport.js';
import { startEchoTunnel } from '../../helpers/echo-tunnel.js';
import { within } from '../../helpers/wait-until.js';

const REQUESTS = 200;
const REQUEST_BYTES = 300;
/** An ACK record's frame: 1 + 8 + 16 (docs/protocol.md §7.1). */
const ACK_FRAME_BYTES = 25;

/** The lengths of the messages each side sends, from the moment `counting` is set. */
function countingPair(): { transports: ReturnType<typeof MemoryTransport.pair>; sent: { agent: number[]; client: number[] }; start: () => void } {
  const transports = MemoryTransport.pair({ highWaterMark: 4 * 1024 * 1024 });
  const sent = { agent: [] as number[], client: [] as number[] };
  let counting = false;
  const sides = [
    [transports[0], sent.agent],
    [transports[1], sent.client],
  ] as const;
  for (const [transport, lengths] of sides) {
    const send = transport.send.bind(transport);
    transport.send = (frame: OutgoingFrame): boolean => {
      if (counting) lengths.push(outgoingFrameLength(frame));
      return send(frame);
    };
  }
  return { transports, sent, start: () => (counting = true) };
}

describe('records per request', () => {
  it('a small request and its answer cross the channel as one record each way', async () => {
    const { transports, sent, start } = countingPair();
    const tunnel = await startEchoTunnel(transports);
    const socket = connect(tunnel.port, '127.0.0.1');
    socket.setNoDelay(true);
    try {
      await within(5000, 'the local connection', once(socket, 'connect'));
      // One request in flight at a time, each answered in full before the next (the latency workload's shape).
      const roundTrip = async (request: Buffer): Promise<void> => {
        let received = 0;
        const answered = new Promise<void>((resolve) => {
          const onData = (chunk: Buffer): void => {
            received += chunk.length;
            if (received >= request.length) {
              socket.off('data', onData);
              resolve();
            }
          };
          socket.on('data', onData);
        });
        socket.write(request);
        await within(5000, 'the echo of a request', answered);
      };
      // The stream's opening (HEADERS, SETTINGS) is done before counting starts.
      await roundTrip(Buffer.alloc(REQUEST_BYTES, 1));
      start();
      for (let i = 0; i < REQUESTS; i++) await roundTrip(Buffer.alloc(REQUEST_BYTES, i % 251));
      for (const side of ['client', 'agent'] as const) {
        const records = sent[side].filter((length) => length !== ACK_FRAME_BYTES);
        const carrying = records.filter((length) => length > REQUEST_BYTES);
        assert.equal(carrying.length, REQUESTS, `${side}: one record carried each of the ${REQUESTS} ${side === 'client' ? 'requests' : 'answers'} (lengths seen: ${[...new Set(sent[side])].join(', ')})`);
        // Anything else (an HTTP/2 WINDOW_UPDATE) is rare, not one per request.
        assert.ok(records.length - carrying.length <= REQUESTS / 20, `${side}: ${records.length - carrying.length} other records in ${REQUESTS} requests`);
      }
    } finally {
      socket.destroy();
      await tunnel.close();
    }
  });
});
