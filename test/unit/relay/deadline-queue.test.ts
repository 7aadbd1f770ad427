/**
 * DeadlineQueue (src/relay/deadline-queue.ts): many deadlines on one timer, each fired once, no
 * earlier than its due time and no later than a timer of its own would fire it, moved and removed
 * anywhere in the queue. Time is node:test's mock clock, so every bound is exact.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { DeadlineQueue, NOT_QUEUED } from '../../../src/relay/deadline-queue.js';
import type { Deadlined } from '../../../src/relay/deadline-queue.js';

const START = 1_000_000;

class Item implements Deadlined {
  deadlineSlot = NOT_QUEUED;
  firedAt: number | undefined;
  fired = 0;
  constructor(readonly name: string) {}
}

/** A queue that records when each item fired; `then` runs inside the callback. */
function recordingQueue(then?: (item: Item, queue: DeadlineQueue<Item>) => void): { queue: DeadlineQueue<Item>; order: string[] } {
  const order: string[] = [];
  const queue: DeadlineQueue<Item> = new DeadlineQueue<Item>((item) => {
    item.fired++;
    item.firedAt = Date.now();
    order.push(item.name);
    then?.(item, queue);
  });
  return { queue, order };
}

/**
 * Move the mock clock `ms` forward in 1 ms steps: within one `tick`, node:test's clock already
 * reads the end of the tick when the timers due in it run, so only 1 ms steps show exact times.
 */
function advance(ms: number): void {
  for (let moved = 0; moved < ms; moved++) mock.timers.tick(1);
}

/** A deterministic stream of numbers in [0, 1) (no Math.random in tests: failures replay). */
function numbers(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('DeadlineQueue (mock clock)', () => {
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: START });
  });
  afterEach(() => {
    mock.timers.reset();
  });

  it('fires each deadline once, at its due time, in order, with one timer armed only while anything is queued', () => {
    const { queue, order } = recordingQueue();
    const items = ['c', 'a', 'b'].map((name) => new Item(name));
    const dueOf: Record<string, number> = { a: 100, b: 200, c: 300 };
    for (const item of items) queue.set(item, START + dueOf[item.name]!);
    assert.equal(queue.size, 3);
    assert.equal(queue.armed, true);
    advance(99);
    assert.deepEqual(order, [], 'nothing before its due time');
    advance(1_000);
    assert.deepEqual(order, ['a', 'b', 'c']);
    for (const item of items) {
      assert.equal(item.firedAt, START + dueOf[item.name]!, `${item.name} fired at its due time`);
      assert.equal(item.fired, 1);
      assert.equal(item.deadlineSlot, NOT_QUEUED);
    }
    assert.equal(queue.armed, false, 'no timer once empty');
  });

  it('moves a deadline earlier or later and forgets a deleted one, wherever it sits', () => {
    const { queue, order } = recordingQueue();
    const items = Array.from({ length: 8 }, (_, i) => new Item(`i${i}`));
    items.forEach((item, i) => queue.set(item, START + 100 * (i + 1)));
    queue.set(items[0]!, START + 1_000); // the head moves last
    queue.set(items[7]!, START + 50); // the last moves first
    queue.delete(items[3]!);
    queue.delete(items[3]!); // twice is harmless
    advance(2_000);
    assert.deepEqual(order, ['i7', 'i1', 'i2', 'i4', 'i5', 'i6', 'i0']);
    assert.equal(items[0]!.firedAt, START + 1_000, 'a deadline moved later fires then, not at its old time');
    assert.equal(items[7]!.firedAt, START + 50);
    assert.equal(items[3]!.fired, 0, 'a deleted deadline never fires');
  });

  it('a deadline set from inside a callback never delays one already queued', () => {
    const late = new Item('late');
    const { queue, order } = recordingQueue((item, q) => {
      if (item.name === 'first') q.set(late, START + 5_000);
    });
    queue.set(new Item('first'), START + 100);
    const second = new Item('second');
    queue.set(second, START + 200);
    advance(10_000);
    assert.deepEqual(order, ['first', 'second', 'late']);
    assert.equal(second.firedAt, START + 200);
    assert.equal(late.firedAt, START + 5_000);
  });

  it('clear() forgets every deadline and the timer', () => {
    const { queue, order } = recordingQueue();
    const items = [new Item('a'), new Item('b')];
    queue.set(items[0]!, START + 10);
    queue.set(items[1]!, START + 20);
    queue.clear();
    assert.equal(queue.armed, false);
    assert.equal(queue.size, 0);
    assert.ok(items.every((item) => item.deadlineSlot === NOT_QUEUED));
    mock.timers.tick(100);
    assert.deepEqual(order, []);
  });

  it('a deadline further away than setTimeout can wait (24.8 days) fires then, not at once', () => {
    const { queue, order } = recordingQueue();
    const far = new Item('far');
    const dueAt = START + 40 * 24 * 3_600_000;
    queue.set(far, dueAt);
    mock.timers.tick(2 ** 31 - 1);
    assert.deepEqual(order, [], 'still waiting after the longest timer');
    mock.timers.tick(dueAt - START - (2 ** 31 - 1));
    assert.deepEqual(order, ['far']);
    assert.equal(far.firedAt, dueAt);
  });

  describe('Security: a storm of deadlines', () => {
    it('10,000 deadlines set, moved and deleted at random each fire once, on time, in order of due time', () => {
      const random = numbers(15);
      const { queue, order } = recordingQueue();
      const items = Array.from({ length: 10_000 }, (_, i) => new Item(String(i)));
      const due = new Map<Item, number>();
      for (const item of items) {
        const at = START + 1 + Math.floor(random() * 60_000);
        queue.set(item, at);
        due.set(item, at);
      }
      for (let i = 0; i < 3_000; i++) {
        const item = items[Math.floor(random() * items.length)]!;
        if (random() < 0.5) {
          queue.delete(item);
          due.delete(item);
        } else {
          const at = START + 1 + Math.floor(random() * 60_000);
          queue.set(item, at);
          due.set(item, at);
        }
      }
      advance(60_002);
      const wrong = items.filter((item) => (due.has(item) ? item.fired !== 1 || item.firedAt !== due.get(item) : item.fired !== 0));
      assert.deepEqual(
        wrong.slice(0, 5).map((item) => `${item.name}: fired ${item.fired}× at ${item.firedAt} for ${due.get(item)}`),
        [],
      );
      assert.equal(order.length, due.size);
      const times = order.map((name) => due.get(items[Number(name)]!)!);
      assert.ok(
        times.every((at, i) => i === 0 || times[i - 1]! <= at),
        'fired in order of due time',
      );
      assert.equal(queue.size, 0);
      assert.equal(queue.armed, false);
    });
  });
});
