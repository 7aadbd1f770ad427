/**
 * The relay's HTTP API against a real relay process (docs/design.md §3, normative): every
 * endpoint's success and every error code, with the error shape `{"error":{"code","message"}}`,
 * token scopes, credentials in URLs, browser origins and CORS, rate limits and session bounds.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { api, connectPair, createSessionViaApi, errorCode, metric, openPeer, pairViaApi, refusedUpgrade, startRelay } from '../../helpers/relay-process.js';
import type { ApiAnswer, StartedRelay } from '../../helpers/relay-process.js';

const T = { timeout: 30_000 };
const SESSION = '/api/v1/sessions';
const PAIR = '/api/v1/pair';
const BODY = { protocol: 'kubepair/1' };

/** Assert an error answer: status, code, and the normative shape (nothing else in the body). */
function assertError(answer: ApiAnswer, status: number, code: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(errorCode(answer), code, JSON.stringify(answer.body));
  const body = answer.body as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(String(answer.headers.get('content-type')).startsWith('application/json'));
}

describe('relay API', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '10000', '--allow-origin', 'https://ops.example.com'] });
  });
  after(() => relay.dispose());

  describe('success', { timeout: 120_000 }, () => {
    it('POST /api/v1/sessions → 201 with session_id, nameplate, agent_key, expires_at', T, async () => {
      const answer = await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY });
      assert.equal(answer.status, 201);
      const body = answer.body as Record<string, string>;
      assert.deepEqual(Object.keys(body).sort(), ['agent_key', 'expires_at', 'nameplate', 'session_id']);
      assert.match(body.session_id ?? '', /^[A-Za-z0-9_-]{22}$/, '16 random bytes, base64url');
      assert.match(body.agent_key ?? '', /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
      assert.match(body.nameplate ?? '', /^[1-9][0-9]*$/);
      const ttl = Date.parse(body.expires_at ?? '') - Date.now();
      assert.ok(ttl > 100_000 && ttl <= 120_000, `expires about 120 s from now (${ttl} ms)`);
    });

    it('nameplates are the lowest free number that is not in quarantine', T, async () => {
      for (const [quarantine, afterDelete] of [
        [undefined, ['4', '5']], // the default 10 min: the freed 2 stays out of use
        ['0s', ['2', '4']], // quarantine off: the freed 2 is handed out before 4
      ] as const) {
        const fresh = await startRelay({ args: ['--rate-limit', '1000', ...(quarantine === undefined ? [] : ['--nameplate-quarantine', quarantine])] });
        try {
          const first = await createSessionViaApi(fresh);
          const second = await createSessionViaApi(fresh);
          const third = await createSessionViaApi(fresh);
          assert.deepEqual([first.nameplate, second.nameplate, third.nameplate], ['1', '2', '3']);
          const deleted = await api(fresh, 'DELETE', `${SESSION}/${second.session_id}`, { token: fresh.tokens.admin });
          assert.equal(deleted.status, 204);
          const next = [(await createSessionViaApi(fresh)).nameplate, (await createSessionViaApi(fresh)).nameplate];
          assert.deepEqual(next, afterDelete, `--nameplate-quarantine ${quarantine ?? '(default)'}`);
        } finally {
          await fresh.dispose();
        }
      }
    });

    it('POST /api/v1/pair → 200 with session_id, client_key, expires_at', T, async () => {
      const session = await createSessionViaApi(relay);
      const answer = await api(relay, 'POST', PAIR, { token: relay.tokens.client, body: { nameplate: session.nameplate } });
      assert.equal(answer.status, 200);
      const body = answer.body as Record<string, string>;
      assert.deepEqual(Object.keys(body).sort(), ['client_key', 'expires_at', 'session_id']);
      assert.equal(body.session_id, session.session_id);
      assert.match(body.client_key ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.notEqual(body.client_key, session.agent_key);
      assert.equal(body.expires_at, session.expires_at);
    });

    it('GET /healthz and /readyz → 200 {"status":"ok"} without a token', T, async () => {
      for (const path of ['/healthz', '/readyz']) {
        const answer = await api(relay, 'GET', path);
        assert.equal(answer.status, 200, path);
        assert.deepEqual(answer.body, { status: 'ok' }, path);
      }
    });

    it('GET /metrics → Prometheus text with the relay metrics (metrics or admin scope)', T, async () => {
      await connectPair(relay);
      for (const token of [relay.tokens.metrics, relay.tokens.admin]) {
        const answer = await api(relay, 'GET', '/metrics', { token });
        assert.equal(answer.status, 200);
        assert.match(String(answer.headers.get('content-type')), /^text\/plain/);
        const text = String(answer.body);
        for (const name of [
          'kubepair_relay_sessions{state="waiting"}',
          'kubepair_relay_sessions{state="claimed"}',
          'kubepair_relay_sessions{state="established"}',
          'kubepair_relay_sessions_created_total',
          'kubepair_relay_pairings_total{result="claimed"}',
          'kubepair_relay_open_sockets{role="agent"}',
          'kubepair_relay_forwarded_bytes_total',
          'kubepair_relay_limit_hits_total',
          'kubepair_relay_active_timers',
          'process_resident_memory_bytes',
        ]) {
          assert.ok(text.includes(name), `${name} in /metrics`);
        }
      }
      assert.ok(((await metric(relay, 'kubepair_relay_open_sockets', '{role="client"}')) ?? 0) >= 1);
    });

    it('DELETE /api/v1/sessions/{id} (admin) ends a session: 204, sockets closed with 4410, audited', T, async () => {
      const { session, agent, client } = await connectPair(relay);
      const answer = await api(relay, 'DELETE', `${SESSION}/${session.session_id}`, { token: relay.tokens.admin });
      assert.equal(answer.status, 204);
      assert.equal((await agent.closedWithin()).code, 4410);
      assert.equal((await client.closedWithin()).code, 4410);
      const audit = await readFile(relay.auditLog, 'utf8');
      assert.match(audit, new RegExp(`"event":"admin_action","action":"end_session","session":"${session.session_id}","token_name":"test-admin"`));
      const again = await api(relay, 'DELETE', `${SESSION}/${session.session_id}`, { token: relay.tokens.admin });
      assertError(again, 404, 'KP_ERR_RELAY_SESSION_NOT_FOUND');
    });
  });

  describe('Security: authentication and scopes', { timeout: 120_000 }, () => {
    it('a missing token → 401 KP_ERR_RELAY_UNAUTHORIZED with WWW-Authenticate', T, async () => {
      for (const [method, path, body] of [
        ['POST', SESSION, BODY],
        ['POST', PAIR, { nameplate: '1' }],
        ['GET', '/metrics', undefined],
      ] as const) {
        const answer = await api(relay, method, path, { body });
        assertError(answer, 401, 'KP_ERR_RELAY_UNAUTHORIZED');
        assert.match(String(answer.headers.get('www-authenticate')), /^Bearer/);
      }
    });

    it('a wrong or malformed token → 401', T, async () => {
      const wrong = `kprt_${'A'.repeat(43)}`;
      assertError(await api(relay, 'POST', SESSION, { token: wrong, body: BODY }), 401, 'KP_ERR_RELAY_UNAUTHORIZED');
      assertError(await api(relay, 'POST', SESSION, { token: 'not-a-token', body: BODY }), 401, 'KP_ERR_RELAY_UNAUTHORIZED');
      assertError(
        await api(relay, 'POST', SESSION, { headers: { authorization: `Basic ${relay.tokens.agent}` }, body: BODY }),
        401,
        'KP_ERR_RELAY_UNAUTHORIZED',
      );
    });

    it('a token of the wrong scope → 403 KP_ERR_RELAY_FORBIDDEN', T, async () => {
      assertError(await api(relay, 'POST', SESSION, { token: relay.tokens.client, body: BODY }), 403, 'KP_ERR_RELAY_FORBIDDEN');
      assertError(await api(relay, 'POST', SESSION, { token: relay.tokens.metrics, body: BODY }), 403, 'KP_ERR_RELAY_FORBIDDEN');
      assertError(await api(relay, 'POST', SESSION, { token: relay.tokens.admin, body: BODY }), 403, 'KP_ERR_RELAY_FORBIDDEN');
      assertError(await api(relay, 'POST', PAIR, { token: relay.tokens.agent, body: { nameplate: '1' } }), 403, 'KP_ERR_RELAY_FORBIDDEN');
      assertError(await api(relay, 'GET', '/metrics', { token: relay.tokens.agent }), 403, 'KP_ERR_RELAY_FORBIDDEN');
      assertError(await api(relay, 'DELETE', `${SESSION}/${'A'.repeat(22)}`, { token: relay.tokens.metrics }), 403, 'KP_ERR_RELAY_FORBIDDEN');
    });

    it('a token in the URL query is never accepted (400), with or without the header', T, async () => {
      for (const query of [`?token=${relay.tokens.agent}`, `?access_token=${relay.tokens.agent}`]) {
        assertError(await api(relay, 'POST', SESSION + query, { body: BODY }), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
        assertError(await api(relay, 'POST', SESSION + query, { token: relay.tokens.agent, body: BODY }), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
      }
      assertError(await api(relay, 'GET', `/metrics?token=${relay.tokens.metrics}`), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
    });

    it('tokens never appear in the relay log or the audit log, wherever in the URL they were pasted', T, async () => {
      await api(relay, 'POST', `${SESSION}?token=${relay.tokens.agent}`, { body: BODY });
      await api(relay, 'GET', `/api/v1/${relay.tokens.agent}`);
      await api(relay, 'GET', `/${relay.tokens.metrics}`, { headers: { origin: 'https://evil.example' } });
      const upgrade = await refusedUpgrade(openPeer(relay, 'agent', relay.tokens.admin, 'k'.repeat(43)));
      assert.equal(upgrade.status, 404);
      await api(relay, 'POST', SESSION, { token: relay.tokens.client, body: BODY });
      const { session, pairing } = await connectPair(relay);
      const logs = relay.logs.raw.join('\n');
      const audit = await readFile(relay.auditLog, 'utf8');
      const secrets: string[] = [relay.tokens.agent, relay.tokens.client, relay.tokens.metrics, relay.tokens.admin, session.agent_key, pairing.client_key];
      for (const secret of secrets) {
        assert.ok(!logs.includes(secret), 'no token or key in the relay log');
        assert.ok(!audit.includes(secret), 'no token or key in the audit log');
      }
      assert.ok(!logs.includes('kprt_') && !audit.includes('kprt_'));
    });
  });

  describe('errors', { timeout: 120_000 }, () => {
    it('a body with an unknown property, a wrong protocol or a missing field → 400', T, async () => {
      const token = relay.tokens.agent;
      for (const body of [{ protocol: 'kubepair/1', extra: true }, { protocol: 'kubepair/2' }, {}, [], 'kubepair/1']) {
        assertError(await api(relay, 'POST', SESSION, { token, body }), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
      }
      for (const nameplate of ['0', '01', '-1', '1a', '12345678', '', ' 1']) {
        assertError(await api(relay, 'POST', PAIR, { token: relay.tokens.client, body: { nameplate } }), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
      }
      assertError(await api(relay, 'POST', PAIR, { token: relay.tokens.client, body: { nameplate: 1 } }), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
    });

    it('a body that is not JSON, or not application/json → 400', T, async () => {
      const token = relay.tokens.agent;
      assertError(await api(relay, 'POST', SESSION, { token, rawBody: '{"protocol":', headers: { 'content-type': 'application/json' } }), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
      assertError(await api(relay, 'POST', SESSION, { token, rawBody: '{"protocol":"kubepair/1"}', headers: { 'content-type': 'text/plain' } }), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
      assertError(await api(relay, 'POST', SESSION, { token, rawBody: '{"__proto__":{"x":1},"protocol":"kubepair/1"}', headers: { 'content-type': 'application/json' } }), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
    });

    it('a body over --max-request-body → 413 KP_ERR_RELAY_BODY_TOO_LARGE', T, async () => {
      const rawBody = JSON.stringify({ protocol: 'kubepair/1', pad: 'x'.repeat(8 * 1024) });
      assertError(await api(relay, 'POST', SESSION, { token: relay.tokens.agent, rawBody, headers: { 'content-type': 'application/json' } }), 413, 'KP_ERR_RELAY_BODY_TOO_LARGE');
    });

    it('an unknown nameplate → 404 KP_ERR_RELAY_NAMEPLATE_UNKNOWN; an unknown route → 404 KP_ERR_RELAY_NOT_FOUND', T, async () => {
      assertError(await api(relay, 'POST', PAIR, { token: relay.tokens.client, body: { nameplate: '9999999' } }), 404, 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN');
      assertError(await api(relay, 'GET', '/api/v1/nothing'), 404, 'KP_ERR_RELAY_NOT_FOUND');
      assertError(await api(relay, 'GET', SESSION), 404, 'KP_ERR_RELAY_NOT_FOUND');
      assertError(await api(relay, 'DELETE', `${SESSION}/not-an-id`, { token: relay.tokens.admin }), 400, 'KP_ERR_RELAY_INVALID_REQUEST');
    });

    it('a nameplate another client is pairing with → 409 KP_ERR_RELAY_NAMEPLATE_BUSY', T, async () => {
      const session = await createSessionViaApi(relay);
      await pairViaApi(relay, session.nameplate);
      assertError(await api(relay, 'POST', PAIR, { token: relay.tokens.client, body: { nameplate: session.nameplate } }), 409, 'KP_ERR_RELAY_NAMEPLATE_BUSY');
    });
  });

  describe('Security: browser origins and CORS', { timeout: 120_000 }, () => {
    it('a request with an Origin not in --allow-origin → 403 KP_ERR_RELAY_ORIGIN_DENIED, without CORS headers', T, async () => {
      const answer = await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY, headers: { origin: 'https://evil.example' } });
      assertError(answer, 403, 'KP_ERR_RELAY_ORIGIN_DENIED');
      assert.equal(answer.headers.get('access-control-allow-origin'), null);
      const preflight = await api(relay, 'OPTIONS', SESSION, { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      assertError(preflight, 403, 'KP_ERR_RELAY_ORIGIN_DENIED');
      assertError(await api(relay, 'GET', '/healthz', { headers: { origin: 'null' } }), 403, 'KP_ERR_RELAY_ORIGIN_DENIED');
    });

    it('an allowed origin gets CORS headers and a preflight answer', T, async () => {
      const answer = await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY, headers: { origin: 'https://ops.example.com' } });
      assert.equal(answer.status, 201);
      assert.equal(answer.headers.get('access-control-allow-origin'), 'https://ops.example.com');
      assert.equal(answer.headers.get('vary'), 'Origin');
      const preflight = await api(relay, 'OPTIONS', SESSION, { headers: { origin: 'https://ops.example.com', 'access-control-request-method': 'POST' } });
      assert.equal(preflight.status, 204);
      assert.match(String(preflight.headers.get('access-control-allow-headers')), /authorization/);
    });

    it('without --allow-origin no browser origin is accepted (the default)', T, async () => {
      const plain = await startRelay({});
      try {
        assertError(await api(plain, 'GET', '/healthz', { headers: { origin: 'https://ops.example.com' } }), 403, 'KP_ERR_RELAY_ORIGIN_DENIED');
        assert.equal((await api(plain, 'GET', '/healthz')).status, 200, 'non-browser clients send no Origin and pass');
      } finally {
        await plain.dispose();
      }
    });
  });
});

describe('relay limits on the API', { timeout: 300_000 }, () => {
  it('Security: the 4th request in a minute with --rate-limit 3 → 429 KP_ERR_RELAY_RATE_LIMITED', T, async () => {
    const relay = await startRelay({ args: ['--rate-limit', '3'] });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY })).status, 201);
      const limited = await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY });
      assertError(limited, 429, 'KP_ERR_RELAY_RATE_LIMITED');
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      // Unauthenticated requests are limited too (no token guessing at full speed).
      assertError(await api(relay, 'POST', PAIR, { body: { nameplate: '1' } }), 429, 'KP_ERR_RELAY_RATE_LIMITED');
      assert.equal((await api(relay, 'GET', '/healthz')).status, 200, 'health checks are not rate limited');
      assert.equal(await metric(relay, 'kubepair_relay_limit_hits_total', '{limit="rate_limit"}'), 2);
      const audit = await readFile(relay.auditLog, 'utf8');
      assert.equal(audit.split('\n').filter((line) => line.includes('"event":"limit_hit","limit":"rate_limit"')).length, 1, 'audited once per address and minute');
    } finally {
      await relay.dispose();
    }
  });

  it('Security: refusals for a browser Origin spend the address\'s failure budget and are summed in the audit', T, async () => {
    const relay = await startRelay({ args: ['--rate-limit', '3'] });
    try {
      for (let i = 0; i < 8; i++) {
        assertError(await api(relay, 'GET', '/healthz', { headers: { origin: 'https://evil.example' } }), 403, 'KP_ERR_RELAY_ORIGIN_DENIED');
      }
      // The budget (3 per minute) is spent: every other route answers this address 429, even with a good token.
      const budgetGone = await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY });
      assertError(budgetGone, 429, 'KP_ERR_RELAY_RATE_LIMITED');
      const retryAfter = Number(budgetGone.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: the rest of the address's minute, in seconds: ${budgetGone.headers.get('retry-after')}`);
      assert.equal(await metric(relay, 'kubepair_relay_auth_failures_total', '{where="origin"}', '127.0.0.2'), 8, 'every refusal is counted');
      const stopped = await relay.stop();
      assert.equal(stopped.code, 0);
      const audit = (await readFile(relay.auditLog, 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      const failed = audit.filter((r) => r.event === 'auth_failed');
      assert.equal(failed.length, 1, 'the first refusal is audited at once, the others only counted');
      assert.equal(failed[0]?.reason, 'KP_ERR_RELAY_ORIGIN_DENIED');
      assert.equal(audit.filter((r) => r.event === 'limit_hit' && r.limit === 'auth_failures').length, 1);
      const summaries = audit.filter((r) => r.event === 'refusals_summary');
      assert.deepEqual(
        summaries.map((r) => [r.address, r.auth_failed, r.auth_failures]),
        [['127.0.0.1', 8, 1]],
        'one summary for the address: 8 failures, 1 refused by the budget',
      );
    } finally {
      await relay.dispose();
    }
  });

  it('the default rate limit is 20 per minute per address', T, async () => {
    const relay = await startRelay({});
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) statuses.push((await api(relay, 'POST', PAIR, { token: relay.tokens.client, body: { nameplate: '9' } })).status);
      assert.deepEqual(statuses.slice(0, 20), Array<number>(20).fill(404));
      assert.equal(statuses[20], 429);
    } finally {
      await relay.dispose();
    }
  });

  it('Security: session bounds → 503 KP_ERR_RELAY_CAPACITY (total) and 429 KP_ERR_RELAY_SESSION_QUOTA (per token, per address)', T, async () => {
    const relay = await startRelay({ args: ['--rate-limit', '1000', '--max-sessions', '3', '--max-sessions-per-token', '2', '--max-sessions-per-ip', '3'] });
    try {
      await createSessionViaApi(relay);
      await createSessionViaApi(relay);
      assertError(await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY }), 429, 'KP_ERR_RELAY_SESSION_QUOTA');
      const second = (await import('../../../src/relay/token-file.js')).createToken;
      const other = await second(relay.tokensFile, 'second-agent', 'agent');
      await relay.logs.event('tokens_reloaded', 5_000);
      assert.equal((await api(relay, 'POST', SESSION, { token: other, body: BODY })).status, 201, 'another token has its own quota');
      const full = await api(relay, 'POST', SESSION, { token: other, body: BODY });
      assertError(full, 503, 'KP_ERR_RELAY_CAPACITY');
      assert.equal(full.headers.get('retry-after'), '2', 'a 503 says when to come back (RELAY_RETRY_AFTER_UNAVAILABLE_MS)');
      assert.equal(await metric(relay, 'kubepair_relay_limit_hits_total', '{limit="sessions_per_token"}'), 1);
      assert.equal(await metric(relay, 'kubepair_relay_limit_hits_total', '{limit="sessions_total"}'), 1);
    } finally {
      await relay.dispose();
    }
  });

  it('Security: per-address bound → 429 KP_ERR_RELAY_SESSION_QUOTA', T, async () => {
    const relay = await startRelay({ args: ['--rate-limit', '1000', '--max-sessions-per-ip', '2'] });
    try {
      await createSessionViaApi(relay);
      await createSessionViaApi(relay);
      const refused = await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY });
      assertError(refused, 429, 'KP_ERR_RELAY_SESSION_QUOTA');
      assert.match((refused.body as { error: { message: string } }).error.message, /address/);
    } finally {
      await relay.dispose();
    }
  });

  it('Security: X-Forwarded-For cannot dodge the per-address bound unless the peer is a --trust-proxy', T, async () => {
    const direct = await startRelay({ args: ['--rate-limit', '1000', '--max-sessions-per-ip', '1'] });
    try {
      await createSessionViaApi(direct);
      const spoofed = await api(direct, 'POST', SESSION, { token: direct.tokens.agent, body: BODY, headers: { 'x-forwarded-for': '198.51.100.7' } });
      assertError(spoofed, 429, 'KP_ERR_RELAY_SESSION_QUOTA');
    } finally {
      await direct.dispose();
    }
    const proxied = await startRelay({ args: ['--rate-limit', '1000', '--max-sessions-per-ip', '1', '--trust-proxy', 'loopback'] });
    try {
      for (const client of ['198.51.100.7', '198.51.100.8']) {
        const answer = await api(proxied, 'POST', SESSION, { token: proxied.tokens.agent, body: BODY, headers: { 'x-forwarded-for': client } });
        assert.equal(answer.status, 201, `${client} behind the trusted proxy has its own quota`);
      }
      assertError(
        await api(proxied, 'POST', SESSION, { token: proxied.tokens.agent, body: BODY, headers: { 'x-forwarded-for': '198.51.100.7' } }),
        429,
        'KP_ERR_RELAY_SESSION_QUOTA',
      );
      const audit = await readFile(proxied.auditLog, 'utf8');
      assert.match(audit, /"event":"session_created".*"address":"198\.51\.100\.8"/, 'the audit log records the client address, not the proxy');
    } finally {
      await proxied.dispose();
    }
  });

  it('Security: an attacker with a whole IPv6 /64 gets one budget, not one per address (rate limit and sessions per address)', T, async () => {
    const relay = await startRelay({ args: ['--rate-limit', '4', '--max-sessions-per-ip', '2', '--trust-proxy', 'loopback'] });
    /** A fresh address in 2001:db8:66:1::/64, written in a random one of its textual forms. */
    const inAttackersBlock = (): string => {
      const low = Array.from({ length: 4 }, () => randomInt(0x10000).toString(16));
      return randomInt(2) === 0 ? `2001:db8:66:1:${low.join(':')}` : `2001:0DB8:0066:0001:${low.join(':').toUpperCase()}`;
    };
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 2; i++) {
        statuses.push((await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY, headers: { 'x-forwarded-for': inAttackersBlock() } })).status);
      }
      assert.deepEqual(statuses, [201, 201]);
      assertError(await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY, headers: { 'x-forwarded-for': inAttackersBlock() } }), 429, 'KP_ERR_RELAY_SESSION_QUOTA');
      // Three requests so far from the block: the fourth is the last the rate limit allows, then 429.
      assert.equal((await api(relay, 'POST', PAIR, { token: relay.tokens.client, body: { nameplate: '9' }, headers: { 'x-forwarded-for': inAttackersBlock() } })).status, 404);
      assertError(await api(relay, 'POST', PAIR, { token: relay.tokens.client, body: { nameplate: '9' }, headers: { 'x-forwarded-for': inAttackersBlock() } }), 429, 'KP_ERR_RELAY_RATE_LIMITED');
      // The next /64 and an IPv4 client are counted on their own.
      assert.equal((await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY, headers: { 'x-forwarded-for': '2001:db8:66:2::1' } })).status, 201);
      assert.equal((await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY, headers: { 'x-forwarded-for': '198.51.100.7' } })).status, 201);
      const audit = await readFile(relay.auditLog, 'utf8');
      assert.match(audit, /"event":"session_created".*"address":"2001:db8:66:2::1"/, 'the audit log keeps the whole address');
    } finally {
      await relay.dispose();
    }
  });

  it('Security: a revoked token stops working on the running relay', T, async () => {
    const relay = await startRelay({ args: ['--rate-limit', '1000'] });
    try {
      await createSessionViaApi(relay);
      const { revokeToken } = await import('../../../src/relay/token-file.js');
      const mark = relay.logs.mark();
      await revokeToken(relay.tokensFile, 'test-agent');
      await relay.logs.event('tokens_reloaded', 5_000, mark);
      assertError(await api(relay, 'POST', SESSION, { token: relay.tokens.agent, body: BODY }), 401, 'KP_ERR_RELAY_UNAUTHORIZED');
    } finally {
      await relay.dispose();
    }
  });
});

describe('relay with --auth none', { timeout: 300_000 }, () => {
  it('serves anonymous callers and says so loudly', T, async () => {
    const relay = await startRelay({ anonymous: true });
    try {
      const answer = await api(relay, 'POST', SESSION, { body: BODY });
      assert.equal(answer.status, 201);
      assert.ok(relay.stderr.some((line) => /WARNING: --auth none/.test(line)), 'warning on stderr');
      await relay.logs.event('auth_disabled');
      assert.equal((await api(relay, 'GET', '/metrics')).status, 200);
    } finally {
      await relay.dispose();
    }
  });
});
