/**
 * The relay wire format (docs/design.md §3): control messages and answers are validated strictly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CreateSessionResponseSchema, relaySocketPath } from '../../../src/protocol/relay-api.js';
import { AgentControlMessageSchema, RelayControlMessageSchema, parseControlFrame } from '../../../src/protocol/relay-control.js';

describe('relay wire format', { timeout: 60_000 }, () => {
  it('parses the relay → peer control messages and nothing else', () => {
    assert.deepEqual(parseControlFrame('{"type":"peer_connected"}', RelayControlMessageSchema), { ok: true, message: { type: 'peer_connected' } });
    assert.deepEqual(parseControlFrame('{"type":"expiring","at":"2026-01-01T00:00:00.000Z"}', RelayControlMessageSchema), {
      ok: true,
      message: { type: 'expiring', at: '2026-01-01T00:00:00.000Z' },
    });
    for (const text of ['{"type":"pake_failed"}', '{"type":"peer_connected","x":1}', '{"type":"expiring"}', '{}', '[]', 'null', 'peer_connected', `{"type":"${'a'.repeat(2000)}"}`]) {
      assert.equal(parseControlFrame(text, RelayControlMessageSchema).ok, false, text.slice(0, 40));
    }
  });

  it('parses the agent → relay control messages and nothing else', () => {
    assert.equal(parseControlFrame('{"type":"pake_failed"}', AgentControlMessageSchema).ok, true);
    assert.equal(parseControlFrame('{"type":"established"}', AgentControlMessageSchema).ok, true);
    const refused = parseControlFrame('{"type":"peer_connected"}', AgentControlMessageSchema);
    assert.deepEqual(refused, { ok: false, reason: 'not a valid control message ("peer_connected")' });
    const hostile = parseControlFrame('{"type":"\\u001b[31m"}', AgentControlMessageSchema);
    assert.deepEqual(hostile, { ok: false, reason: 'not a valid control message (unknown type)' }, 'untrusted text is not echoed');
  });

  it('validates the session answer strictly', () => {
    const good = { session_id: 'A'.repeat(22), nameplate: '42', agent_key: 'B'.repeat(43), expires_at: '2026-01-01T00:00:00.000Z' };
    assert.ok(CreateSessionResponseSchema.safeParse(good).success);
    for (const bad of [{ ...good, nameplate: '042' }, { ...good, agent_key: 'short' }, { ...good, extra: 1 }, { ...good, expires_at: 'soon' }]) {
      assert.ok(!CreateSessionResponseSchema.safeParse(bad).success, JSON.stringify(bad));
    }
  });

  it('builds the WebSocket paths of docs/design.md §3', () => {
    assert.equal(relaySocketPath('agent', 'abc'), '/ws/v1/agent/abc');
    assert.equal(relaySocketPath('client', 'abc'), '/ws/v1/client/abc');
  });
});
