/** RetainedRecords: what a sender keeps for retransmission, and what it may drop (docs/protocol.md §7.2). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetainedRecords } from '../../../src/channel/retained-records.js';

const frame = (n: number, bytes = 10): Buffer => Buffer.alloc(bytes, n);

function sendAll(queue: RetainedRecords): number[] {
  const sent: number[] = [];
  for (let f = queue.takeUnsent(); f !== undefined; f = queue.takeUnsent()) sent.push(f instanceof Uint8Array ? f[0]! : f[0]![0]!);
  return sent;
}

describe('RetainedRecords', () => {
  it('keeps every data record until acknowledged, counting bytes, and hands each over once', () => {
    const queue = new RetainedRecords();
    for (let n = 0; n < 5; n++) queue.append(frame(n, 100), false);
    assert.equal(queue.bytes, 500);
    assert.deepEqual(sendAll(queue), [0, 1, 2, 3, 4], 'sent in order');
    assert.equal(queue.takeUnsent(), undefined, 'nothing twice');
    queue.acknowledge(3);
    assert.equal(queue.first, 3);
    assert.equal(queue.length, 2);
    assert.equal(queue.bytes, 200);
    queue.acknowledge(5);
    assert.equal(queue.length, 0, 'empty once everything is acknowledged');
    assert.equal(queue.end, 5);
  });

  it('holds a frame given in pieces as those pieces, counting their bytes', () => {
    const queue = new RetainedRecords();
    const pieces = [Buffer.alloc(3, 7), Buffer.alloc(100, 8), Buffer.alloc(16, 9)];
    queue.append(pieces, false);
    queue.append(frame(1, 20), false);
    assert.equal(queue.bytes, 139);
    assert.equal(queue.takeUnsent(), pieces, 'the same pieces, not a joined copy');
    queue.acknowledge(1);
    assert.equal(queue.bytes, 20);
  });

  it('an ACK sent with no data retained is not kept; one sent behind data is, until the data is acknowledged', () => {
    const queue = new RetainedRecords();
    queue.sentAck(frame(0));
    assert.equal(queue.length, 0, 'a lone ACK is not kept');
    assert.equal(queue.first, 1);
    queue.append(frame(1), false);
    sendAll(queue);
    queue.sentAck(frame(2));
    queue.sentAck(frame(3));
    assert.equal(queue.length, 3, 'ACKs behind unacknowledged data are kept (they sit between data records)');
    queue.acknowledge(2);
    assert.equal(queue.length, 0, 'once the data is acknowledged, the sent ACKs in front are dropped');
    assert.equal(queue.first, 4);
  });

  it('an ACK between two data records stays until every record before it is acknowledged', () => {
    const queue = new RetainedRecords();
    queue.append(frame(0), false);
    sendAll(queue);
    queue.sentAck(frame(1));
    queue.append(frame(2), false);
    sendAll(queue);
    queue.acknowledge(0);
    assert.equal(queue.length, 3, 'nothing acknowledged: data, ACK, data are all kept');
    queue.acknowledge(1);
    assert.equal(queue.first, 2, 'record 0 acknowledged: the ACK now leads and is dropped');
    assert.equal(queue.length, 1, 'the data record 2 remains');
  });

  it('resumeFrom hands everything from max(count, first) to the new carrier again, dropping what the peer has', () => {
    const queue = new RetainedRecords();
    for (let n = 0; n < 6; n++) queue.append(frame(n), false);
    sendAll(queue);
    queue.resumeFrom(4);
    assert.deepEqual(sendAll(queue), [4, 5], 'from the peer count');
    queue.resumeFrom(0);
    assert.deepEqual(sendAll(queue), [4, 5], 'a count below first starts at first');
  });

  it('during a retransmission, unsent ACKs in front are not dropped (the peer expects them)', () => {
    const queue = new RetainedRecords();
    queue.append(frame(0), false);
    sendAll(queue);
    queue.sentAck(frame(1));
    queue.append(frame(2), false);
    sendAll(queue);
    queue.resumeFrom(1); // peer has record 0; the ACK at 1 must go out again, then 2
    queue.acknowledge(1);
    assert.deepEqual(sendAll(queue), [1, 2], 'the ACK is retransmitted in its slot');
  });

  it('an ACK retransmitted at the front of the queue leaves it once sent again (nothing elicits an ACK for it)', () => {
    const queue = new RetainedRecords();
    queue.append(frame(0), false);
    sendAll(queue);
    queue.sentAck(frame(1));
    queue.resumeFrom(1); // the peer has record 0 but lost the ACK at 1 with the carrier
    assert.equal(queue.length, 1, 'the ACK waits for the new carrier');
    assert.deepEqual(sendAll(queue), [1], 'it goes out in its slot');
    assert.equal(queue.length, 0, 'then nothing is retained: the peer will never acknowledge an ACK');
    assert.equal(queue.bytes, 0);
    assert.equal(queue.first, 2);
  });
});
