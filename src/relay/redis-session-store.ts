/**
 * Redis SessionStore: the sessions of several relay nodes in one Redis (docs/design.md §8.2,
 * `kubepair relay --store redis://...`). It keeps every promise of session-store.ts, for all
 * nodes together:
 *
 * - each operation is one Lua script (redis-session-scripts.ts), run atomically by Redis: the
 *   lowest free nameplate outside the quarantine and the session bounds (total, per token, per
 *   address) are decided in one step, so two nodes never hand out one nameplate and a bound holds
 *   for the cluster. `claim` is two scripts because the client key is a MAC over the session it
 *   finds: the first finds the waiting session, the second takes it only if the same session
 *   still waits there (exactly one of two concurrent claims wins, the other is BUSY);
 * - sockets carry an attachment tag (any string, unique per socket): `suspend` and `detach` with a
 *   tag that is no longer the side's current one are ignored, so the end of an older socket never
 *   undoes a newer socket's attach, on this node or another;
 * - time: each session has one entry in a deadline index (a sorted set scored by its next
 *   deadline: end, resume deadline, claim connect deadline). A script that makes a deadline the
 *   earliest publishes it; every node keeps one timer armed at the earliest deadline it knows
 *   (read again whenever the connection is (re)established). When the timer fires, the `due`
 *   script processes what is due, exactly once across nodes, and the node that ran it emits
 *   `expired` / `attemptEnded` / `resumeExpired` like the memory store. Nothing polls. Key
 *   expiry with keyspace notifications was not used: it needs server configuration that managed
 *   Redis services often forbid, every node would receive each expiry, and an expired key can no
 *   longer say what the session was;
 * - Redis holds what the relay's memory holds and no more: session ids, nameplates, states,
 *   counters, token *names*, creator addresses, and SHA-256 digests of the per-session keys; never
 *   a key, a relay token or anything else that opens a session's sockets (test/security/
 *   redis-contents.test.ts reads every key to check it);
 * - Redis unreachable: every operation rejects with KP_ERR_RELAY_STORE_UNAVAILABLE (HTTP 503) at
 *   once (no offline queue) or after RELAY_STORE_COMMAND_TIMEOUT_MS, `healthy` is false (the relay's
 *   /readyz fails), and the client reconnects with capped backoff; when it is back, the timer is
 *   re-armed from the index. Opening the store fails with the same code when Redis cannot be
 *   reached at all, so a relay does not start without its store.
 *
 * Credentials (URL user:password, or a password file) go to the client only; what is logged or
 * shown is `describeStoreUrl()`, which has none. Inputs: produced by the relay after validation.
 */
import { EventEmitter } from 'node:events';
import { createClient, ErrorReply } from '@redis/client';
import type { RedisClientType } from '@redis/client';
import type { Logger } from 'pino';
import { createHash, randomBytes } from 'node:crypto';
import { KubepairError } from '../errors/index.js';
import {
  NAMEPLATE_MAX_DIGITS,
  RELAY_NAMEPLATE_QUARANTINE_MAX,
  RELAY_STORE_COMMAND_TIMEOUT_MS,
  RELAY_STORE_CONNECT_TIMEOUT_MS,
  RELAY_STORE_DUE_BATCH,
  RELAY_STORE_RECONNECT_MAX_MS,
} from '../limits.js';
import type { PeerRole } from '../protocol/relay-api.js';
import { describeError } from './relay-log.js';
import { describeStoreUrl } from './relay-options.js';
import { SESSION_SCRIPTS } from './redis-session-scripts.js';
import type { SessionScriptName } from './redis-session-scripts.js';
import type {
  AttachResult,
  Attachment,
  DetachResult,
  AttemptEndReason,
  AttemptOutcome,
  NewClaim,
  NewSession,
  NodeSweepReport,
  RecreatedSession,
  SessionActor,
  SessionCounts,
  SessionEndedElsewhere,
  SessionLimit,
  SessionPolicy,
  SessionRecord,
  SessionState,
  SessionStore,
  SessionStoreEvents,
} from './session-store.js';
import { SessionLimitError } from './session-store.js';
import { addressLimitKey } from './client-address.js';

/** Where the store is (already validated by relay-options.ts parseStoreUrl). */
export interface RedisStoreLocation {
  /** `redis://` or `rediss://` URL; may carry user:password, never logged. */
  readonly url: string;
  /** A password read from a file (overrides one in the URL). */
  readonly password?: string | undefined;
  /** Prefix of every key and channel, e.g. `kubepair:`. */
  readonly keyPrefix: string;
}

export interface RedisSessionStoreOptions extends RedisStoreLocation {
  readonly policy: SessionPolicy;
  /** Wall clock for nameplate quarantine (a fake one in tests); deadlines use Date.now(). */
  readonly now?: () => number;
  readonly log?: Logger | undefined;
  /** Told of every operation Redis failed (the store-errors metric). */
  readonly onError?: (() => void) | undefined;
}

const MAX_NAMEPLATE = 10 ** NAMEPLATE_MAX_DIGITS - 1;
/** Node timers wait at most 2^31-1 ms; a later deadline is re-checked then. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
const STALE_CODE_HINT = 'expired, was used already, or was mistyped; ask for a new code';

/** A session as a script answers it: the hash's fields, all strings (numbers may come as numbers). */
type RawSession = Record<string, string | number | undefined>;

interface RawOutcome {
  readonly session: RawSession;
  readonly reason: AttemptEndReason;
  readonly attempts: number;
  readonly destroyed: boolean;
}

/** One node's sweep as the script answers it (an empty list comes as an object from cjson). */
interface RawSweep {
  readonly node: string;
  readonly suspended: number;
  readonly released: number;
  readonly ended: Array<{ readonly id: string; readonly reason: 'agent_left' | 'client_left' }> | Record<string, never>;
  readonly left: number;
}

type DueEvent =
  | { readonly kind: 'expired' | 'resumeExpired'; readonly session: RawSession }
  | { readonly kind: 'attemptEnded'; readonly outcome: RawOutcome };

export class RedisSessionStore extends EventEmitter<SessionStoreEvents> implements SessionStore {
  readonly #client: RedisClientType;
  readonly #subscriber: RedisClientType;
  readonly #prefix: string;
  /** This store instance's id in what its scripts publish on the `ended` channel (it ignores its own). */
  readonly #origin = randomBytes(9).toString('base64url');
  readonly #policyJson: string;
  readonly #policy: SessionPolicy;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #onError: (() => void) | undefined;
  readonly #shas = new Map<SessionScriptName, string>();
  #timer: NodeJS.Timeout | undefined;
  #armedAt: number | undefined;
  #processing = false;
  #again = false;
  #closed = false;
  #wasReady = false;

  /** Connect to Redis (both connections) or fail with KP_ERR_RELAY_STORE_UNAVAILABLE. */
  static async open(options: RedisSessionStoreOptions): Promise<RedisSessionStore> {
    const store = new RedisSessionStore(options);
    try {
      await store.#start();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err instanceof KubepairError
        ? err
        : new KubepairError('KP_ERR_RELAY_STORE_UNAVAILABLE', `cannot reach ${describeStoreUrl(options.url)}: ${describeError(err).message}`, { cause: err });
    }
    return store;
  }

  private constructor(options: RedisSessionStoreOptions) {
    super();
    this.#prefix = options.keyPrefix;
    this.#policy = options.policy;
    this.#policyJson = JSON.stringify({ ...options.policy, maxNameplate: MAX_NAMEPLATE, quarantineCapacity: RELAY_NAMEPLATE_QUARANTINE_MAX });
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#onError = options.onError;
    let started = false;
    const client = createClient({
      url: options.url,
      ...(options.password === undefined ? {} : { password: options.password }),
      disableOfflineQueue: true,
      socket: {
        connectTimeout: RELAY_STORE_CONNECT_TIMEOUT_MS,
        // Before the first connection: fail (the relay must not start without its store); after: retry, capped.
        reconnectStrategy: (retries: number, cause: Error) =>
          started ? Math.min(100 * 2 ** Math.min(retries, 10), RELAY_STORE_RECONNECT_MAX_MS) : new KubepairError('KP_ERR_RELAY_STORE_UNAVAILABLE', describeError(cause).message, { cause }),
      },
    }) as unknown as RedisClientType;
    this.#client = client;
    this.#subscriber = client.duplicate();
    for (const [name, connection] of [
      ['commands', this.#client],
      ['deadlines', this.#subscriber],
    ] as const) {
      connection.on('error', (err: unknown) => {
        // The message of a connection error names host and port at most, never the password.
        if (started) this.#log?.warn({ event: 'store_error', connection: name, err: describeError(err) }, 'session store (Redis) connection error');
      });
      connection.on('ready', () => {
        if (!started) return;
        this.#log?.info({ event: 'store_ready', connection: name }, 'session store (Redis) connected');
        this.#rearm();
      });
    }
    this.#markStarted = () => {
      started = true;
    };
  }

  readonly #markStarted: () => void;

  async #start(): Promise<void> {
    await this.#client.connect();
    await this.#subscriber.connect();
    await this.#subscriber.subscribe(`${this.#prefix}deadline`, (message: string) => {
      const at = Number(message);
      if (Number.isFinite(at)) this.#arm(at);
    });
    await this.#subscriber.subscribe(`${this.#prefix}ended`, (message: string) => {
      const ended = parseEnded(message);
      if (ended !== undefined && ended.origin !== this.#origin) this.emit('endedElsewhere', ended.news);
    });
    this.#markStarted();
    this.#wasReady = true;
    this.#rearm();
  }

  /** Shared by the nodes, and Redis may restart empty. */
  readonly outlivesProcess = true;

  /** True while both connections to Redis are up (the relay's /readyz). */
  get healthy(): boolean {
    return !this.#closed && this.#client.isReady && this.#subscriber.isReady;
  }

  async create(session: NewSession): Promise<SessionRecord> {
    const { tokenName, address } = session.creator;
    const answer = await this.#run<{ session?: RawSession; limit?: SessionLimit; detail?: string; collision?: boolean }>('create', {
      id: session.id,
      akd: hex(session.agentKeyDigest),
      act: JSON.stringify(session.creator),
      tn: tokenName ?? '',
      htn: tokenName === null ? '0' : '1',
      ad: addressLimitKey(address),
      kx: session.keyExpiresAt,
    });
    if (answer.limit !== undefined) throw new SessionLimitError(answer.limit, answer.detail ?? answer.limit);
    if (answer.collision === true) throw new KubepairError('KP_ERR_INTERNAL', 'session id collision');
    return toRecord(required(answer.session));
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const answer = await this.#run<{ session?: RawSession }>('get', { id });
    return answer.session && toRecord(answer.session);
  }

  async claim(nameplate: string, claim: NewClaim): Promise<SessionRecord> {
    const np = canonicalNameplate(nameplate);
    const unknown = (): KubepairError => new KubepairError('KP_ERR_RELAY_NAMEPLATE_UNKNOWN', `nameplate ${nameplate} ${STALE_CODE_HINT}`);
    if (np === undefined) throw unknown();
    const found = await this.#run<{ id?: string; kx?: string | number; busy?: boolean; unknown?: boolean }>('claimFind', { np });
    if (found.busy === true) throw new KubepairError('KP_ERR_RELAY_NAMEPLATE_BUSY', `nameplate ${nameplate}`);
    if (found.id === undefined || found.kx === undefined) throw unknown();
    const digest = claim.clientKeyDigest({ id: found.id, keyExpiresAt: Number(found.kx) });
    const taken = await this.#run<{ session?: RawSession; busy?: boolean; unknown?: boolean }>('claimTake', {
      np,
      id: found.id,
      ckd: hex(digest),
      cact: JSON.stringify(claim.actor),
    });
    if (taken.busy === true) throw new KubepairError('KP_ERR_RELAY_NAMEPLATE_BUSY', `nameplate ${nameplate}`);
    if (taken.session === undefined) throw unknown();
    return toRecord(taken.session);
  }

  async attach(id: string, role: PeerRole, keyDigest?: Uint8Array, tag = ''): Promise<Attachment> {
    const answer = await this.#run<{ result: AttachResult; other?: string }>('attach', { id, role, kd: keyDigest === undefined ? '' : hex(keyDigest), tag });
    return { result: answer.result, otherTag: answer.other ?? '' };
  }

  async detach(id: string, role: PeerRole, tag = '', handOver = false): Promise<DetachResult> {
    const answer = await this.#run<{ stale?: boolean }>('detach', { id, role, tag, ho: handOver ? '1' : '0' });
    return answer.stale === true ? 'stale' : 'detached';
  }

  async suspend(id: string, role: PeerRole, tag = ''): Promise<SessionRecord | undefined> {
    const answer = await this.#run<{ session?: RawSession }>('suspend', { id, role, tag });
    return answer.session && toRecord(answer.session);
  }

  async setResumeWindow(id: string, windowMs: number): Promise<SessionRecord | undefined> {
    const answer = await this.#run<{ session?: RawSession }>('setResumeWindow', { id, windowMs });
    return answer.session && toRecord(answer.session);
  }

  async recreate(session: RecreatedSession): Promise<{ readonly session: SessionRecord; readonly created: boolean }> {
    if (this.#policy.maxResumeWindowMs === 0) throw new KubepairError('KP_ERR_INTERNAL', 'recreating a session needs a resume window');
    const answer = await this.#run<{ session?: RawSession; created?: boolean; limit?: SessionLimit; detail?: string }>('recreate', {
      id: session.id,
      kx: session.keyExpiresAt,
      role: session.role,
      kd: hex(session.keyDigest),
      act: JSON.stringify(session.actor),
      ad: addressLimitKey(session.actor.address),
    });
    if (answer.limit !== undefined) throw new SessionLimitError(answer.limit, answer.detail ?? answer.limit);
    return { session: toRecord(required(answer.session)), created: answer.created === true };
  }

  async endAttempt(id: string, clientKeyDigest: Uint8Array, reason: AttemptEndReason): Promise<AttemptOutcome | undefined> {
    const answer = await this.#run<{ outcome?: RawOutcome }>('endAttempt', { id, ckd: hex(clientKeyDigest), reason });
    return answer.outcome && toOutcome(answer.outcome);
  }

  async establish(id: string): Promise<SessionRecord | undefined> {
    const answer = await this.#run<{ session?: RawSession }>('establish', { id });
    return answer.session && toRecord(answer.session);
  }

  async destroy(id: string): Promise<SessionRecord | undefined> {
    const answer = await this.#run<{ session?: RawSession }>('destroy', { id });
    return answer.session && toRecord(answer.session);
  }

  async counts(): Promise<SessionCounts> {
    return this.#run<SessionCounts>('counts', {});
  }

  async leaselessNodes(self: string): Promise<readonly string[]> {
    const answer = await this.#run<{ nodes: string[] | Record<string, never> }>('leaseless', { self });
    return Array.isArray(answer.nodes) ? answer.nodes : [];
  }

  async sweepDeadNodes(self: string, limit: number, only?: readonly string[]): Promise<readonly NodeSweepReport[]> {
    const answer = await this.#run<{ swept: RawSweep[] | Record<string, never> }>('sweep', { self, limit, ...(only !== undefined && { only }) });
    const swept = Array.isArray(answer.swept) ? answer.swept : [];
    return swept.map((raw) => ({
      node: raw.node,
      suspended: Number(raw.suspended),
      released: Number(raw.released),
      ended: Array.isArray(raw.ended) ? raw.ended.map((end) => ({ id: end.id, reason: end.reason })) : [],
      left: Number(raw.left),
    }));
  }

  /** Stop the timer and close both connections. The sessions stay in Redis for the other nodes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const connection of [this.#subscriber, this.#client]) {
      if (connection.isOpen) await connection.close().catch(() => connection.destroy());
      else if (this.#wasReady) connection.destroy();
    }
  }

  /** Run one operation's script; Redis trouble becomes KP_ERR_RELAY_STORE_UNAVAILABLE. */
  async #run<T>(name: SessionScriptName, args: object): Promise<T> {
    if (this.#closed) throw new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN', 'the session store is closed');
    const argv = [this.#prefix, String(Date.now()), String(this.#now()), this.#policyJson, JSON.stringify(args), this.#origin];
    const options = { timeout: RELAY_STORE_COMMAND_TIMEOUT_MS, rejectInFlight: true };
    let reply: unknown;
    try {
      const sha = this.#shas.get(name) ?? scriptSha(name);
      try {
        reply = await this.#client.sendCommand(['EVALSHA', sha, '0', ...argv], options);
      } catch (err) {
        if (!(err instanceof ErrorReply) || !err.message.startsWith('NOSCRIPT')) throw err;
        // Not cached on this Redis (a restart, another node's SCRIPT FLUSH): send the text once.
        reply = await this.#client.sendCommand(['EVAL', SESSION_SCRIPTS[name], '0', ...argv], options);
      }
      this.#shas.set(name, sha);
    } catch (err) {
      this.#onError?.();
      throw unavailable(err);
    }
    if (typeof reply !== 'string') throw new KubepairError('KP_ERR_INTERNAL', `the ${name} script answered ${typeof reply}`);
    return JSON.parse(reply) as T;
  }

  /** Arm the timer for `at` unless it is already armed for an earlier time. */
  #arm(at: number): void {
    if (this.#closed) return;
    if (this.#armedAt !== undefined && this.#armedAt <= at) return;
    clearTimeout(this.#timer);
    this.#armedAt = at;
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMER_DELAY_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#armedAt = undefined;
      void this.#processDue();
    }, delay);
  }

  /** After (re)connecting: the deadlines published meanwhile were missed, so look at the index. */
  #rearm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = undefined;
    void this.#processDue();
  }

  /** Process due deadlines in bounded batches, emit their events, arm for the next one. */
  async #processDue(): Promise<void> {
    if (this.#processing) {
      this.#again = true;
      return;
    }
    this.#processing = true;
    try {
      do {
        this.#again = false;
        const answer = await this.#run<{ events: DueEvent[] | Record<string, never>; next: string | number }>('due', { limit: RELAY_STORE_DUE_BATCH });
        const events = Array.isArray(answer.events) ? answer.events : [];
        for (const event of events) this.#emitDue(event);
        if (events.length >= RELAY_STORE_DUE_BATCH) this.#again = true;
        else if (answer.next !== '') this.#arm(Number(answer.next));
      } while (this.#again && !this.#closed);
    } catch (err) {
      // Redis is away: its 'ready' re-arms the timer when it is back.
      if (!this.#closed) this.#log?.warn({ event: 'store_deadlines_failed', err: describeError(err) }, 'cannot process session deadlines; retrying when the store is back');
    } finally {
      this.#processing = false;
    }
  }

  #emitDue(event: DueEvent): void {
    if (event.kind === 'attemptEnded') this.emit('attemptEnded', toOutcome(event.outcome));
    else if (event.kind === 'expired') this.emit('expired', toRecord(event.session));
    else this.emit('resumeExpired', toRecord(event.session));
  }
}

function scriptSha(name: SessionScriptName): string {
  return createHash('sha1').update(SESSION_SCRIPTS[name]).digest('hex');
}

function unavailable(err: unknown): KubepairError {
  if (err instanceof KubepairError) return err;
  // A script error is a bug here; any other reply (OOM, READONLY, NOAUTH, LOADING) is Redis refusing.
  if (err instanceof ErrorReply && /^ERR (Error running script|user_script)/.test(err.message)) {
    return new KubepairError('KP_ERR_INTERNAL', 'a session store script failed', { cause: err });
  }
  const reason = err instanceof ErrorReply ? (err.message.split(' ')[0] ?? 'error') : describeError(err).message;
  return new KubepairError('KP_ERR_RELAY_STORE_UNAVAILABLE', `Redis: ${reason}`, { cause: err });
}

/** `007` and `7` name the same nameplate (as in the memory store); undefined when not a number. */
function canonicalNameplate(nameplate: string): string | undefined {
  const value = Number(nameplate);
  return Number.isSafeInteger(value) && value >= 1 && value <= MAX_NAMEPLATE ? String(value) : undefined;
}

function required(session: RawSession | undefined): RawSession {
  if (session === undefined) throw new KubepairError('KP_ERR_INTERNAL', 'the session store answered without a session');
  return session;
}

function hex(digest: Uint8Array): string {
  return Buffer.from(digest).toString('hex');
}

function text(raw: RawSession, field: string): string {
  const value = raw[field];
  return value === undefined ? '' : String(value);
}

function numberOf(raw: RawSession, field: string): number {
  return Number(text(raw, field) || '0');
}

function digestOf(raw: RawSession, field: string): Uint8Array | undefined {
  const value = text(raw, field);
  return value === '' ? undefined : Uint8Array.from(Buffer.from(value, 'hex'));
}

function actorOf(json: string): SessionActor {
  const parsed = JSON.parse(json) as { tokenName?: unknown; address?: unknown };
  return Object.freeze({ tokenName: typeof parsed.tokenName === 'string' ? parsed.tokenName : null, address: typeof parsed.address === 'string' ? parsed.address : '' });
}

function toRecord(raw: RawSession): SessionRecord {
  const clientKeyDigest = digestOf(raw, 'ckd');
  const claimActor = text(raw, 'cact');
  return Object.freeze({
    id: text(raw, 'id'),
    nameplate: text(raw, 'np') === '' ? undefined : text(raw, 'np'),
    state: text(raw, 'state') as SessionState,
    agentKeyDigest: digestOf(raw, 'akd'),
    claim:
      clientKeyDigest === undefined
        ? undefined
        : Object.freeze({ clientKeyDigest, actor: claimActor === '' ? actorOf(text(raw, 'act')) : actorOf(claimActor), connectBy: numberOf(raw, 'cby') }),
    attempts: numberOf(raw, 'att'),
    creator: actorOf(text(raw, 'act')),
    createdAt: numberOf(raw, 'cat'),
    expiresAt: numberOf(raw, 'ex'),
    keyExpiresAt: numberOf(raw, 'kx'),
    connected: Object.freeze({ agent: text(raw, 'ca') === '1', client: text(raw, 'cc') === '1' }),
    attachments: Object.freeze({ agent: text(raw, 'ta'), client: text(raw, 'tc') }),
    resumeWindowMs: numberOf(raw, 'rw'),
    resumeBy: text(raw, 'rb') === '' ? undefined : numberOf(raw, 'rb'),
    recreated: text(raw, 'rc') === '1',
  });
}

function toOutcome(raw: RawOutcome): AttemptOutcome {
  return { session: toRecord(raw.session), reason: raw.reason, attempts: Number(raw.attempts), destroyed: raw.destroyed };
}

const ENDED_WHY: ReadonlySet<string> = new Set(['expired', 'resume_expired', 'attempts_exhausted', 'destroyed']);

/** A message of the `ended` channel; undefined for anything malformed (the store is trusted, but not its every publisher). */
function parseEnded(message: string): { origin: string; news: SessionEndedElsewhere } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { id, why, origin, agent, client } = value as Record<string, unknown>;
  if (typeof id !== 'string' || typeof why !== 'string' || typeof origin !== 'string' || !ENDED_WHY.has(why)) return undefined;
  return { origin, news: { id, why: why as SessionEndedElsewhere['why'], connected: { agent: agent === '1', client: client === '1' } } };
}
