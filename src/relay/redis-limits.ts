/**
 * The relay's per-address and per-session limits kept in Redis, so that each holds for a relay
 * cluster as a whole (docs/design.md §8.2 "Shared store", issue 13; operations.md "Limits"): the
 * failure budget, the `/api/*` rate limit, the reconnect budget and the per-address connection
 * cap. (The pairing-attempt counter lives in the session itself: redis-session-store.ts.)
 *
 * Every operation is one Lua script, run atomically by Redis; every key is under the store prefix
 * and carries a TTL, so nothing accumulates:
 *
 * | key                        | what                                              | TTL                      |
 * | `<prefix>fb:<address>`     | unauthenticated failures in the current window     | the window (1 min)        |
 * | `<prefix>rl:<address>`     | `/api/*` requests in the current window            | the window (1 min)        |
 * | `<prefix>rc:<id>/<role>`   | new sockets of a side of an established session    | 1 min                     |
 * | `<prefix>cn:nodes`         | live nodes, scored by the end of their lease       | RELAY_CONNECTION_LEASE_MS |
 * | `<prefix>cn:n:<node>`      | one node's open connections per address            | RELAY_CONNECTION_LEASE_MS |
 *
 * Connections are counted per node: each node writes its own counts under its own key, renews the
 * lease every RELAY_CONNECTION_LEASE_RENEW_MS (rewriting the counts from its own table, which
 * corrects any update lost while Redis was away), and an address's cluster-wide count is the sum
 * over the nodes whose lease has not ended. A node that dies stops renewing: its counts stop
 * counting when its lease ends, at most RELAY_CONNECTION_LEASE_MS (`--node-lease`) later, and the
 * other nodes then sweep its sessions (node-sweep.ts). Lease times are Redis's clock (TIME), so the
 * nodes' clocks do not matter.
 *
 * When Redis cannot be reached (docs/design.md §8.2 "Failure"), each limit decides (written down
 * in operations.md "Limits across a cluster"): the failure budget and the connection cap fall
 * back to the node's own count (never unlimited: at most one node's budget per node); the rate
 * limit and the reconnect budget refuse with 503 KP_ERR_RELAY_STORE_UNAVAILABLE, as the routes and
 * upgrades they guard need Redis anyway. Each Redis failure is reported to `onError` (the
 * store-errors metric). Inputs: addresses and session ids already validated by the relay.
 */
import { createHash } from 'node:crypto';
import { createClient, ErrorReply } from '@redis/client';
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Logger } from 'pino';
import { KubepairError } from '../errors/index.js';
import {
  RELAY_CONNECTION_LEASE_MS,
  RELAY_CONNECTION_LEASE_RENEW_MS,
  RELAY_STORE_COMMAND_TIMEOUT_MS,
  RELAY_STORE_CONNECT_TIMEOUT_MS,
  RELAY_STORE_RECONNECT_MAX_MS,
} from '../limits.js';
import type { PeerRole } from '../protocol/relay-api.js';
import type { AddressLimiter, FailureBudget } from './address-limiter.js';
import { addressLimitKey } from './client-address.js';
import type { SharedAdmission, SharedConnectionCount } from './connection-gate.js';
import type { ReconnectLimit, ReconnectVerdict } from './reconnect-budget.js';
import type { RedisStoreLocation } from './redis-session-store.js';
import { describeError } from './relay-log.js';
import { describeStoreUrl } from './relay-options.js';

/** One more event in a fixed window: `{count, ttl ms}`; the window starts with the first event. */
const WINDOW_SPEND = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`;

/** The events of the current window and the ms left in it, without counting one: `{count, ttl ms}`. */
const WINDOW_READ = `
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {tonumber(n), ttl}`;

/** One more event unless the window has `ARGV[2]` already: `{1, 0}` counted, `{0, ttl ms}` refused. */
const WINDOW_SPEND_WITHIN = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = 0 end
  return {0, ttl}
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {1, 0}`;

/** Redis's clock in ms, and renewing this node's lease (KEYS[1] the live nodes, ARGV[1] node, ARGV[2] lease ms). */
const LEASE_PREAMBLE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)`;

/**
 * Admit one connection from ARGV[3] unless the live nodes hold ARGV[4] already (KEYS[2] this node's
 * counts, ARGV[5] the per-node key prefix): 1 admitted and counted, 0 refused.
 */
const CONNECTION_ADMIT = `${LEASE_PREAMBLE}
local total = 0
for _, node in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  total = total + tonumber(redis.call('HGET', ARGV[5] .. node, ARGV[3]) or '0')
end
if total >= tonumber(ARGV[4]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
redis.call('PEXPIRE', KEYS[2], lease)
return 1`;

/** One connection from ARGV[1] closed (KEYS[1] this node's counts); nothing when the count is gone. */
const CONNECTION_RELEASE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1`;

/** Renew the lease and replace this node's counts (KEYS[2]) with ARGV[3..] (address, count pairs). */
const CONNECTION_RENEW = `${LEASE_PREAMBLE}
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV >= 3 then redis.call('PEXPIRE', KEYS[2], lease) end
return 1`;

/** 1 when node ARGV[1]'s lease (KEYS[1] the live nodes) has not ended by Redis's clock, else 0. */
const LEASE_HELD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ends = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ends and tonumber(ends) > now then return 1 end
return 0`;

/** This node leaves (KEYS[1] the live nodes, KEYS[2] its counts, ARGV[1] node). */
const CONNECTION_LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1`;

const SCRIPTS = {
  windowSpend: WINDOW_SPEND,
  windowRead: WINDOW_READ,
  windowSpendWithin: WINDOW_SPEND_WITHIN,
  connectionAdmit: CONNECTION_ADMIT,
  connectionRelease: CONNECTION_RELEASE,
  connectionRenew: CONNECTION_RENEW,
  connectionLeave: CONNECTION_LEAVE,
  leaseHeld: LEASE_HELD,
} as const;
type ScriptName = keyof typeof SCRIPTS;

const SHAS: Readonly<Record<ScriptName, string>> = Object.fromEntries(
  Object.entries(SCRIPTS).map(([name, text]) => [name, createHash('sha1').update(text).digest('hex')]),
) as Record<ScriptName, string>;

const RECONNECT_WINDOW_MS = 60_000; // 1 min, as reconnect-budget.ts

/** A Redis client that fails its first connection at once and then reconnects with capped backoff (as the session store's). */
function newClient(location: RedisStoreLocation, started: () => boolean) {
  return createClient({
    url: location.url,
    ...(location.password === undefined ? {} : { password: location.password }),
    disableOfflineQueue: true,
    socket: {
      connectTimeout: RELAY_STORE_CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries: number, cause: Error) =>
        started() ? Math.min(100 * 2 ** Math.min(retries, 10), RELAY_STORE_RECONNECT_MAX_MS) : new KubepairError('KP_ERR_RELAY_STORE_UNAVAILABLE', describeError(cause).message, { cause }),
    },
  });
}
type LimitsClient = ReturnType<typeof newClient>;

export interface RedisLimitsOptions extends RedisStoreLocation {
  readonly log?: Logger | undefined;
  /** Told of every Redis failure of a limit (the store-errors metric). */
  readonly onError?: (() => void) | undefined;
}

/** A count in a fixed window: events so far and ms left. */
interface WindowCount {
  readonly count: number;
  readonly ttlMs: number;
}

/** One Redis connection for the limits, and the limits built on it. */
export class RedisLimits {
  readonly #client: LimitsClient;
  readonly #prefix: string;
  readonly #log: Logger | undefined;
  readonly #onError: (() => void) | undefined;
  readonly #leases = new Set<ConnectionLeases>();
  #closed = false;

  /** Connect or fail with KP_ERR_RELAY_STORE_UNAVAILABLE (the relay does not start without them). */
  static async open(options: RedisLimitsOptions): Promise<RedisLimits> {
    const limits = new RedisLimits(options);
    try {
      await limits.#client.connect();
    } catch (err) {
      limits.#client.destroy();
      throw err instanceof KubepairError
        ? err
        : new KubepairError('KP_ERR_RELAY_STORE_UNAVAILABLE', `cannot reach ${describeStoreUrl(options.url)}: ${describeError(err).message}`, { cause: err });
    }
    return limits;
  }

  private constructor(options: RedisLimitsOptions) {
    this.#prefix = options.keyPrefix;
    this.#log = options.log;
    this.#onError = options.onError;
    let started = false;
    this.#client = newClient(options, () => started);
    this.#client.on('error', (err: unknown) => {
      if (started) this.#log?.warn({ event: 'store_error', connection: 'limits', err: describeError(err) }, 'session store (Redis) connection error');
    });
    this.#client.on('ready', () => {
      started = true;
    });
  }

  /** The failure budget for the cluster, on top of this node's own (`local`, which also holds while Redis is away). */
  failureBudget(max: number, windowMs: number, local: AddressLimiter): FailureBudget {
    return new SharedFailureBudget(this, max, windowMs, local);
  }

  /** The reconnect budget for the cluster (`perMinute` new sockets per side of a session). */
  reconnectLimit(perMinute: number): ReconnectLimit {
    return new SharedReconnectLimit(this, perMinute);
  }

  /** A store for @fastify/rate-limit that counts in Redis (a Redis failure refuses the request with 503). */
  rateLimitStore(): FastifyRateLimitStoreCtor {
    return rateLimitStoreOn(this);
  }

  /** This node's part of the per-address connection count; `table` is the node's own count per address. */
  connectionLeases(nodeId: string, maxPerAddress: number, table: () => Iterable<readonly [string, number]>, leaseMs = RELAY_CONNECTION_LEASE_MS): ConnectionLeases {
    const leases = new ConnectionLeases(this, { nodeId, maxPerAddress, table, leaseMs });
    this.#leases.add(leases);
    return leases;
  }

  /**
   * Does node `nodeId` (its --advertise URL, its lease holder name) hold a connection lease now?
   * A live node renews it every RELAY_CONNECTION_LEASE_RENEW_MS; a dead, hung or cut-off node's
   * ends at most RELAY_CONNECTION_LEASE_MS after its last renewal. Rejects when Redis cannot answer.
   */
  async leaseHeld(nodeId: string): Promise<boolean> {
    const [held] = await this.run('leaseHeld', [`${this.#prefix}cn:nodes`], [nodeId]);
    return held === 1;
  }

  /** Close the connection; leases stop renewing (without giving them up: ConnectionLeases.close does that). */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const leases of this.#leases) leases.stopRenewing();
    this.#closed = true;
    if (this.#client.isOpen) await this.#client.close().catch(() => this.#client.destroy());
    else this.#client.destroy();
  }

  get prefix(): string {
    return this.#prefix;
  }

  /** Count one event of `kind` for `subject` in a window of `windowMs`. */
  async windowSpend(kind: string, subject: string, windowMs: number): Promise<WindowCount> {
    const [count, ttl] = await this.run('windowSpend', [`${this.#prefix}${kind}:${subject}`], [String(windowMs)]);
    return { count: count ?? 0, ttlMs: ttl ?? 0 };
  }

  /** The events of `kind` for `subject` in the current window. */
  async windowRead(kind: string, subject: string): Promise<WindowCount> {
    const [count, ttl] = await this.run('windowRead', [`${this.#prefix}${kind}:${subject}`], []);
    return { count: count ?? 0, ttlMs: ttl ?? 0 };
  }

  /** Run a script; Redis trouble becomes KP_ERR_RELAY_STORE_UNAVAILABLE (and is reported). */
  async run(name: ScriptName, keys: readonly string[], args: readonly string[]): Promise<number[]> {
    if (this.#closed) throw new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN', 'the session store is closed');
    const options = { timeout: RELAY_STORE_COMMAND_TIMEOUT_MS, rejectInFlight: true };
    const tail = [String(keys.length), ...keys, ...args];
    let reply: unknown;
    try {
      try {
        reply = await this.#client.sendCommand(['EVALSHA', SHAS[name], ...tail], options);
      } catch (err) {
        if (!(err instanceof ErrorReply) || !err.message.startsWith('NOSCRIPT')) throw err;
        reply = await this.#client.sendCommand(['EVAL', SCRIPTS[name], ...tail], options);
      }
    } catch (err) {
      this.#onError?.();
      const reason = err instanceof ErrorReply ? (err.message.split(' ')[0] ?? 'error') : describeError(err).message;
      throw new KubepairError('KP_ERR_RELAY_STORE_UNAVAILABLE', `Redis: ${reason}`, { cause: err });
    }
    const values = Array.isArray(reply) ? reply : [reply];
    return values.map((value) => Number(value));
  }
}

/**
 * The failure budget of the cluster: spent in Redis and in this node's own AddressLimiter, exhausted
 * when either is. While Redis is away, the node's own budget still holds (never unlimited). Both
 * count an address under its limit key (`addressLimitKey`), as the memory budget does.
 */
class SharedFailureBudget implements FailureBudget {
  readonly #limits: RedisLimits;
  readonly #max: number;
  readonly #windowMs: number;
  readonly #local: AddressLimiter;

  constructor(limits: RedisLimits, max: number, windowMs: number, local: AddressLimiter) {
    this.#limits = limits;
    this.#max = max;
    this.#windowMs = windowMs;
    this.#local = local;
  }

  async exhausted(address: string): Promise<boolean> {
    if (this.#local.limited(address)) return true;
    const shared = await this.#limits.windowRead('fb', addressLimitKey(address)).catch(() => undefined);
    return shared !== undefined && shared.count >= this.#max;
  }

  async spend(address: string): Promise<void> {
    this.#local.hit(address);
    await this.#limits.windowSpend('fb', addressLimitKey(address), this.#windowMs).catch(() => undefined);
  }

  async retryAfterMs(address: string): Promise<number> {
    const local = await this.#local.retryAfterMs(address);
    const shared = await this.#limits.windowRead('fb', addressLimitKey(address)).catch(() => undefined);
    return Math.max(local, shared?.ttlMs ?? 0);
  }
}

/** The reconnect budget of each session side, counted in Redis; a Redis failure refuses (503). */
class SharedReconnectLimit implements ReconnectLimit {
  readonly #limits: RedisLimits;
  readonly #perMinute: number;

  constructor(limits: RedisLimits, perMinute: number) {
    this.#limits = limits;
    this.#perMinute = perMinute;
  }

  async attempt(id: string, role: PeerRole): Promise<ReconnectVerdict> {
    const [allowed, ttl] = await this.#limits.run('windowSpendWithin', [`${this.#limits.prefix}rc:${id}/${role}`], [String(RECONNECT_WINDOW_MS), String(this.#perMinute)]);
    return allowed === 1 ? { allowed: true, retryAfterMs: 0 } : { allowed: false, retryAfterMs: ttl ?? 0 };
  }

  /** The counts end with their minute: nothing to forget early. */
  forget(): void {}
}

/** @fastify/rate-limit's store interface over `limits` (keys `rl:<address>`). */
function rateLimitStoreOn(limits: RedisLimits): FastifyRateLimitStoreCtor {
  class SharedRateLimitStore implements FastifyRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      limits.windowSpend('rl', key, timeWindow).then(
        (count) => callback(null, { current: count.count, ttl: count.ttlMs }),
        (err: unknown) => callback(err instanceof Error ? err : new KubepairError('KP_ERR_RELAY_STORE_UNAVAILABLE', String(err))),
      );
    }
    child(): FastifyRateLimitStore {
      return new SharedRateLimitStore();
    }
  }
  return SharedRateLimitStore;
}

/**
 * This node's lease on its share of the per-address connection counts (see the header): counts
 * written on admit and release, the lease renewed (and the counts rewritten from the node's table)
 * every RELAY_CONNECTION_LEASE_RENEW_MS, and given up on close.
 */
export class ConnectionLeases implements SharedConnectionCount {
  readonly #limits: RedisLimits;
  readonly #nodeId: string;
  readonly #max: number;
  readonly #table: () => Iterable<readonly [string, number]>;
  readonly #leaseMs: string;
  readonly #nodesKey: string;
  readonly #ownKey: string;
  #timer: NodeJS.Timeout | undefined;

  /** `leaseMs` (RELAY_CONNECTION_LEASE_MS in a relay) is renewed every third of it. */
  constructor(
    limits: RedisLimits,
    options: { readonly nodeId: string; readonly maxPerAddress: number; readonly table: () => Iterable<readonly [string, number]>; readonly leaseMs: number },
  ) {
    this.#limits = limits;
    this.#nodeId = options.nodeId;
    this.#max = options.maxPerAddress;
    this.#table = options.table;
    this.#leaseMs = String(options.leaseMs);
    this.#nodesKey = `${limits.prefix}cn:nodes`;
    this.#ownKey = `${limits.prefix}cn:n:${options.nodeId}`;
    const renewEvery = options.leaseMs === RELAY_CONNECTION_LEASE_MS ? RELAY_CONNECTION_LEASE_RENEW_MS : Math.max(1, Math.floor(options.leaseMs / 3));
    this.#timer = setInterval(() => void this.renew().catch(() => undefined), renewEvery);
    this.#timer.unref();
    // At once: a node restarted under the same id must not inherit the counts its previous process left.
    void this.renew().catch(() => undefined);
  }

  /** Count one more connection from `address` unless the cluster holds the cap already. */
  async admit(address: string): Promise<SharedAdmission> {
    try {
      const [admitted] = await this.#limits.run('connectionAdmit', [this.#nodesKey, this.#ownKey], [this.#nodeId, this.#leaseMs, address, String(this.#max), `${this.#limits.prefix}cn:n:`]);
      return admitted === 1 ? 'counted' : 'refused';
    } catch {
      return 'unknown';
    }
  }

  /** A counted connection from `address` closed. */
  async release(address: string): Promise<void> {
    // Lost while Redis is away: the next renewal rewrites the count from the node's table.
    await this.#limits.run('connectionRelease', [this.#ownKey], [address]).catch(() => undefined);
  }

  /** Renew the lease and rewrite this node's counts from its table. */
  async renew(): Promise<void> {
    const pairs: string[] = [];
    for (const [address, count] of this.#table()) pairs.push(address, String(count));
    await this.#limits.run('connectionRenew', [this.#nodesKey, this.#ownKey], [this.#nodeId, this.#leaseMs, ...pairs]);
  }

  /** Stop the renewal timer (the lease then ends by itself, as a dead node's does). */
  stopRenewing(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stop renewing and give the lease up (a clean shutdown frees its counts at once). */
  async close(): Promise<void> {
    this.stopRenewing();
    await this.#limits.run('connectionLeave', [this.#nodesKey, this.#ownKey], [this.#nodeId]).catch(() => undefined);
  }
}
