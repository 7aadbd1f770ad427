/** Which relay failures an endpoint answers with a new socket (docs/design.md §8.1), and which end its session. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubepairError } from '../../../src/errors/index.js';
import type { ErrorCode } from '../../../src/errors/index.js';
import { RELAY_ERRORS } from '../../../src/errors/relay-errors.js';
import { RECONNECT_RETRY_CODES, RECONNECT_STOP_CODES, reconnectVerdict } from '../../../src/relay-client/reconnect-verdict.js';
import { errorFromCloseCode, errorFromRelayAnswer } from '../../../src/relay-client/relay-error-mapping.js';

describe('reconnectVerdict', () => {
  it('every relay error code is in exactly one table', () => {
    for (const code of Object.keys(RELAY_ERRORS) as ErrorCode[]) {
      const inRetry = RECONNECT_RETRY_CODES.has(code);
      const inStop = RECONNECT_STOP_CODES.has(code);
      assert.ok(inRetry !== inStop, `${code}: retry ${inRetry}, stop ${inStop}`);
    }
    for (const code of RECONNECT_RETRY_CODES) assert.ok(!RECONNECT_STOP_CODES.has(code), code);
  });

  it('a lost carrier, a relay that is down, restarting, busy or rate limiting: retry', () => {
    const cases: Array<[string, KubepairError | undefined]> = [
      ['close 1006', errorFromCloseCode(1006, '')],
      ['close 1001', errorFromCloseCode(1001, 'going away')],
      ['close 4503', errorFromCloseCode(4503, 'the relay is shutting down')],
      ['503 capacity', errorFromRelayAnswer(503, { error: { code: 'KP_ERR_RELAY_CAPACITY', message: 'x' } })],
      ['429 failure budget', errorFromRelayAnswer(429, { error: { code: 'KP_ERR_RELAY_RATE_LIMITED', message: 'x' } })],
      ['a 502 page from a load balancer', errorFromRelayAnswer(502, '<html>Bad Gateway</html>')],
      ['connection refused', new KubepairError('KP_ERR_RELAY_UNREACHABLE', '127.0.0.1: connect ECONNREFUSED')],
      ['silent relay', new KubepairError('KP_ERR_TRANSPORT_CLOSED', 'the relay went silent')],
    ];
    for (const [what, err] of cases) assert.equal(reconnectVerdict(err), 'retry', what);
  });

  it('Security: the session is over, the key is refused or a newer socket took over: stop', () => {
    const cases: Array<[string, unknown]> = [
      ['close 4410', errorFromCloseCode(4410, 'the client did not come back within the resume window')],
      ['close 4001', errorFromCloseCode(4001, 'replaced')],
      ['close 4429', errorFromCloseCode(4429, '')],
      ['404 ended', errorFromRelayAnswer(404, { error: { code: 'KP_ERR_RELAY_SESSION_NOT_FOUND', message: 'x' } })],
      ['401 key', errorFromRelayAnswer(401, { error: { code: 'KP_ERR_RELAY_UNAUTHORIZED', message: 'x' } })],
      ['our own close (no error)', undefined],
      ['not a KubepairError', new Error('boom')],
      ['aborted', new KubepairError('KP_ERR_ABORTED')],
    ];
    for (const [what, err] of cases) assert.equal(reconnectVerdict(err), 'stop', what);
  });
});
