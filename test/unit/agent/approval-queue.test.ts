/**
 * The queue of requests held for the sharer (issue 14): answers by id, the timeout, the bound,
 * withdrawal, decline-all and close, and who each outcome says decided. "Approve for the
 * session" goes through the request's session (SessionRules): the request is approved only once
 * its rules are in the session's policy, and refused when they cannot be added.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApprovalRequest, PendingApproval, SessionRules } from '../../../src/agent/approval-queue.js';
import { ApprovalQueue } from '../../../src/agent/approval-queue.js';
import { KubepairError } from '../../../src/errors/index.js';

function request(name: string, rules: readonly string[] = [`delete pods default/${name}`]): ApprovalRequest {
  return { session: 's', client: 'c', requestId: `r-${name}`, description: 'delete pods', tier: 3, why: 'deletion', verb: 'delete', namespace: 'default', name, rules };
}

/** A session that records what it was asked to add; `add` runs `behaviour` (default: succeeds). */
function sessionRules(room = 32, behaviour: () => Promise<void> = () => Promise.resolve()): SessionRules & { added: Array<[readonly string[], string]> } {
  const added: Array<[readonly string[], string]> = [];
  return {
    added,
    room: () => room,
    add: async (rules: readonly string[], approval: PendingApproval) => {
      await behaviour();
      added.push([rules, approval.requestId]);
    },
  };
}

describe('ApprovalQueue', () => {
  it('answers go to the request named by id; each outcome says who decided', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const session = sessionRules();
    const once = queue.hold(request('a'), undefined, session);
    const forSession = queue.hold(request('b'), undefined, session);
    const declined = queue.hold(request('c'), undefined, session);
    assert.deepEqual(queue.pending.map((p) => [p.id, p.name]), [['1', 'a'], ['2', 'b'], ['3', 'c']]);
    assert.equal((await queue.answer('2', 'session')).outcome.result, 'approved_session');
    await queue.answer('3', 'decline');
    await queue.answer('1', 'once');
    assert.deepEqual([(await once).result, (await forSession).result, (await declined).result], ['approved_once', 'approved_session', 'declined']);
    assert.deepEqual([(await once).decidedBy, (await forSession).decidedBy, (await declined).decidedBy], ['sharer', 'sharer', 'sharer']);
    await assert.rejects(queue.answer('1', 'once'), { code: 'KP_ERR_APPROVAL_UNKNOWN' }, 'an answered request cannot be answered again');
    await assert.rejects(queue.answer('99', 'decline'), { code: 'KP_ERR_APPROVAL_UNKNOWN' });
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
    const a = queue.hold(request('a', []), undefined, sessionRules());
    const b = queue.hold(request('b'), undefined, sessionRules());
    await assert.rejects(queue.answer('1', 'session'), { code: 'KP_ERR_APPROVAL_SESSION_UNAVAILABLE' });
    assert.deepEqual(queue.declineAll(), ['1', '2']);
    assert.deepEqual([(await a).result, (await b).result], ['declined', 'declined']);
  });

  it('"for the session" adds the rules to the request\'s session before the request is approved', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const events: string[] = [];
    const session = sessionRules(32, () => {
      events.push(`adding while ${queue.pending.length} wait`);
      return Promise.resolve();
    });
    const approvals = queue.forSession(session);
    assert.deepEqual([approvals.timeoutMs, approvals.capacity], [queue.timeoutMs, queue.capacity]);
    const held = approvals.hold(request('a'));
    queue.on('settled', (_pending, outcome) => events.push(`settled ${outcome.result}`));
    const answered = await queue.answer('1', 'session');
    assert.deepEqual(events, ['adding while 0 wait', 'settled approved_session'], 'the rules are added first; the request no longer waits meanwhile');
    assert.deepEqual(session.added, [[['delete pods default/a'], 'r-a']], 'the rules and the request they were approved for');
    assert.equal(answered.outcome.result, 'approved_session');
    assert.equal((await held).result, 'approved_session');
  });

  it('Security: "for the session" whose rules cannot be added refuses the request (session_change_failed), decided by the policy, and says why', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const session = sessionRules(32, () => Promise.reject(new KubepairError('KP_ERR_SESSION_CHANGE_UNAUDITED', 'EFBIG')));
    const held = queue.hold(request('a'), undefined, session);
    const answered = await queue.answer('1', 'session');
    const outcome = await held;
    assert.equal(outcome.result, 'session_change_failed');
    assert.equal(outcome.decidedBy, 'policy');
    assert.equal(outcome.error?.code, 'KP_ERR_APPROVAL_SESSION_FAILED');
    assert.equal((outcome.error?.cause as KubepairError).code, 'KP_ERR_SESSION_CHANGE_UNAUDITED');
    assert.match(outcome.error?.message ?? '', /its audit record cannot be written \(fail closed\): EFBIG$/);
    assert.deepEqual(answered.outcome, outcome);
    assert.deepEqual(session.added, [], 'nothing was added');
    assert.equal(queue.pending.length, 0);
  });

  it('Security: while its rules are being added the request cannot be answered again, timed out or withdrawn', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 30 });
    let finish!: () => void;
    const session = sessionRules(32, () => new Promise<void>((resolve) => (finish = resolve)));
    const withdraw = new AbortController();
    const held = queue.hold(request('a'), withdraw.signal, session);
    const answering = queue.answer('1', 'session');
    await assert.rejects(queue.answer('1', 'decline'), { code: 'KP_ERR_APPROVAL_UNKNOWN' });
    assert.deepEqual(queue.declineAll(), [], 'decline-all leaves it to its answer');
    withdraw.abort();
    await new Promise((resolve) => setTimeout(resolve, 60)); // twice the timeout
    finish();
    assert.equal((await answering).outcome.result, 'approved_session');
    assert.equal((await held).result, 'approved_session');
  });

  it('rules are offered for the session only with a session that has room for all of them', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    void queue.hold(request('a'));
    void queue.hold(request('b', ['delete pods default/b', 'impersonate users /x']), undefined, sessionRules(1));
    void queue.hold(request('c'), undefined, sessionRules(1));
    assert.deepEqual(queue.pending.map((p) => p.rules), [[], [], ['delete pods default/c']]);
    await assert.rejects(queue.answer('1', 'session'), { code: 'KP_ERR_APPROVAL_SESSION_UNAVAILABLE' });
    queue.close();
  });
});
