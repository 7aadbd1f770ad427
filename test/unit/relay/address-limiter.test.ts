/** AddressLimiter (the memory FailureBudget): a fixed window per address, bounded memory, no timers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressLimiter } from '../../../src/relay/address-limiter.js';

describe('AddressLimiter', { timeout: 60_000 }, () => {
  it('limits an address after max events in the window, and only that address', async () => {
    const limiter = new AddressLimiter(3, 60_000, 100, () => 1_000);
    for (let i = 0; i < 3; i++) {
      assert.equal(await limiter.exhausted('10.0.0.1'), false, `event ${i}`);
      await limiter.spend('10.0.0.1');
    }
    assert.equal(await limiter.exhausted('10.0.0.1'), true);
    assert.equal(await limiter.exhausted('10.0.0.2'), false);
  });

  it('counts an IPv6 address by its /64 and an IPv4 address by itself', () => {
    const limiter = new AddressLimiter(2, 60_000, 100, () => 0);
    limiter.hit('2001:db8:1:2:aaaa::1');
    limiter.hit('2001:db8:1:2:bbbb:cccc:dddd:eeee');
    assert.equal(limiter.limited('2001:0db8:0001:0002::ffff'), true, 'the same /64, written long');
    assert.equal(limiter.limited('2001:db8:1:3::1'), false, 'the next /64');
    assert.equal(limiter.size, 1, 'one window for the /64');
    limiter.hit('192.0.2.1');
    assert.equal(limiter.limited('192.0.2.2'), false, 'IPv4 addresses are not grouped');
  });

  it('starts a new window after windowMs', () => {
    let now = 0;
    const limiter = new AddressLimiter(1, 60_000, 100, () => now);
    limiter.hit('a');
    now = 59_999;
    assert.equal(limiter.limited('a'), true);
    now = 60_000;
    assert.equal(limiter.limited('a'), false);
  });

  it('tracks at most `capacity` addresses, forgetting the oldest', () => {
    const limiter = new AddressLimiter(1, 60_000, 3, () => 0);
    for (const address of ['a', 'b', 'c', 'd']) limiter.hit(address);
    assert.equal(limiter.size, 3);
    assert.equal(limiter.limited('a'), false, 'the oldest was forgotten');
    assert.equal(limiter.limited('d'), true);
  });
});
