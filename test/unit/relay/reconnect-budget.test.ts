/**
 * ReconnectBudget: new sockets per minute of each side of an established session
 * (docs/design.md §8.1).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReconnectBudget } from '../../../src/relay/reconnect-budget.js';

describe('ReconnectBudget', () => {
  it('each side has its own budget per one-minute window; a new window starts afresh; an ended session is forgotten', () => {
    let now = 0;
    const budget = new ReconnectBudget({ perMinute: 3, capacity: 100, now: () => now });
    for (let i = 0; i < 3; i++) assert.equal(budget.spend('s', 'client'), true, `client ${i}`);
    assert.equal(budget.spend('s', 'client'), false, 'the fourth in the minute');
    assert.equal(budget.spend('s', 'agent'), true, 'the agent has its own budget');
    now += 59_999;
    assert.equal(budget.spend('s', 'client'), false, 'still the same minute');
    now += 1;
    assert.equal(budget.spend('s', 'client'), true, 'a new minute');
    budget.forget('s');
    assert.equal(budget.size, 0);
  });

  it('Security: a flood over many sessions keeps at most `capacity` sides in the table', () => {
    let now = 0;
    const budget = new ReconnectBudget({ perMinute: 5, capacity: 50, now: () => now });
    for (let i = 0; i < 5_000; i++) {
      now += 1;
      budget.spend(`s${i}`, i % 2 === 0 ? 'agent' : 'client');
      assert.ok(budget.size <= 50, `side ${i}: ${budget.size}`);
    }
  });
});
