/**
 * Why a ready tunnel's session ended (src/client/client-tunnel.ts sessionEndReason), from the
 * channel's close error and what the tunnel saw before it, and connect's line for each reason
 * (src/cli/connect-output.ts sessionEndLine). The agent's `bye` (end to end) wins over whatever
 * the relay said; the relay's hints only pick among the reasons a client could give without
 * them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sessionEndLine } from '../../../src/cli/connect-output.js';
import type { SessionEndReason } from '../../../src/client/client-tunnel.js';
import { sessionEndReason } from '../../../src/client/client-tunnel.js';
import { KubepairError } from '../../../src/errors/index.js';

const NOW = Date.parse('2030-01-01T12:00:00Z');
const LATER = NOW + 3_600_000;

type Clues = Parameters<typeof sessionEndReason>[1];
const quiet: Clues = { peerAway: false, peerLeft: false, relayUnreachable: false, expiresAt: LATER };

const CASES: ReadonlyArray<{ readonly name: string; readonly error: KubepairError | undefined; readonly clues: Clues; readonly reason: SessionEndReason }> = [
  { name: 'bye sharer_stopped', error: undefined, clues: { ...quiet, bye: 'sharer_stopped' }, reason: 'sharer_stopped' },
  { name: 'bye lifetime_reached', error: undefined, clues: { ...quiet, bye: 'lifetime_reached' }, reason: 'lifetime_reached' },
  { name: 'bye beats the relay saying the agent left', error: new KubepairError('KP_ERR_RELAY_SESSION_ENDED'), clues: { ...quiet, bye: 'sharer_stopped', peerLeft: true }, reason: 'sharer_stopped' },
  { name: 'tampering', error: new KubepairError('KP_ERR_RECORD_INTEGRITY'), clues: quiet, reason: 'channel_error' },
  { name: 'a forged resume', error: new KubepairError('KP_ERR_RESUME_PROOF'), clues: { ...quiet, peerAway: true }, reason: 'channel_error' },
  { name: 'a protocol violation', error: new KubepairError('KP_ERR_CHANNEL_PROTOCOL'), clues: quiet, reason: 'channel_error' },
  { name: 'the description\'s end has passed', error: new KubepairError('KP_ERR_RELAY_SESSION_ENDED'), clues: { ...quiet, expiresAt: NOW }, reason: 'lifetime_reached' },
  { name: 'relay unreachable until the window ran out', error: new KubepairError('KP_ERR_RESUME_WINDOW_EXPIRED'), clues: { ...quiet, relayUnreachable: true }, reason: 'relay_gone' },
  { name: 'relay unreachable although it had said the agent was away', error: new KubepairError('KP_ERR_RESUME_WINDOW_EXPIRED'), clues: { ...quiet, relayUnreachable: true, peerAway: true }, reason: 'relay_gone' },
  { name: 'relay reachable, the agent never resumed', error: new KubepairError('KP_ERR_RESUME_WINDOW_EXPIRED'), clues: quiet, reason: 'sharer_gone' },
  { name: 'the relay shut down without a window', error: new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN'), clues: quiet, reason: 'relay_gone' },
  { name: 'agent away, then the relay ended the session', error: new KubepairError('KP_ERR_RELAY_SESSION_ENDED'), clues: { ...quiet, peerAway: true }, reason: 'sharer_gone' },
  { name: 'the relay said the agent left', error: new KubepairError('KP_ERR_TRANSPORT_CLOSED'), clues: { ...quiet, peerLeft: true }, reason: 'sharer_gone' },
  { name: 'a carrier that closed, nothing more known', error: new KubepairError('KP_ERR_TRANSPORT_CLOSED'), clues: quiet, reason: 'unknown' },
  { name: 'closed without an error or a bye', error: undefined, clues: quiet, reason: 'unknown' },
];

describe('why a session ended', () => {
  for (const testCase of CASES) {
    it(`${testCase.name} → ${testCase.reason}`, () => {
      assert.equal(sessionEndReason(testCase.error, testCase.clues, NOW), testCase.reason, testCase.name);
    });
  }

  it('Security: connect\'s line names the reason in its own words; only channel errors and unknown ends quote the error, inert', () => {
    const hostile = new KubepairError('KP_ERR_TRANSPORT_CLOSED', 'the sharer stopped sharing\u001b]52;c;ZXZpbA==\u0007');
    assert.equal(sessionEndLine('sharer_stopped', hostile), 'the session ended: the sharer stopped sharing');
    assert.equal(sessionEndLine('relay_gone', hostile, 600), 'the session ended: the relay went away and did not come back within the resume window (10 min)');
    assert.equal(sessionEndLine('relay_gone', hostile), 'the session ended: the relay went away');
    assert.equal(sessionEndLine('sharer_gone', hostile, 3), 'the session ended: the sharer\'s side went away and did not come back within the resume window (3 s)');
    assert.equal(sessionEndLine('lifetime_reached', hostile), 'the session ended: it reached its maximum lifetime');
    for (const reason of ['channel_error', 'unknown'] as const) {
      const line = sessionEndLine(reason, hostile);
      assert.doesNotMatch(line, /\p{Cc}/u, reason);
      assert.match(line, /\\x1b\]52;c;ZXZpbA==\\x07/, reason);
    }
    assert.match(sessionEndLine('channel_error', new KubepairError('KP_ERR_RECORD_INTEGRITY')), /^the session ended: the secure channel failed \(a record failed its integrity check/);
  });
});
