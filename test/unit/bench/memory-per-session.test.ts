/**
 * memoryPerSession (bench/lib/memory-per-session.ts): the relay memory figure of issue 15 is a
 * difference of two readings; a window in which the process gave memory back is refused, so no
 * reported figure can be negative.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memoryPerSession } from '../../../bench/lib/memory-per-session.js';

const MiB = 2 ** 20;

describe('memoryPerSession', () => {
  it('divides the growth of RSS and heap by the sessions', () => {
    assert.deepEqual(memoryPerSession({ rss: 100 * MiB, heapUsed: 20 * MiB }, { rss: 120 * MiB, heapUsed: 30 * MiB }, 1_000), { rss: (20 * MiB) / 1_000, heap: (10 * MiB) / 1_000 });
  });

  it('refuses the window of the cluster run of 2026-12-07 (RSS fell 4.3 MiB while the heap grew 9.7 MiB) instead of a negative figure', () => {
    const result = memoryPerSession({ rss: 80 * MiB, heapUsed: 12 * MiB }, { rss: 80 * MiB - 4.3 * MiB, heapUsed: 12 * MiB + 9.7 * MiB }, 1_000);
    assert.ok('refused' in result, JSON.stringify(result));
    assert.match(result.refused, /returned memory/);
  });

  it('refuses a window in which RSS grew less than the heap, or the heap did not grow', () => {
    const less = memoryPerSession({ rss: 100 * MiB, heapUsed: 20 * MiB }, { rss: 101 * MiB, heapUsed: 25 * MiB }, 1_000);
    assert.ok('refused' in less, JSON.stringify(less));
    const noHeap = memoryPerSession({ rss: 100 * MiB, heapUsed: 20 * MiB }, { rss: 130 * MiB, heapUsed: 20 * MiB }, 1_000);
    assert.ok('refused' in noHeap, JSON.stringify(noHeap));
    assert.match(noHeap.refused, /did not grow/);
  });

  it('rejects a count of sessions that is not a positive integer', () => {
    for (const sessions of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => memoryPerSession({ rss: 0, heapUsed: 0 }, { rss: 1, heapUsed: 1 }, sessions), RangeError, `sessions ${sessions}`);
    }
  });
});
