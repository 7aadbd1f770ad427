/**
 * The queue of requests held for the sharer (issue 14): answers by id, the timeout, the bound,
 * withdrawal, decline-all and close, and who each outcome says decided.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApprovalRequest } from '../../../src/agent/approval-queue.js';
import { ApprovalQueue } from '../../../src/agent/approval-queue.js';

function request(name: string, rules: readonly string[] = [`delete pods default/${name}`]): ApprovalRequest {
  return { session: 's', client: 'c', requestId: `r-${name}`, description: 'delete pods', tier: 3, why: 'deletion', verb: 'delete', namespace: 'default', name, rules };
}

describe('ApprovalQueue', () => {
  it('answers go to the request named by id; each outcome says who decided', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const once = queue.hold(request('a'));
    const session = queue.hold(request('b'));
    const declined = queue.hold(request('c'));
    assert.deepEqual(queue.pending.map((p) => [p.id, p.name]), [['1', 'a'], ['2', 'b'], ['3', 'c']]);
    queue.answer('2', 'session');
    queue.answer('3', 'decline');
    queue.answer('1', 'once');
    assert.deepEqual([(await once).result, (await session).result, (await declined).result], ['approved_once', 'approved_session', 'declined']);
    assert.deepEqual([(await once).decidedBy, (await session).decidedBy, (await declined).decidedBy], ['sharer', 'sharer', 'sharer']);
    assert.throws(() => queue.answer('1', 'once'), { code: 'KP_ERR_APPROVAL_UNKNOWN' }, 'an answered request cannot be answered again');
    assert.throws(() => queue.answer('99', 'decline'), { code: 'KP_ERR_APPROVAL_UNKNOWN' });
  });

  it('an unanswered request is declined after the timeout, decided by the policy', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 20 });
    const outcome = await queue.hold(request('a'));
    assert.equal(outcome.result, 'timed_out');
    assert.equal(outcome.decidedBy, 'policy');
    assert.ok(outcome.waitedMs >= 0);
    assert.equal(queue.pending.length, 0);
  });

  it('Security: over the bound a request is refused at once; withdrawn ones leave; close refuses the rest and later ones', async () => {
    const queue = new ApprovalQueue({ capacity: 2, timeoutMs: 60_000 });
    const withdraw = new AbortController();
    const first = queue.hold(request('a'), withdraw.signal);
    const second = queue.hold(request('b'));
    assert.deepEqual(await queue.hold(request('c')), { result: 'queue_full', decidedBy: 'policy', waitedMs: 0 });
    withdraw.abort();
    assert.equal((await first).result, 'withdrawn');
    assert.equal(queue.pending.length, 1);
    queue.close();
    assert.equal((await second).result, 'closed');
    assert.equal((await queue.hold(request('d'))).result, 'closed');
  });

  it('decline-all declines every waiting request; "for the session" is refused for a request without rules', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const a = queue.hold(request('a', []));
    const b = queue.hold(request('b'));
    assert.throws(() => queue.answer('1', 'session'), { code: 'KP_ERR_APPROVAL_SESSION_UNAVAILABLE' });
    assert.equal(queue.declineAll(), 2);
    assert.deepEqual([(await a).result, (await b).result], ['declined', 'declined']);
  });
});
