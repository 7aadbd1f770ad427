/**
 * One record per small request and per answer (docs/performance.md "Added latency, sixth pass"):
 * a request written whole by a local client crosses LocalListener → splice → HTTP/2 → the secure
 * channel as one sealed message, and its answer comes back as one, however the layers in between
 * hand the bytes on (a cork, a writev of a frame header and its payload). Records are counted
 * with the HTTP/2 frames in them (test/helpers/record-census.ts); ACK records (docs/protocol.md
 * §7.1) come on their own schedule and are counted apart.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { MemoryTransport } from '../../../src/channel/index.js';
import { startEchoTunnel } from '../../helpers/echo-tunnel.js';
import { carrying, describeRecord, watchTransports } from '../../helpers/record-census.js';
import { within } from '../../helpers/wait-until.js';

const REQUESTS = 200;
const REQUEST_BYTES = 300;

describe('records per request', () => {
  it('a small request and its answer cross the channel as one record each way', async () => {
    const transports = MemoryTransport.pair({ highWaterMark: 4 * 1024 * 1024 });
    const watch = watchTransports(transports);
    const tunnel = await startEchoTunnel(transports);
    const { census } = watch;
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
      // The stream's opening (the connection preface, HEADERS, SETTINGS) is done before the
      // census reads frames and counts.
      await roundTrip(Buffer.alloc(REQUEST_BYTES, 1));
      watch.attach(tunnel.channels);
      census.start();
      for (let i = 0; i < REQUESTS; i++) await roundTrip(Buffer.alloc(REQUEST_BYTES, i % 251));
      for (const side of ['client', 'agent'] as const) {
        const carried = carrying(census.records[side]);
        const seen = [...new Set(census.records[side].map(describeRecord))].join(', ');
        assert.equal(carried.length, REQUESTS, `${side}: one record carried each of the ${REQUESTS} ${side === 'client' ? 'requests' : 'answers'} (records seen: ${seen})`);
        // Anything else (an HTTP/2 WINDOW_UPDATE) is rare, not one per request; ACK records come on their own schedule.
        const others = census.sent[side] - census.acks[side] - carried.length;
        assert.ok(others <= REQUESTS / 20, `${side}: ${others} other records in ${REQUESTS} requests (records seen: ${seen})`);
      }
    } finally {
      socket.destroy();
      await tunnel.close();
    }
  });

  it("a plain listener sends a connection's first bytes with its CONNECT, in one record", async () => {
    const transports = MemoryTransport.pair({ highWaterMark: 4 * 1024 * 1024 });
    const watch = watchTransports(transports);
    const tunnel = await startEchoTunnel(transports);
    const { census } = watch;
    const echoOnce = async (payload: string): Promise<void> => {
      const socket = connect(tunnel.port, '127.0.0.1');
      try {
        // Written at once, as a TLS client's ClientHello is: it waits in the socket while the
        // listener checks the connection's owner.
        socket.write(payload);
        let got = '';
        await within(5000, 'the echo', new Promise<void>((resolve) => socket.on('data', (chunk: Buffer) => (got += chunk.toString()) === payload && resolve())));
      } finally {
        socket.destroy();
      }
    };
    try {
      // The connection preface and SETTINGS are done before the census reads frames.
      await echoOnce('first');
      watch.attach(tunnel.channels);
      census.start();
      for (let run = 0; run < 3; run++) {
        census.reset();
        await echoOnce(`hello ${run}`);
        const opens = census.records.client.filter((record) => record.frames.some((frame) => frame.type === 'HEADERS'));
        const described = census.records.client.map(describeRecord).join(' | ');
        assert.equal(opens.length, 1, `one CONNECT: ${described}`);
        assert.ok(
          opens[0]!.frames.some((frame) => frame.type === 'DATA' && frame.length > 0),
          `the CONNECT and the first bytes in one record: ${described}`,
        );
      }
    } finally {
      await tunnel.close();
    }
  });
});
