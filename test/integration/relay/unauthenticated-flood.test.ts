/**
 * A flood of unauthenticated requests against a real relay process, as an attacker without a
 * token would send it (issue 10: 40,000 refused `GET /metrics` overflowed the relay's audit
 * backlog and `/readyz` stayed 503 for good). The audit backlog is made small so that a few
 * thousand requests are enough to overflow it the old way.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import { apiFrom, startRelay, within } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';

const FLOOD = 3_000;
const CONCURRENCY = 32;

/** One refused request of the flood: its status (0 when the connection failed). */
function attack(relay: StartedRelay, agent: Agent, i: number): Promise<number> {
  const url = new URL(relay.url);
  const badToken = `kprt_${randomBytes(32).toString('base64url')}`;
  const badKey = randomBytes(32).toString('base64url');
  const kind = i % 4;
  const options =
    kind === 3
      ? {
          // a WebSocket upgrade with a made-up session and key
          path: `/ws/v1/agent/${randomBytes(16).toString('base64url')}`,
          method: 'GET',
          agent: false as const,
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': randomBytes(16).toString('base64'),
            'sec-websocket-protocol': 'kubepair.v1',
            authorization: `Bearer ${badKey}`,
          },
        }
      : kind === 2
        ? { path: '/no/such/route', method: 'GET', agent, headers: {} }
        : { path: '/metrics', method: 'GET', agent, headers: { authorization: `Bearer ${badToken}` } };
  return new Promise<number>((resolve) => {
    const req = httpRequest({ host: url.hostname, port: url.port, ...options }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function flood(relay: StartedRelay): Promise<Map<number, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < FLOOD) {
      const status = await attack(relay, agent, next++);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  try {
    await within(120_000, 'the flood', Promise.all(Array.from({ length: CONCURRENCY }, worker)));
  } finally {
    agent.destroy();
  }
  return statuses;
}

/** GET /readyz from `from` until it answers 200, at most `timeoutMs`; the last status. */
async function readyWithin(relay: StartedRelay, from: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let status = 0;
  for (let attempt = 0; attempt < timeoutMs / 50 && Date.now() < deadline; attempt++) {
    status = (await apiFrom(relay, from, 'GET', '/readyz')).status;
    if (status === 200) return status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return status;
}

describe('Security: an unauthenticated flood', { timeout: 300_000 }, () => {
  it(`${FLOOD} refused requests (bad token on /metrics, unknown route, bad WebSocket key): summed audit, ready again, others still served`, { timeout: 240_000 }, async () => {
    const relay = await startRelay({ logLevel: 'warn', args: ['--audit-backlog', '16'] });
    try {
      const started = Date.now();
      const statuses = await flood(relay);
      // Summaries are per minute: a flood slowed down by a busy machine may span two windows.
      const windows = Math.ceil((Date.now() - started) / 60_000) + 1;
      const refused = [401, 404, 429].reduce((sum, status) => sum + (statuses.get(status) ?? 0), 0);
      assert.equal(refused, FLOOD, `every request refused: ${JSON.stringify([...statuses])}`);
      assert.ok((statuses.get(429) ?? 0) >= FLOOD - 100, `past the failure budget the address gets 429: ${JSON.stringify([...statuses])}`);

      assert.equal(await readyWithin(relay, '127.0.0.1', 15_000), 200, '/readyz answers 200 (again) within the bound');
      assert.equal(await readyWithin(relay, '127.0.0.2', 15_000), 200);
      const created = await apiFrom(relay, '127.0.0.2', 'POST', '/api/v1/sessions', { token: relay.tokens.agent, body: { protocol: 'kubepair/1' } });
      assert.equal(created.status, 201, `a legitimate agent on another address still creates sessions: ${JSON.stringify(created.body)}`);
      const scrape = await apiFrom(relay, '127.0.0.2', 'GET', '/metrics', { token: relay.tokens.metrics });
      assert.equal(scrape.status, 200, 'and Prometheus still scrapes');

      assert.equal((await relay.stop()).code, 0);
      const audit = (await readFile(relay.auditLog, 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      const fromAttacker = audit.filter((r) => r.address === '127.0.0.1');
      assert.deepEqual(
        [...new Set(fromAttacker.map((r) => r.event))],
        ['auth_failed', 'limit_hit', 'refusals_summary'],
        'the first failure, the first 429 of the budget, then a summary',
      );
      assert.ok(fromAttacker.length <= 3 * windows, `${fromAttacker.length} records for the attacker's address: a few per minute, not one per request`);
      const summed = fromAttacker
        .filter((r) => r.event === 'refusals_summary')
        .reduce((sum, r) => sum + Number(r.auth_failed) + Number(r.auth_failures) + Number(r.rate_limit), 0);
      assert.equal(summed, FLOOD, 'every refused request is counted in exactly one summary');
      assert.deepEqual(audit.filter((r) => r.event === 'audit_records_lost'), [], 'no audit record was lost');
      assert.ok(audit.length <= 3 * windows + 5, `${audit.length} audit lines for ${FLOOD} requests`);
    } finally {
      await relay.dispose();
    }
  });
});
