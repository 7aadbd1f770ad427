/** EndedSessions: why a session ended here, remembered for a bounded time and count (docs/design.md §8.1). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndedSessions, endedReasonText } from '../../../src/relay/ended-sessions.js';

describe('EndedSessions', () => {
  it('remembers the first reason of an end until rememberMs passed', () => {
    let now = 1_000;
    const ended = new EndedSessions({ capacity: 10, rememberMs: 500, now: () => now });
    ended.remember('a', 'resume_expired');
    ended.remember('a', 'client_left');
    assert.equal(ended.reasonOf('a'), 'resume_expired');
    assert.equal(ended.reasonOf('b'), undefined);
    now += 499;
    assert.equal(ended.reasonOf('a'), 'resume_expired');
    now += 1;
    assert.equal(ended.reasonOf('a'), undefined);
    assert.equal(ended.size, 0, 'pruned, no timer needed');
    assert.equal(endedReasonText('resume_expired'), 'its resume window closed before this side came back');
  });

  it('Security: a churn of ended sessions keeps at most `capacity` (the oldest is forgotten first)', () => {
    let now = 0;
    const ended = new EndedSessions({ capacity: 100, rememberMs: 60_000, now: () => now });
    for (let i = 0; i < 10_000; i++) {
      now++;
      ended.remember(`s${i}`, 'agent_left');
      assert.ok(ended.size <= 100, `entry ${i}: ${ended.size}`);
    }
    assert.equal(ended.reasonOf('s9999'), 'agent_left');
    assert.equal(ended.reasonOf('s9900'), 'agent_left');
    assert.equal(ended.reasonOf('s9899'), undefined);
  });
});
