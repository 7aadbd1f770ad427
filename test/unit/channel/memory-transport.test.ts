/** The in-memory transport pair: order, copies, flow control, pause and close ordering. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { MemoryTransport } from '../../../src/channel/memory-transport.js';
import type { TransportCloseInfo } from '../../../src/channel/transport.js';

describe('MemoryTransport', () => {
  it('delivers messages in order, as copies, asynchronously', async () => {
    const [a, b] = MemoryTransport.pair();
    const got: number[] = [];
    b.on('message', (frame) => got.push(frame[0]!));
    const frame = Uint8Array.of(1);
    a.send(frame);
    frame[0] = 9; // a later change must not reach the peer
    a.send(Uint8Array.of(2));
    assert.deepEqual(got, [], 'nothing is delivered synchronously');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(got, [1, 2]);
  });

  it('send returns false past the high-water mark and drain follows delivery', async () => {
    const [a, b] = MemoryTransport.pair({ highWaterMark: 10 });
    b.on('message', () => undefined);
    assert.equal(a.send(new Uint8Array(6)), true);
    assert.equal(a.send(new Uint8Array(6)), false);
    await once(a, 'drain');
    assert.equal(a.bufferedAmount, 0);
  });

  it('pause holds messages and close until resume; close follows earlier messages', async () => {
    const [a, b] = MemoryTransport.pair();
    const events: string[] = [];
    b.on('message', (frame) => events.push(`m${frame[0]}`));
    b.on('close', (info: TransportCloseInfo) => events.push(`close ${info.code}`));
    b.pause();
    a.send(Uint8Array.of(1));
    a.close(4000, 'bye');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(events, [], 'paused');
    b.resume();
    await once(b, 'close');
    assert.deepEqual(events, ['m1', 'close 4000']);
    assert.ok(b.closed && a.closed);
    assert.throws(() => a.send(Uint8Array.of(3)), { code: 'KP_ERR_TRANSPORT_CLOSED' }, 'sending after close is refused');
  });
});
