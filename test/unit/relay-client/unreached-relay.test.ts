/**
 * Reconnect attempts that never reached a relay (src/relay-client/unreached-relay.ts) are retried
 * at the short cap RECONNECT_UNREACHED_MAX_DELAY_MS instead of the full backoff (issue 12: bytes
 * flow again under 1 s after a restarting relay listens again); any failure in which a relay, load
 * balancer or proxy answered keeps the full backoff. The delays are computed, not timed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubepairError } from '../../../src/errors/index.js';
import { RECONNECT_MAX_DELAY_MS, RECONNECT_UNREACHED_MAX_DELAY_MS } from '../../../src/limits.js';
import { DEFAULT_LINK_TIMING, neverReachedRelay, openRelaySocket, reconnectDelayMs } from '../../../src/relay-client/index.js';
import { errorFromCloseCode, errorFromRelayAnswer } from '../../../src/relay-client/relay-error-mapping.js';
import { freePort } from '../../helpers/tcp.js';

function systemError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });
}

function unreachable(cause: unknown): KubepairError {
  return new KubepairError('KP_ERR_RELAY_UNREACHABLE', '127.0.0.1: connection failed', { cause });
}

/** The longest draw (random 0: no jitter taken off). */
const LONGEST = (): number => 0;

describe('neverReachedRelay', () => {
  it('refused, no route, network down: the attempt never reached a relay', () => {
    for (const code of ['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN']) {
      assert.equal(neverReachedRelay(unreachable(systemError(code))), true, code);
    }
    const everyAddressRefused = new AggregateError([systemError('ECONNREFUSED'), systemError('ECONNREFUSED')], 'all addresses failed');
    assert.equal(neverReachedRelay(unreachable(everyAddressRefused)), true, 'happy eyeballs, both addresses refused');
  });

  it('anything in which something on the far side took part, or that says nothing: not', () => {
    const cases: Array<[string, KubepairError | undefined]> = [
      ['reset after connecting', unreachable(systemError('ECONNRESET'))],
      ['timed out (a black hole: maybe a relay too busy to accept)', unreachable(systemError('ETIMEDOUT'))],
      ['one address refused, one timed out', unreachable(new AggregateError([systemError('ECONNREFUSED'), systemError('ETIMEDOUT')]))],
      ['an empty AggregateError', unreachable(new AggregateError([]))],
      ['no system code', unreachable(new Error('socket hang up'))],
      ['no cause', new KubepairError('KP_ERR_RELAY_UNREACHABLE', 'x')],
      ['refused, but through a proxy', new KubepairError('KP_ERR_PROXY_UNREACHABLE', 'x', { cause: systemError('ECONNREFUSED') })],
      ['a 503 from the relay', errorFromRelayAnswer(503, { error: { code: 'KP_ERR_RELAY_CAPACITY', message: 'x' } })],
      ['a 502 page from a load balancer', errorFromRelayAnswer(502, '<html>Bad Gateway</html>')],
      ['close 1006', errorFromCloseCode(1006, '')],
      ['nothing known', undefined],
    ];
    for (const [what, error] of cases) assert.equal(neverReachedRelay(error), false, what);
  });

  it('a real refused connection (a closed port on 127.0.0.1) is recognised through the relay client', async () => {
    const port = await freePort();
    const error = await openRelaySocket({ endpoint: { url: `http://127.0.0.1:${port}` }, role: 'client', sessionId: 'A'.repeat(22), key: 'k'.repeat(43) }).then(
      () => assert.fail('a closed port accepted a relay socket'),
      (err: unknown) => err as KubepairError,
    );
    assert.equal(error.code, 'KP_ERR_RELAY_UNREACHABLE', error.message);
    assert.equal(neverReachedRelay(error), true, `cause: ${String(error.cause)}`);
  });
});

describe('reconnectDelayMs', () => {
  it('after an attempt that never reached a relay, the wait is capped at RECONNECT_UNREACHED_MAX_DELAY_MS however long the outage', () => {
    const refused = unreachable(systemError('ECONNREFUSED'));
    for (const attempt of [1, 2, 3, 5, 10, 100]) {
      const wait = reconnectDelayMs(attempt, refused, DEFAULT_LINK_TIMING, LONGEST);
      assert.ok(wait <= RECONNECT_UNREACHED_MAX_DELAY_MS, `attempt ${attempt}: ${wait} ms`);
      assert.ok(wait > 0, `attempt ${attempt}: still a pause, ${wait} ms`);
    }
    assert.equal(reconnectDelayMs(100, refused, DEFAULT_LINK_TIMING, LONGEST), RECONNECT_UNREACHED_MAX_DELAY_MS);
    assert.equal(reconnectDelayMs(100, refused, DEFAULT_LINK_TIMING, () => 0.999_999), RECONNECT_UNREACHED_MAX_DELAY_MS / 2, 'still jittered');
  });

  it('after a failure the relay (or a balancer in front of it) answered, the full backoff up to RECONNECT_MAX_DELAY_MS', () => {
    const answered = [
      errorFromRelayAnswer(503, { error: { code: 'KP_ERR_RELAY_CAPACITY', message: 'x' } }),
      errorFromRelayAnswer(502, '<html>Bad Gateway</html>'),
      unreachable(systemError('ETIMEDOUT')),
      undefined,
    ];
    for (const failure of answered) {
      assert.equal(reconnectDelayMs(100, failure, DEFAULT_LINK_TIMING, LONGEST), RECONNECT_MAX_DELAY_MS, failure?.message ?? 'no failure');
    }
  });

  it('a link whose own cap is lower keeps it (tests shorten the timing)', () => {
    const refused = unreachable(systemError('ECONNREFUSED'));
    assert.equal(reconnectDelayMs(100, refused, { ...DEFAULT_LINK_TIMING, maxDelayMs: 200 }, LONGEST), 200);
  });
});
