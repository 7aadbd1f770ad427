/**
 * holdWrites (src/mux/turn-batch.ts): what is written after it leaves in one batch when the
 * event-loop iteration ends or `release` runs, whichever is first; nothing is held longer.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextIteration } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { holdWrites } from '../../../src/mux/turn-batch.js';

/** A sink that records each batch it was handed (one `writev`, or one `write`). */
function batchSink(): { sink: Writable; batches: string[][] } {
  const batches: string[][] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      batches.push([chunk.toString()]);
      callback();
    },
    writev(chunks, callback) {
      batches.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()));
      callback();
    },
  });
  return { sink, batches };
}

describe('holdWrites', () => {
  it('a head written alone leaves at the end of the event-loop iteration', async () => {
    const { sink, batches } = batchSink();
    holdWrites(sink);
    sink.write('head');
    await Promise.resolve();
    assert.deepEqual(batches, [], 'held through the turn');
    await nextIteration();
    assert.deepEqual(batches, [['head']]);
  });

  it('pieces written in later turns of the same iteration leave with the head, in one batch', async () => {
    const { sink, batches } = batchSink();
    holdWrites(sink);
    sink.write('head');
    await new Promise<void>((resolve) => process.nextTick(resolve));
    sink.write('body 1');
    await Promise.resolve();
    sink.write('body 2');
    await nextIteration();
    assert.deepEqual(batches, [['head', 'body 1', 'body 2']]);
  });

  it('release lets the held writes go at once, and is harmless twice and after the iteration', async () => {
    const { sink, batches } = batchSink();
    const release = holdWrites(sink);
    sink.write('head');
    sink.write('end');
    release();
    assert.deepEqual(batches, [['head', 'end']]);
    release();
    await nextIteration();
    sink.write('later');
    assert.deepEqual(batches, [['head', 'end'], ['later']], 'the sink is not left corked');
    assert.equal(sink.writableCorked, 0);
  });
});
