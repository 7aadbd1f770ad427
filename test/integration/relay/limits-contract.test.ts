/**
 * The relay's limits against both of their homes (docs/design.md §8.2, issue 13): the failure
 * budget and the reconnect budget kept in one process's memory (address-limiter.ts,
 * reconnect-budget.ts) and in Redis (redis-limits.ts) keep the same promises; then what only the
 * Redis ones must hold: two "nodes" (two RedisLimits on one real redis-server, started here on
 * 127.0.0.1 with a free port and stopped by pid) spend one budget, one `/api/*` rate-limit count
 * and one connection cap; a node that stops renewing its connection lease is forgotten when the
 * lease ends; every key is under the prefix and expires; and, with Redis gone, each limit fails
 * the way operations.md "Limits across a cluster" says (the failure budget and the connection
 * cap to the node's own count, the rate limit and the reconnect budget closed).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient } from '@redis/client';
import { isKubepairError } from '../../../src/errors/index.js';
import { AddressLimiter } from '../../../src/relay/address-limiter.js';
import type { FailureBudget } from '../../../src/relay/address-limiter.js';
import { ReconnectBudget } from '../../../src/relay/reconnect-budget.js';
import type { ReconnectLimit } from '../../../src/relay/reconnect-budget.js';
import { RedisLimits } from '../../../src/relay/redis-limits.js';
import { newSessionId } from '../../../src/relay/secrets.js';
import { startRedis } from '../../helpers/redis-server.js';
import type { TestRedis } from '../../helpers/redis-server.js';
import { waitUntilAsync } from '../../helpers/wait-until.js';

const WINDOW_MS = 60_000;
const BUDGET = 3;

/** A random address inside the IPv6 /64 `prefix` (four groups), written in full. */
function addressIn64(prefix: string): string {
  const low = randomBytes(8).toString('hex').match(/.{4}/g)!;
  return `${prefix}:${low.join(':')}`;
}
const PER_MINUTE = 2;

let redis: TestRedis | undefined;
let prefixes = 0;
const opened: RedisLimits[] = [];

function freshPrefix(): string {
  prefixes++;
  return `kp-limits-${process.pid}-${prefixes}:`;
}

async function openLimits(prefix: string, url = redis?.url): Promise<RedisLimits> {
  if (url === undefined) throw new Error('redis-server is not running');
  const limits = await RedisLimits.open({ url, keyPrefix: prefix });
  opened.push(limits);
  return limits;
}

/** Every key under `prefix`, with its PTTL. */
async function keysUnder(prefix: string): Promise<Map<string, number>> {
  const client = createClient({ url: redis!.url });
  await client.connect();
  try {
    const found = new Map<string, number>();
    for (const key of await client.keys(`${prefix}*`)) found.set(key, await client.pTTL(key));
    return found;
  } finally {
    await client.close();
  }
}

/** How a test gets fresh limits of one kind (each call: another node of the same cluster). */
interface LimitKind {
  readonly name: string;
  failureBudget(prefix: string): Promise<FailureBudget>;
  reconnectLimit(prefix: string): Promise<ReconnectLimit>;
}

const KINDS: readonly LimitKind[] = [
  {
    name: 'memory',
    failureBudget: () => Promise.resolve(new AddressLimiter(BUDGET, WINDOW_MS, 100)),
    reconnectLimit: () => Promise.resolve(new ReconnectBudget({ perMinute: PER_MINUTE, capacity: 100 })),
  },
  {
    name: 'redis',
    failureBudget: async (prefix) => (await openLimits(prefix)).failureBudget(BUDGET, WINDOW_MS, new AddressLimiter(BUDGET, WINDOW_MS, 100)),
    reconnectLimit: async (prefix) => (await openLimits(prefix)).reconnectLimit(PER_MINUTE),
  },
];

before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const limits of opened) await limits.close();
  await redis?.stop();
});

for (const kind of KINDS) {
  describe(`relay limits contract: ${kind.name}`, { timeout: 60_000 }, () => {
    it('the failure budget: exhausted after its budget, per address, with the time left in the window', async () => {
      const budget = await kind.failureBudget(freshPrefix());
      for (let i = 0; i < BUDGET; i++) {
        assert.equal(await budget.exhausted('192.0.2.1'), false, `before failure ${i + 1}`);
        await budget.spend('192.0.2.1');
      }
      assert.equal(await budget.exhausted('192.0.2.1'), true);
      assert.equal(await budget.exhausted('192.0.2.2'), false, 'another address has its own budget');
      const retry = await budget.retryAfterMs('192.0.2.1');
      assert.ok(retry > 0 && retry <= WINDOW_MS, `retry after ${retry} ms`);
      assert.equal(await budget.retryAfterMs('192.0.2.3'), 0, 'no window, no wait');
    });

    it('the failure budget counts an IPv6 /64 as one address: spent from fresh addresses of one /64, exhausted for all of it', async () => {
      const budget = await kind.failureBudget(freshPrefix());
      for (let i = 0; i < BUDGET; i++) await budget.spend(addressIn64('2001:db8:7:8'));
      const sibling = addressIn64('2001:db8:7:8');
      assert.equal(await budget.exhausted(sibling), true, `${sibling}: same /64`);
      assert.equal(await budget.exhausted('2001:db8:7:8::'), true, 'the /64 written short');
      assert.ok((await budget.retryAfterMs(sibling)) > 0, 'the /64 waits for its window');
      assert.equal(await budget.exhausted(addressIn64('2001:db8:7:9')), false, 'the next /64 has its own budget');
    });

    it('the reconnect budget: per side of a session, refused with the time left once spent', async () => {
      const limit = await kind.reconnectLimit(freshPrefix());
      const id = newSessionId();
      for (let i = 0; i < PER_MINUTE; i++) assert.deepEqual(await limit.attempt(id, 'client'), { allowed: true, retryAfterMs: 0 }, `socket ${i + 1}`);
      const refused = await limit.attempt(id, 'client');
      assert.equal(refused.allowed, false);
      assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 60_000, `retry after ${refused.retryAfterMs} ms`);
      assert.equal((await limit.attempt(id, 'agent')).allowed, true, 'the other side has its own budget');
      assert.equal((await limit.attempt(newSessionId(), 'client')).allowed, true, 'another session has its own budget');
    });
  });
}

describe('Security: relay limits shared through Redis hold for two nodes together', { timeout: 90_000 }, () => {
  it('the failure budget spent on two nodes is one budget: exhausted on both once the sum reaches it', async () => {
    const prefix = freshPrefix();
    const nodes = await Promise.all([0, 1].map(async () => (await openLimits(prefix)).failureBudget(BUDGET, WINDOW_MS, new AddressLimiter(BUDGET, WINDOW_MS, 100))));
    for (let i = 0; i < BUDGET; i++) await nodes[i % 2]!.spend('198.51.100.7');
    for (const [index, node] of nodes.entries()) assert.equal(await node.exhausted('198.51.100.7'), true, `node ${index}`);
  });

  it('the shared failure budget keys an IPv6 /64 as one: fresh addresses of one /64 spent on two nodes exhaust it on both', async () => {
    const prefix = freshPrefix();
    const nodes = await Promise.all([0, 1].map(async () => (await openLimits(prefix)).failureBudget(BUDGET, WINDOW_MS, new AddressLimiter(BUDGET, WINDOW_MS, 100))));
    // Neither node's own floor reaches the budget (it sees half): only Redis's count, keyed by the /64, can.
    for (let i = 0; i < BUDGET; i++) await nodes[i % 2]!.spend(addressIn64('2001:db8:a:b'));
    for (const [index, node] of nodes.entries()) assert.equal(await node.exhausted(addressIn64('2001:db8:a:b')), true, `node ${index}`);
  });

  it('the reconnect budget of a side is one budget across nodes', async () => {
    const prefix = freshPrefix();
    const nodes = await Promise.all([0, 1].map(async () => (await openLimits(prefix)).reconnectLimit(PER_MINUTE)));
    const id = newSessionId();
    for (let i = 0; i < PER_MINUTE; i++) assert.equal((await nodes[i % 2]!.attempt(id, 'agent')).allowed, true);
    for (const [index, node] of nodes.entries()) assert.equal((await node.attempt(id, 'agent')).allowed, false, `node ${index}`);
  });

  it('the /api rate-limit store counts one window for all nodes and reports its time left', async () => {
    const prefix = freshPrefix();
    const stores = await Promise.all([0, 1].map(async () => new ((await openLimits(prefix)).rateLimitStore())({})));
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await new Promise<{ current: number; ttl: number }>((resolve, reject) => {
        stores[i % 2]!.incr('203.0.113.9', (err, res) => (err || res === undefined ? reject(err ?? new Error('no result')) : resolve(res)), WINDOW_MS, 20);
      });
      assert.ok(result.ttl > 0 && result.ttl <= WINDOW_MS, `ttl ${result.ttl}`);
      counts.push(result.current);
    }
    assert.deepEqual(counts, [1, 2, 3, 4, 5]);
  });

  it('the connection cap holds for two nodes together; a node that stops renewing its lease is forgotten when the lease ends', async () => {
    const prefix = freshPrefix();
    const LEASE_MS = 1_500;
    const tables = [new Map<string, number>(), new Map<string, number>()];
    const nodeLimits = await Promise.all([0, 1].map(() => openLimits(prefix)));
    const [a, b] = nodeLimits.map((limits, i) => limits.connectionLeases(`http://node-${i}`, 3, () => tables[i]!.entries(), LEASE_MS));
    const admit = async (node: number): Promise<string> => {
      const leases = node === 0 ? a! : b!;
      const answer = await leases.admit('192.0.2.50');
      if (answer === 'counted') tables[node]!.set('192.0.2.50', (tables[node]!.get('192.0.2.50') ?? 0) + 1);
      return answer;
    };
    assert.deepEqual([await admit(0), await admit(1), await admit(1)], ['counted', 'counted', 'counted']);
    assert.equal(await admit(0), 'refused', 'the cap is for the two nodes together');
    assert.equal(await a!.admit('192.0.2.51'), 'counted', 'another address has its own cap');
    // A connection closing on a node frees its place at once.
    await b!.release('192.0.2.50');
    tables[1]!.set('192.0.2.50', 1);
    assert.equal(await admit(0), 'counted');
    assert.equal(await admit(0), 'refused');
    // Node b dies (stops renewing, never leaves): its one connection stops counting once its lease ends.
    await nodeLimits[1]!.close();
    await waitUntilAsync(async () => (await admit(0)) === 'counted', 10 * LEASE_MS, "node b's lease to end");
    assert.equal(await admit(0), 'refused', 'only the dead node\'s one place came back');
    await a!.close();
  });

  it('every key a limit writes is under the store prefix and expires', async () => {
    const prefix = freshPrefix();
    const limits = await openLimits(prefix);
    const budget = limits.failureBudget(BUDGET, WINDOW_MS, new AddressLimiter(BUDGET, WINDOW_MS, 100));
    await budget.spend('192.0.2.60');
    await limits.reconnectLimit(PER_MINUTE).attempt(newSessionId(), 'client');
    const store = new (limits.rateLimitStore())({});
    await new Promise<void>((resolve, reject) => store.incr('192.0.2.60', (err) => (err ? reject(err) : resolve()), WINDOW_MS, 20));
    const table = new Map([['192.0.2.60', 1]]);
    const leases = limits.connectionLeases('http://node-x', 5, () => table.entries());
    assert.equal(await leases.admit('192.0.2.60'), 'counted');
    await leases.renew();
    const keys = await keysUnder(prefix);
    assert.deepEqual([...keys.keys()].map((key) => key.slice(prefix.length).split(':')[0]).sort(), ['cn', 'cn', 'fb', 'rc', 'rl']);
    for (const [key, ttl] of keys) assert.ok(ttl > 0, `${key} expires (PTTL ${ttl})`);
    await leases.close();
    assert.deepEqual([...(await keysUnder(`${prefix}cn:`)).keys()], [], 'a node that leaves takes its counts with it');
  });
});

describe('Security: relay limits when Redis cannot be reached', { timeout: 90_000 }, () => {
  let lonely: TestRedis | undefined;
  before(async () => {
    lonely = await startRedis();
  });
  after(async () => {
    await lonely?.stop();
  });

  it('the failure budget falls back to the node\'s own (never unlimited), the rate limit and reconnect budget refuse with KP_ERR_RELAY_STORE_UNAVAILABLE, the connection cap answers unknown', async () => {
    const errors: string[] = [];
    const limits = await RedisLimits.open({ url: lonely!.url, keyPrefix: freshPrefix(), onError: () => errors.push('limits') });
    opened.push(limits);
    const budget = limits.failureBudget(BUDGET, WINDOW_MS, new AddressLimiter(BUDGET, WINDOW_MS, 100));
    const leases = limits.connectionLeases('http://node-y', 5, () => []);
    await lonely!.kill();
    for (let i = 0; i < BUDGET; i++) {
      assert.equal(await budget.exhausted('192.0.2.70'), false, `failure ${i + 1}`);
      await budget.spend('192.0.2.70');
    }
    assert.equal(await budget.exhausted('192.0.2.70'), true, 'the node still counts on its own');
    await assert.rejects(limits.reconnectLimit(PER_MINUTE).attempt(newSessionId(), 'agent'), (err) => isKubepairError(err, 'KP_ERR_RELAY_STORE_UNAVAILABLE'));
    const store = new (limits.rateLimitStore())({});
    const incrError = await new Promise<unknown>((resolve) => store.incr('192.0.2.70', (err) => resolve(err), WINDOW_MS, 20));
    assert.ok(isKubepairError(incrError, 'KP_ERR_RELAY_STORE_UNAVAILABLE'), String(incrError));
    assert.equal(await leases.admit('192.0.2.70'), 'unknown');
    assert.ok(errors.length >= 3, `every failure reported (${errors.length})`);
    leases.stopRenewing();
  });
});
