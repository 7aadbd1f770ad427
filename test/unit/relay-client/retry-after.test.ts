/**
 * The relay's Retry-After (src/relay-client/retry-after.ts), how a refusal keeps it
 * (relay-error-mapping.ts) and how it sets the next reconnect wait (durable-link.ts
 * reconnectDelayMs), table by table. The header is the relay's, so untrusted: only the two forms
 * RFC 9110 §10.2.3 allows, and never more than RECONNECT_RETRY_AFTER_MAX_MS.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubepairError } from '../../../src/errors/index.js';
import { RECONNECT_RETRY_AFTER_MAX_MS } from '../../../src/limits.js';
import { errorFromRelayAnswer, parseRetryAfter, reconnectDelayMs, reconnectVerdict } from '../../../src/relay-client/index.js';

const NOW = Date.UTC(2026, 11, 6, 13, 0, 0);
const TIMING = { initialDelayMs: 250, maxDelayMs: 5_000, jitterFraction: 0.5 };

describe('parseRetryAfter', () => {
  it('delay-seconds and IMF-fixdate dates give the wait in ms, bounded, a past date 0', () => {
    const cases: Array<[string, string, number]> = [
      ['seconds', '25', 25_000],
      ['zero', '0', 0],
      ['spaces around', ' 7 ', 7_000],
      ['past the bound', '3600', RECONNECT_RETRY_AFTER_MAX_MS],
      ['nine digits', '999999999', RECONNECT_RETRY_AFTER_MAX_MS],
      ['a date 30 s ahead', new Date(NOW + 30_000).toUTCString(), 30_000],
      ['a date an hour ahead', new Date(NOW + 3_600_000).toUTCString(), RECONNECT_RETRY_AFTER_MAX_MS],
      ['a date in the past', new Date(NOW - 10_000).toUTCString(), 0],
    ];
    for (const [what, value, expected] of cases) assert.equal(parseRetryAfter(value, NOW), expected, `${what}: ${JSON.stringify(value)}`);
  });

  it('Security: anything else from the relay is ignored (undefined), not guessed at', () => {
    const cases: Array<[string, string | string[] | undefined]> = [
      ['absent', undefined],
      ['empty', ''],
      ['negative', '-5'],
      ['fraction', '2.5'],
      ['exponent', '1e3'],
      ['hex', '0x10'],
      ['ten digits', '1234567890'],
      ['unit', '25s'],
      ['sent twice', ['25', '30']],
      ['RFC 850 date (obsolete)', 'Sunday, 06-Dec-26 13:00:30 GMT'],
      ['asctime date (obsolete)', 'Sun Dec  6 13:00:30 2026'],
      ['ISO date', '2026-12-06T13:00:30Z'],
      ['a date that does not exist', 'Mon, 31 Feb 2027 13:00:30 GMT'],
      ['the wrong weekday', 'Mon, 06 Dec 2026 13:00:30 GMT'],
      ['another zone', 'Sun, 06 Dec 2026 13:00:30 UTC'],
      ['control characters', '25\r\nX-Injected: 1'],
    ];
    for (const [what, value] of cases) assert.equal(parseRetryAfter(value, NOW), undefined, `${what}: ${JSON.stringify(value)}`);
  });

  it('a refusal keeps the wait only where it belongs: 429 and 503', () => {
    const body = (code: string): unknown => ({ error: { code, message: 'x' } });
    assert.equal(errorFromRelayAnswer(429, body('KP_ERR_RELAY_RATE_LIMITED'), 25_000).retryAfterMs, 25_000, '429');
    assert.equal(errorFromRelayAnswer(503, body('KP_ERR_RELAY_SHUTTING_DOWN'), 2_000).retryAfterMs, 2_000, '503');
    assert.equal(errorFromRelayAnswer(503, '<html>', 2_000).retryAfterMs, 2_000, 'a 503 page of a load balancer');
    assert.equal(errorFromRelayAnswer(401, body('KP_ERR_RELAY_UNAUTHORIZED'), 25_000).retryAfterMs, undefined, '401');
    assert.equal(errorFromRelayAnswer(429, body('KP_ERR_RELAY_RATE_LIMITED')).retryAfterMs, undefined, 'no header');
  });

  it('the next reconnect waits the backoff, or what the relay asked when that is longer', () => {
    const limited = new KubepairError('KP_ERR_RELAY_RATE_LIMITED', undefined, { retryAfterMs: 25_000 });
    const soon = new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN', undefined, { retryAfterMs: 10 });
    assert.equal(reconnectDelayMs(1, limited, TIMING, () => 0), 25_000, 'Retry-After 25 s beats a 250 ms backoff');
    assert.equal(reconnectDelayMs(1, soon, TIMING, () => 0), 250, 'a Retry-After shorter than the backoff does not hurry it');
    assert.equal(reconnectDelayMs(1, undefined, TIMING, () => 0), 250, 'no refusal: the backoff');
    assert.equal(reconnectDelayMs(30, undefined, TIMING, () => 0.999_999), 2_500, 'capped, jittered');
  });

  it('Security: a relay certificate that does not verify stops the reconnecting (no retry can mend it); an outage does not', () => {
    const untrusted = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const expired = Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    assert.equal(reconnectVerdict(new KubepairError('KP_ERR_RELAY_UNREACHABLE', 'relay: self-signed', { cause: untrusted })), 'stop', 'self-signed');
    assert.equal(reconnectVerdict(new KubepairError('KP_ERR_RELAY_UNREACHABLE', 'relay: expired', { cause: expired })), 'stop', 'expired certificate');
    assert.equal(reconnectVerdict(new KubepairError('KP_ERR_RELAY_UNREACHABLE', 'relay: refused', { cause: refused })), 'retry', 'connection refused');
  });
});
