/**
 * AgentSession's lifecycle over a real pair of SecureChannels (in memory): the description it
 * sends, the events, and that `closed` settles whichever way the session ends — including a
 * close while it is still describing itself, which once left `closed` (and close()) pending
 * forever. And "approve for the session" (`share --approve`) as a change of the session's one
 * policy: audited first (a real audit log, broken for real by putting a file where its directory was), then
 * enforced and shown in `info`, then told to the client; bounded; coherent with later
 * `kubepair session policy` changes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { APPROVAL_SESSION_RULES_MAX } from '../../../src/limits.js';
import { readAuditRecords } from '../../helpers/audit-records.js';
import { AgentSession } from '../../../src/agent/agent-session.js';
import { RequestPolicy } from '../../../src/agent/policy/index.js';
import type { UpstreamCluster } from '../../../src/agent/upstream-cluster.js';
import type { ControlMessage } from '../../../src/protocol/channel-control.js';
import { parseSessionDescription } from '../../../src/protocol/session-description.js';
import { isKubepairError } from '../../../src/errors/index.js';
import type { SecureChannel } from '../../helpers/channel-pair.js';
import { pairedChannels, within } from '../../helpers/channel-pair.js';
import { waitUntil } from '../../helpers/wait-until.js';
import { offlineUpstream } from '../../helpers/offline-upstream.js';

const T = { timeout: 30_000 };
const STEP_MS = 10_000;

describe('AgentSession lifecycle', () => {
  let upstream: UpstreamCluster;
  before(async () => {
    upstream = await offlineUpstream();
  });

  function newSession(agent: SecureChannel): AgentSession {
    return new AgentSession(
      {
        sessionId: 'AAAAAAAAAAAAAAAAAAAAAA',
        mode: 'proxy',
        policy: RequestPolicy.create({ mode: 'readonly' }),
        expose: [{ name: 'db', host: '127.0.0.1', port: 5432 }],
        sessionLifetimeMs: 60 * 60 * 1000,
        auditFailOpen: false,
        upstream,
      },
      agent,
    );
  }

  it('start sends the session description; the client leaving ends the session with ended and closed', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const received = new Promise<ControlMessage>((resolve) => client.once('control', resolve));
    const events: string[] = [];
    session.on('established', () => events.push('established'));
    session.on('ended', () => events.push('ended'));
    const sent = await within(session.start(), STEP_MS, 'the session to start');
    assert.equal(session.state, 'serving');
    const description = parseSessionDescription(await within(received, STEP_MS, 'the description'));
    assert.deepEqual(description, sent);
    assert.deepEqual(description.targets, ['kube-apiserver', 'db']);
    assert.equal(description.policy.mode, 'readonly');
    assert.equal(description.mode, 'proxy');

    client.close();
    await within(session.closed, STEP_MS, 'the session to end');
    assert.equal(session.state, 'closed');
    assert.deepEqual(events, ['established', 'ended']);
  });

  it('close() while the session is still describing itself: start rejects with KP_ERR_CHANNEL_CLOSED and closed settles', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const started = session.start();
    const closing = session.close();
    await assert.rejects(within(started, STEP_MS, 'start to end'), (err) => isKubepairError(err, 'KP_ERR_CHANNEL_CLOSED'));
    await within(closing, STEP_MS, 'close() to return');
    await within(session.closed, STEP_MS, 'closed to settle');
    assert.equal(session.state, 'closed');
    assert.equal(agent.isClosed, true);
    client.close();
  });

  it('the start signal ends a serving session', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const controller = new AbortController();
    await within(session.start(controller.signal), STEP_MS, 'the session to start');
    controller.abort();
    await within(session.closed, STEP_MS, 'the session to end');
    assert.equal(agent.isClosed, true);
    await within(client.closed, STEP_MS, 'the client to see the close');
  });

  /** The CONTROL messages the client receives until its channel closes. */
  function controlsUntilClosed(client: SecureChannel): Promise<ControlMessage[]> {
    const received: ControlMessage[] = [];
    client.on('control', (message) => received.push(message));
    return client.closed.then(() => received);
  }

  it('a serving session that the start signal ends says bye (sharer_stopped) before the channel closes', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const controls = controlsUntilClosed(client);
    const controller = new AbortController();
    await within(session.start(controller.signal), STEP_MS, 'the session to start');
    controller.abort();
    const received = await within(controls, STEP_MS, 'the client to see the close');
    assert.deepEqual(received.map((message) => message.type), ['session', 'bye']);
    assert.deepEqual(received[1], { type: 'bye', reason: 'sharer_stopped' });
  });

  it('close() of a serving session says bye (sharer_stopped); a session the client left says nothing more', T, async () => {
    const { agent, client } = await pairedChannels();
    const session = newSession(agent);
    const controls = controlsUntilClosed(client);
    await within(session.start(), STEP_MS, 'the session to start');
    await within(session.close(), STEP_MS, 'close() to return');
    assert.deepEqual((await within(controls, STEP_MS, 'the client to see the close')).at(-1), { type: 'bye', reason: 'sharer_stopped' });

    const second = await pairedChannels();
    const left = newSession(second.agent);
    await within(left.start(), STEP_MS, 'the second session to start');
    let sent = 0;
    const send = second.agent.sendControl.bind(second.agent);
    second.agent.sendControl = (message) => {
      sent += 1;
      return send(message);
    };
    second.client.close();
    await within(left.closed, STEP_MS, 'the second session to end');
    await within(left.close(), STEP_MS, 'close() after the end');
    assert.equal(sent, 0, 'no bye on a channel the client closed');
  });
});

describe('AgentSession: "approve for the session" is a change of the session\'s policy', () => {
  let upstream: UpstreamCluster;
  let dir: string;
  let logs = 0;
  before(async () => {
    upstream = await offlineUpstream();
    dir = await mkdtemp(join(tmpdir(), 'kubepair-approve-session-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A serving guarded session with a real audit log; the client's CONTROL messages. */
  async function serving(): Promise<{ session: AgentSession; audit: AuditLog; auditDir: string; controls: ControlMessage[]; close: () => Promise<void> }> {
    logs += 1;
    const auditDir = join(dir, `log-${logs}`);
    const audit = await AuditLog.open({ path: join(auditDir, 'audit.jsonl') });
    const { agent, client } = await pairedChannels();
    const controls: ControlMessage[] = [];
    client.on('control', (message) => controls.push(message));
    const session = new AgentSession(
      { sessionId: 'BBBBBBBBBBBBBBBBBBBBBB', mode: 'proxy', policy: RequestPolicy.create({ mode: 'guarded' }), expose: [], sessionLifetimeMs: 60 * 60 * 1000, auditFailOpen: false, upstream, audit },
      agent,
    );
    await within(session.start(), STEP_MS, 'the session to start');
    return {
      session,
      audit,
      auditDir,
      controls,
      close: async () => {
        await within(session.close(), STEP_MS, 'the session to end');
        client.close();
        await audit.close();
      },
    };
  }

  const changes = (audit: AuditLog) => readAuditRecords(audit.path).filter((record) => record['event'] === 'session_changed');

  it('the rules are recorded (session_changed, via approval, with the request) first, then in force and in info, then told to the client; again is no change', T, async () => {
    const { session, audit, controls, close } = await serving();
    try {
      const told: string[] = [];
      session.on('changed', (change) => told.push(`${change.kind}: ${changes(audit).length} record(s)`));
      assert.equal(session.approvalRoom(), APPROVAL_SESSION_RULES_MAX);
      const made = await session.approveForSession(['delete pods  default/web'], 'abc-7');
      assert.deepEqual(made, { kind: 'policy', policy: { mode: 'guarded', allow: ['delete pods default/web'], deny: [] }, previous: { mode: 'guarded', allow: [], deny: [] }, droppedAllow: [], approvedRequest: 'abc-7' });
      assert.deepEqual(told, ['policy: 1 record(s)'], 'the record was on disk when the change was announced');
      assert.deepEqual(session.info?.policy, { mode: 'guarded', allow: ['delete pods default/web'], deny: [] }, 'kubepair status shows the rule');
      assert.deepEqual(
        changes(audit).map((record) => ({ by: record['by'], change: record['change'], via: record['via'], request_id: record['request_id'], policy: record['policy'], previous_policy: record['previous_policy'] })),
        [{ by: 'sharer', change: 'policy', via: 'approval', request_id: 'abc-7', policy: { mode: 'guarded', allow: ['delete pods default/web'], deny: [] }, previous_policy: { mode: 'guarded', allow: [], deny: [] } }],
      );
      await waitUntil(() => controls.some((message) => message.type === 'session_update'), STEP_MS, 'the client to be told');
      const update = controls.find((message) => message.type === 'session_update');
      assert.deepEqual((update as { policy?: unknown }).policy, { mode: 'guarded', allow: ['delete pods default/web'], deny: [] });
      assert.equal(session.approvalRoom(), APPROVAL_SESSION_RULES_MAX - 1);

      // The same rule again (two requests like it were approved at once): nothing to change, nothing recorded.
      assert.equal(await session.approveForSession(['delete pods default/web'], 'abc-8'), undefined);
      assert.equal(changes(audit).length, 1);
    } finally {
      await close();
    }
  });

  it('a later kubepair session policy keeps the approved rules, can remove them, and leaving guarded drops them (then nothing can be approved for the session)', T, async () => {
    const { session, close } = await serving();
    try {
      await session.approveForSession(['delete pods default/web'], 'r-1');
      const narrowed = await session.changePolicy({ addDeny: ['get secrets'] });
      assert.deepEqual(narrowed.kind === 'policy' && narrowed.policy, { mode: 'guarded', allow: ['delete pods default/web'], deny: ['get secrets'] }, 'another change keeps them');
      await session.changePolicy({ removeAllow: ['delete pods default/web'] });
      assert.deepEqual(session.info?.policy.allow, [], 'removed like any --allow rule');
      await session.approveForSession(['patch pods default/web'], 'r-2');
      const readonly = await session.changePolicy({ mode: 'readonly' });
      assert.deepEqual(readonly.kind === 'policy' && readonly.droppedAllow, ['patch pods default/web'], 'leaving guarded drops them, listed');
      assert.equal(session.approvalRoom(), 0);
      await assert.rejects(session.approveForSession(['delete pods default/db'], 'r-3'), (err) => isKubepairError(err, 'KP_ERR_APPROVAL_SESSION_FAILED') && /is "readonly" now/.test(err.message));
      assert.deepEqual(session.info?.policy, { mode: 'readonly', allow: [], deny: ['get secrets'] });
    } finally {
      await close();
    }
  });

  it(`Security: at most ${APPROVAL_SESSION_RULES_MAX} rules are approved over a session's life; removing some gives no room back`, T, async () => {
    const { session, close } = await serving();
    try {
      for (let index = 0; index < APPROVAL_SESSION_RULES_MAX; index += 1) await session.approveForSession([`delete pods default/p${index}`], `r-${index}`);
      assert.equal(session.approvalRoom(), 0);
      await assert.rejects(session.approveForSession(['delete pods default/one-more'], 'r-x'), (err) => isKubepairError(err, 'KP_ERR_APPROVAL_SESSION_FAILED'));
      await session.changePolicy({ removeAllow: ['delete pods default/p0'] });
      assert.equal(session.approvalRoom(), 0);
      assert.equal(session.info?.policy.allow.length, APPROVAL_SESSION_RULES_MAX - 1);
    } finally {
      await close();
    }
  });

  it('Security: an approval whose session_changed record cannot be written (the log\'s directory replaced by a file) does not widen the policy, and the client is told nothing', T, async () => {
    const { session, audit, auditDir, controls, close } = await serving();
    try {
      // Its directory removed and a file in its place: the log cannot reopen its path (ENOTDIR).
      await rm(auditDir, { recursive: true, force: true });
      await writeFile(auditDir, 'not a directory\n');
      await assert.rejects(session.approveForSession(['delete pods default/web'], 'r-1'), (err) => isKubepairError(err, 'KP_ERR_SESSION_CHANGE_UNAUDITED'));
      assert.deepEqual(session.info?.policy, { mode: 'guarded', allow: [], deny: [] }, 'the policy is unchanged');
      assert.equal(session.approvalRoom(), APPROVAL_SESSION_RULES_MAX, 'nothing was counted');
      assert.deepEqual(readAuditRecords(audit.path), []);
      assert.ok(!controls.some((message) => message.type === 'session_update'), 'no session_update');
    } finally {
      await close();
    }
  });
});
