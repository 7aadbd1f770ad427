/**
 * NameplatePool: the lowest free nameplate >= 1 that is not in quarantine (docs/design.md §3), with
 * a bounded quarantine, on a fake clock.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { NameplatePool } from '../../../src/relay/nameplate-pool.js';

const MINUTE = 60_000;

/** A pool without quarantine (reused at once), as before quarantine existed. */
const immediate = (max: number): NameplatePool => new NameplatePool({ max, quarantineMs: 0, quarantineCapacity: 0 });

describe('NameplatePool', { timeout: 60_000 }, () => {
  it('hands out 1, 2, 3... and, without quarantine, reuses the lowest released number first', () => {
    const pool = immediate(100);
    assert.deepEqual([pool.allocate(0), pool.allocate(0), pool.allocate(0), pool.allocate(0)], [1, 2, 3, 4]);
    pool.release(3, 0);
    pool.release(2, 0);
    assert.equal(pool.allocate(0), 2);
    assert.equal(pool.allocate(0), 3);
    assert.equal(pool.allocate(0), 5);
    assert.equal(pool.size, 5);
  });

  it('without quarantine, matches a reference model over random allocate/release sequences', () => {
    const pool = immediate(10_000);
    const used = new Set<number>();
    for (let step = 0; step < 20_000; step++) {
      if (used.size > 0 && randomInt(3) === 0) {
        const victim = [...used][randomInt(used.size)] as number;
        pool.release(victim, 0);
        used.delete(victim);
      } else {
        let lowest = 1;
        while (used.has(lowest)) lowest++;
        assert.equal(pool.allocate(0), lowest, `step ${step}`);
        used.add(lowest);
      }
    }
  });

  it('returns undefined when every number up to the maximum is in use', () => {
    const pool = immediate(2);
    pool.allocate(0);
    pool.allocate(0);
    assert.equal(pool.allocate(0), undefined);
    pool.release(1, 0);
    assert.equal(pool.allocate(0), 1);
  });

  it('throws on releasing a nameplate that is not in use (a bug, never silent)', () => {
    const pool = new NameplatePool({ max: 10, quarantineMs: MINUTE, quarantineCapacity: 10 });
    assert.throws(() => pool.release(1, 0), /not in use/);
    pool.allocate(0);
    pool.release(1, 0);
    assert.throws(() => pool.release(1, 0), /not in use/, 'a quarantined nameplate is not in use');
  });

  it('a released nameplate is quarantined: the lowest number not in quarantine goes out, and it returns after the quarantine', () => {
    const pool = new NameplatePool({ max: 100, quarantineMs: 10 * MINUTE, quarantineCapacity: 100 });
    let now = 1_000_000;
    assert.deepEqual([pool.allocate(now), pool.allocate(now), pool.allocate(now)], [1, 2, 3]);
    pool.release(1, now); // session 1 expired
    now += MINUTE; // a minute later, someone types the stale code "1-..."
    assert.equal(pool.allocate(now), 4, 'nameplate 1 is in quarantine: the next session gets 4, not 1');
    pool.release(2, now);
    now += 9 * MINUTE - 1;
    assert.equal(pool.allocate(now), 5, 'one millisecond before the end of its quarantine, 1 is still out of use');
    now += 1;
    assert.equal(pool.allocate(now), 1, 'the quarantine of 1 is over: the lowest free number again');
    assert.equal(pool.allocate(now), 6, '2 was released a minute after 1 and is still quarantined');
    now += MINUTE;
    assert.equal(pool.allocate(now), 2);
    assert.equal(pool.quarantined, 0);
  });

  it('matches a reference model with quarantine over random allocate/release/clock sequences', () => {
    const quarantineMs = 5_000;
    const pool = new NameplatePool({ max: 100_000, quarantineMs, quarantineCapacity: 100_000 });
    const used = new Set<number>();
    const releasedAt = new Map<number, number>();
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      now += randomInt(200);
      if (used.size > 0 && randomInt(2) === 0) {
        const victim = [...used][randomInt(used.size)] as number;
        pool.release(victim, now);
        used.delete(victim);
        releasedAt.set(victim, now);
      } else {
        let lowest = 1;
        for (;;) {
          const released = releasedAt.get(lowest);
          if (!used.has(lowest) && (released === undefined || now - released >= quarantineMs)) break;
          lowest++;
        }
        assert.equal(pool.allocate(now), lowest, `step ${step} at ${now} ms`);
        used.add(lowest);
        releasedAt.delete(lowest);
      }
    }
  });

  it('Security: under a churn of 20,000 sessions the quarantine stays within its capacity and nameplates within peak + capacity + 1', () => {
    const capacity = 500;
    const pool = new NameplatePool({ max: 9_999_999, quarantineMs: 10 * MINUTE, quarantineCapacity: capacity });
    const live: number[] = [];
    const liveAtPeak = 50;
    const now = 0;
    // An attacker with an agent token creating and ending sessions as fast as it can: no time passes.
    for (let cycle = 0; cycle < 20_000; cycle++) {
      const nameplate = pool.allocate(now);
      assert.ok(nameplate !== undefined, `cycle ${cycle}`);
      live.push(nameplate);
      if (live.length > liveAtPeak) pool.release(live.splice(randomInt(live.length), 1)[0] as number, now);
      assert.ok(pool.quarantined <= capacity, `cycle ${cycle}: ${pool.quarantined} quarantined`);
    }
    assert.ok(pool.highest <= liveAtPeak + 1 + capacity + 1, `highest nameplate ${pool.highest}`);
    assert.ok(pool.tracked <= pool.highest, `the pool tracks ${pool.tracked} numbers, each at most once`);
  });

  it('normal load keeps nameplates short: a session every 6 s, each living 2 min, for a simulated day', () => {
    const quarantineMs = 10 * MINUTE;
    const pool = new NameplatePool({ max: 9_999_999, quarantineMs, quarantineCapacity: 10_000 });
    const everyMs = 6_000;
    const lifetimeMs = 2 * MINUTE;
    const live: Array<{ nameplate: number; endsAt: number }> = [];
    for (let now = 0; now < 24 * 60 * MINUTE; now += everyMs) {
      while (live.length > 0 && (live[0]?.endsAt ?? Infinity) <= now) pool.release((live.shift() as { nameplate: number }).nameplate, now);
      const nameplate = pool.allocate(now);
      assert.ok(nameplate !== undefined);
      live.push({ nameplate, endsAt: now + lifetimeMs });
    }
    // At most lifetime/every sessions live and quarantine/every quarantined at any time.
    const bound = lifetimeMs / everyMs + quarantineMs / everyMs + 1;
    assert.ok(pool.highest <= bound, `highest nameplate ${pool.highest}, bound ${bound}: three digits, not the 14,400 sessions of the day`);
  });

  it('when every number is in use or quarantined, the oldest quarantined one goes out rather than no session', () => {
    const pool = new NameplatePool({ max: 3, quarantineMs: 10 * MINUTE, quarantineCapacity: 10 });
    const now = 0;
    assert.deepEqual([pool.allocate(now), pool.allocate(now), pool.allocate(now)], [1, 2, 3]);
    pool.release(2, now);
    pool.release(1, now + 1);
    assert.equal(pool.allocate(now + 2), 2, 'the oldest quarantined');
    assert.equal(pool.allocate(now + 2), 1);
    assert.equal(pool.allocate(now + 2), undefined, 'all three in use');
  });
});
