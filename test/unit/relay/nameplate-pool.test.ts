/** NameplatePool: always the lowest free nameplate >= 1 (DESIGN §3). */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { NameplatePool } from '../../../src/relay/nameplate-pool.js';

describe('NameplatePool', { timeout: 60_000 }, () => {
  it('hands out 1, 2, 3... and reuses the lowest released number first', () => {
    const pool = new NameplatePool(100);
    assert.deepEqual([pool.allocate(), pool.allocate(), pool.allocate(), pool.allocate()], [1, 2, 3, 4]);
    pool.release(3);
    pool.release(2);
    assert.equal(pool.allocate(), 2);
    assert.equal(pool.allocate(), 3);
    assert.equal(pool.allocate(), 5);
    assert.equal(pool.size, 5);
  });

  it('matches a reference model over random allocate/release sequences', () => {
    const pool = new NameplatePool(10_000);
    const used = new Set<number>();
    for (let step = 0; step < 20_000; step++) {
      if (used.size > 0 && randomInt(3) === 0) {
        const victim = [...used][randomInt(used.size)] as number;
        pool.release(victim);
        used.delete(victim);
      } else {
        let lowest = 1;
        while (used.has(lowest)) lowest++;
        assert.equal(pool.allocate(), lowest, `step ${step}`);
        used.add(lowest);
      }
    }
  });

  it('returns undefined when every number up to the maximum is taken', () => {
    const pool = new NameplatePool(2);
    pool.allocate();
    pool.allocate();
    assert.equal(pool.allocate(), undefined);
    pool.release(1);
    assert.equal(pool.allocate(), 1);
  });

  it('throws on releasing a nameplate that is not in use (a bug, never silent)', () => {
    const pool = new NameplatePool(10);
    assert.throws(() => pool.release(1), /not in use/);
    pool.allocate();
    pool.release(1);
    assert.throws(() => pool.release(1), /not in use/);
  });
});
