/** AddressLimiter: a fixed window per address, bounded memory, no timers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressLimiter } from '../../../src/relay/address-limiter.js';

describe('AddressLimiter', { timeout: 60_000 }, () => {
  it('limits an address after max events in the window, and only that address', () => {
    const limiter = new AddressLimiter(3, 60_000, 100);
    for (let i = 0; i < 3; i++) {
      assert.equal(limiter.limited('10.0.0.1', 1_000), false, `event ${i}`);
      limiter.hit('10.0.0.1', 1_000);
    }
    assert.equal(limiter.limited('10.0.0.1', 1_000), true);
    assert.equal(limiter.limited('10.0.0.2', 1_000), false);
  });

  it('reports the first refusal of a window once', () => {
    const limiter = new AddressLimiter(1, 60_000, 100);
    assert.equal(limiter.firstRefusal('a', 0), false, 'not limited yet');
    limiter.hit('a', 0);
    assert.equal(limiter.firstRefusal('a', 1), true);
    assert.equal(limiter.firstRefusal('a', 2), false);
  });

  it('starts a new window after windowMs', () => {
    const limiter = new AddressLimiter(1, 60_000, 100);
    limiter.hit('a', 0);
    assert.equal(limiter.limited('a', 59_999), true);
    assert.equal(limiter.limited('a', 60_000), false);
  });

  it('tracks at most `capacity` addresses, forgetting the oldest', () => {
    const limiter = new AddressLimiter(1, 60_000, 3);
    for (const address of ['a', 'b', 'c', 'd']) limiter.hit(address, 0);
    assert.equal(limiter.size, 3);
    assert.equal(limiter.limited('a', 0), false, 'the oldest was forgotten');
    assert.equal(limiter.limited('d', 0), true);
  });
});
