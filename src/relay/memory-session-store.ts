/**
 * In-memory SessionStore for a single relay process (docs/design.md §3, §8: the embedded default).
 *
 * JavaScript runs each method to completion before another starts, so every operation is
 * atomic. Time is kept with timers re-armed on state changes and cleared when the session goes:
 * every session's expiry in one deadline queue with one timer (deadline-queue.ts; issue 15, an
 * idle session holds no timer of its own), a claim's connect deadline with a timer while it
 * runs. No polling, and `close()` leaves no timer behind. Callers get frozen snapshots, never the live entries. Freed
 * nameplates go into the pool's quarantine (nameplate-pool.ts), so `claim` answers a stale
 * nameplate with KP_ERR_RELAY_NAMEPLATE_UNKNOWN instead of handing out a newer session.
 * A suspended session (docs/design.md §8.1) has one more timer, its resume deadline.
 */
import { EventEmitter } from 'node:events';
import { KubepairError } from '../errors/index.js';
import { NAMEPLATE_MAX_DIGITS, RELAY_NAMEPLATE_QUARANTINE_MAX } from '../limits.js';
import { addressLimitKey } from './client-address.js';
import type { PeerRole } from '../protocol/relay-api.js';
import { DeadlineQueue, NOT_QUEUED } from './deadline-queue.js';
import { NameplatePool } from './nameplate-pool.js';
import { digestsEqual } from './secrets.js';
import type {
  AttachResult,
  Attachment,
  DetachResult,
  ClaimedSession,
  AttemptEndReason,
  AttemptOutcome,
  NewClaim,
  NewSession,
  NodeSweepReport,
  RecreatedSession,
  SessionActor,
  SessionClaim,
  SessionCounts,
  SessionPolicy,
  SessionRecord,
  SessionState,
  SessionStore,
  SessionStoreEvents,
} from './session-store.js';
import { SessionLimitError } from './session-store.js';

interface Entry {
  readonly id: string;
  nameplate: number | undefined;
  state: SessionState;
  agentKeyDigest: Uint8Array | undefined;
  claim: SessionClaim | undefined;
  attempts: number;
  readonly creator: SessionActor;
  readonly createdAt: number;
  expiresAt: number;
  readonly keyExpiresAt: number;
  readonly connected: Record<PeerRole, boolean>;
  /** Each side's current attachment tag ('' for none). */
  readonly tags: Record<PeerRole, string>;
  /** Its place in the store's expiry queue (deadline-queue.ts), at `expiresAt`. */
  deadlineSlot: number;
  claimTimer: NodeJS.Timeout | undefined;
  resumeWindowMs: number;
  resumeBy: number | undefined;
  resumeTimer: NodeJS.Timeout | undefined;
  /** Recreated from a key; its creator is not counted per token and address. */
  readonly recreated: boolean;
  /** Recreated and not yet rejoined by both sides (counted against maxRecreatedWaiting). */
  recreatedWaiting: boolean;
}

const MAX_NAMEPLATE = 10 ** NAMEPLATE_MAX_DIGITS - 1;

/** Why a nameplate has no waiting session, as far as anyone can tell from outside. */
const STALE_CODE_HINT = 'expired, was used already, or was mistyped; ask for a new code';

export class MemorySessionStore extends EventEmitter<SessionStoreEvents> implements SessionStore {
  readonly #policy: SessionPolicy;
  readonly #byId = new Map<string, Entry>();
  readonly #byNameplate = new Map<number, Entry>();
  readonly #perToken = new Map<string, number>();
  readonly #perAddress = new Map<string, number>();
  readonly #nameplates: NameplatePool;
  #recreatedWaiting = 0;
  /** Wall clock for nameplate quarantine (a fake one in tests); deadlines use timers. */
  readonly #now: () => number;
  #closed = false;
  /** Every entry's expiry, with one timer (deadline-queue.ts) instead of one per session. */
  readonly #expiries = new DeadlineQueue<Entry>((entry) => this.#expire(entry));

  constructor(policy: SessionPolicy, now: () => number = Date.now) {
    super();
    this.#policy = policy;
    this.#now = now;
    this.#nameplates = new NameplatePool({
      max: MAX_NAMEPLATE,
      quarantineMs: policy.nameplateQuarantineMs,
      quarantineCapacity: RELAY_NAMEPLATE_QUARANTINE_MAX,
    });
  }

  /** Only this process changes it: a session missing from it ended. */
  readonly outlivesProcess = false;

  /** Memory is always there until closed. */
  get healthy(): boolean {
    return !this.#closed;
  }

  create(session: NewSession): Promise<SessionRecord> {
    return this.#run(() => {
      const policy = this.#policy;
      if (this.#byId.size >= policy.maxSessions) {
        throw new SessionLimitError('sessions_total', `${policy.maxSessions} live sessions`);
      }
      const { tokenName, address } = session.creator;
      if (tokenName !== null && (this.#perToken.get(tokenName) ?? 0) >= policy.maxSessionsPerToken) {
        throw new SessionLimitError('sessions_per_token', `token "${tokenName}" has ${policy.maxSessionsPerToken} live sessions`);
      }
      if ((this.#perAddress.get(addressLimitKey(address)) ?? 0) >= policy.maxSessionsPerAddress) {
        throw new SessionLimitError('sessions_per_address', `this address has ${policy.maxSessionsPerAddress} live sessions`);
      }
      if (this.#byId.has(session.id)) throw new KubepairError('KP_ERR_INTERNAL', 'session id collision');
      const nameplate = this.#nameplates.allocate(this.#now());
      if (nameplate === undefined) throw new SessionLimitError('sessions_total', 'no free nameplate');
      const now = Date.now();
      const entry: Entry = {
        id: session.id,
        nameplate,
        state: 'waiting',
        agentKeyDigest: Uint8Array.from(session.agentKeyDigest),
        claim: undefined,
        attempts: 0,
        creator: Object.freeze({ ...session.creator }),
        createdAt: now,
        expiresAt: now + policy.unpairedTtlMs,
        keyExpiresAt: session.keyExpiresAt,
        connected: { agent: false, client: false },
        tags: { agent: '', client: '' },
        deadlineSlot: NOT_QUEUED,
        claimTimer: undefined,
        resumeWindowMs: 0,
        resumeBy: undefined,
        resumeTimer: undefined,
        recreated: false,
        recreatedWaiting: false,
      };
      this.#expiries.set(entry, entry.expiresAt);
      this.#byId.set(entry.id, entry);
      this.#byNameplate.set(nameplate, entry);
      if (tokenName !== null) increment(this.#perToken, tokenName);
      increment(this.#perAddress, addressLimitKey(address));
      return snapshot(entry);
    });
  }

  get(id: string): Promise<SessionRecord | undefined> {
    return this.#run(() => {
      const entry = this.#byId.get(id);
      return entry && snapshot(entry);
    });
  }

  claim(nameplate: string, claim: NewClaim): Promise<SessionRecord> {
    return this.#run(() => {
      const entry = this.#byNameplate.get(Number(nameplate));
      if (entry === undefined || entry.state === 'established') {
        throw new KubepairError('KP_ERR_RELAY_NAMEPLATE_UNKNOWN', `nameplate ${nameplate} ${STALE_CODE_HINT}`);
      }
      if (entry.state === 'claimed') throw new KubepairError('KP_ERR_RELAY_NAMEPLATE_BUSY', `nameplate ${nameplate}`);
      const timeout = this.#policy.claimConnectTimeoutMs;
      const target: ClaimedSession = { id: entry.id, keyExpiresAt: entry.keyExpiresAt };
      const claimed: SessionClaim = Object.freeze({
        clientKeyDigest: Uint8Array.from(claim.clientKeyDigest(target)),
        actor: Object.freeze({ ...claim.actor }),
        connectBy: Date.now() + timeout,
      });
      entry.state = 'claimed';
      entry.claim = claimed;
      entry.claimTimer = setTimeout(() => this.#claimTimedOut(entry, claimed), timeout);
      return snapshot(entry);
    });
  }

  attach(id: string, role: PeerRole, keyDigest?: Uint8Array, tag = ''): Promise<Attachment> {
    return this.#run(() => {
      const entry = this.#byId.get(id);
      if (entry === undefined || !this.#keyFits(entry, role, keyDigest)) return { result: 'gone', otherTag: '' };
      const other = role === 'agent' ? 'client' : 'agent';
      const answer = (result: AttachResult): Attachment => ({ result, otherTag: entry.connected[other] ? entry.tags[other] : '' });
      if (entry.connected[role]) {
        if (entry.state !== 'established') return answer('already_connected');
        entry.tags[role] = tag;
        return answer('replaced');
      }
      // A client whose attempt ended cannot come back with the old key (its claim is gone above);
      // after `established` the client key stays valid for resumptions.
      entry.connected[role] = true;
      entry.tags[role] = tag;
      if (role === 'client') this.#clearClaimTimer(entry);
      if (entry.connected.agent && entry.connected.client) {
        this.#endSuspension(entry);
        this.#stopWaiting(entry);
      }
      return answer('attached');
    });
  }

  detach(id: string, role: PeerRole, tag = '', handOver = false): Promise<DetachResult> {
    return this.#run(() => {
      const entry = this.#byId.get(id);
      if (entry === undefined) return 'detached';
      if (tag !== '' && entry.tags[role] !== tag) return 'stale';
      entry.connected[role] = false;
      // A pairing client handed over to another node: its claim's connect deadline runs again (session-store.ts).
      const claim = entry.claim;
      if (handOver && role === 'client' && entry.state === 'claimed' && claim !== undefined && entry.claimTimer === undefined) {
        entry.claimTimer = setTimeout(() => this.#claimTimedOut(entry, claim), Math.max(0, claim.connectBy - Date.now()));
      }
      return 'detached';
    });
  }

  suspend(id: string, role: PeerRole, tag = ''): Promise<SessionRecord | undefined> {
    return this.#run(() => {
      const entry = this.#byId.get(id);
      if (entry?.state !== 'established' || entry.resumeWindowMs === 0) return undefined;
      const now = Date.now();
      if (entry.expiresAt <= now) return undefined;
      // A newer socket of this side took over: this socket's end changes nothing.
      if (tag !== '' && entry.tags[role] !== tag) return snapshot(entry);
      entry.connected[role] = false;
      // One deadline for the session: a second side going away does not extend the first's.
      if (entry.resumeBy === undefined) this.#startSuspension(entry, Math.min(now + entry.resumeWindowMs, entry.expiresAt), now);
      return snapshot(entry);
    });
  }

  setResumeWindow(id: string, windowMs: number): Promise<SessionRecord | undefined> {
    return this.#run(() => {
      const entry = this.#byId.get(id);
      if (entry?.state !== 'established') return undefined;
      entry.resumeWindowMs = Math.max(0, Math.min(windowMs, this.#policy.maxResumeWindowMs));
      return snapshot(entry);
    });
  }

  recreate(session: RecreatedSession): Promise<{ readonly session: SessionRecord; readonly created: boolean }> {
    return this.#run(() => {
      const existing = this.#byId.get(session.id);
      if (existing !== undefined) return { session: snapshot(existing), created: false };
      const policy = this.#policy;
      if (policy.maxResumeWindowMs === 0) throw new KubepairError('KP_ERR_INTERNAL', 'recreating a session needs a resume window');
      if (this.#byId.size >= policy.maxSessions) throw new SessionLimitError('sessions_total', `${policy.maxSessions} live sessions`);
      if (this.#recreatedWaiting >= policy.maxRecreatedWaiting) {
        throw new SessionLimitError('recreated_waiting', `${policy.maxRecreatedWaiting} recreated sessions wait for their other side`);
      }
      const now = Date.now();
      // Never past the key's expiry, nor past a lifetime this relay would grant now.
      const expiresAt = Math.min(session.keyExpiresAt, now + policy.establishedLifetimeMs);
      const digest = Uint8Array.from(session.keyDigest);
      const actor: SessionActor = Object.freeze({ ...session.actor });
      const entry: Entry = {
        id: session.id,
        nameplate: undefined,
        state: 'established',
        agentKeyDigest: session.role === 'agent' ? digest : undefined,
        claim: session.role === 'client' ? Object.freeze({ clientKeyDigest: digest, actor, connectBy: now }) : undefined,
        attempts: 0,
        creator: actor,
        createdAt: now,
        expiresAt,
        keyExpiresAt: session.keyExpiresAt,
        connected: { agent: false, client: false },
        tags: { agent: '', client: '' },
        deadlineSlot: NOT_QUEUED,
        claimTimer: undefined,
        resumeWindowMs: policy.maxResumeWindowMs,
        resumeBy: undefined,
        resumeTimer: undefined,
        recreated: true,
        recreatedWaiting: true,
      };
      this.#expiries.set(entry, expiresAt);
      this.#byId.set(entry.id, entry);
      this.#recreatedWaiting++;
      this.#startSuspension(entry, Math.min(now + policy.maxResumeWindowMs, expiresAt), now);
      return { session: snapshot(entry), created: true };
    });
  }

  endAttempt(id: string, clientKeyDigest: Uint8Array, reason: AttemptEndReason): Promise<AttemptOutcome | undefined> {
    return this.#run(() => {
      const entry = this.#byId.get(id);
      if (entry?.state !== 'claimed' || entry.claim === undefined) return undefined;
      if (!digestsEqual(entry.claim.clientKeyDigest, clientKeyDigest)) return undefined;
      return this.#countAttempt(entry, reason);
    });
  }

  establish(id: string): Promise<SessionRecord | undefined> {
    return this.#run(() => {
      const entry = this.#byId.get(id);
      if (entry?.state !== 'claimed' || !entry.connected.agent || !entry.connected.client) return undefined;
      entry.state = 'established';
      this.#releaseNameplate(entry);
      // Never past the keys' expiry, so a session's keys stay valid for as long as it lives.
      const lifetime = Math.max(0, Math.min(this.#policy.establishedLifetimeMs, entry.keyExpiresAt - Date.now()));
      entry.expiresAt = Date.now() + lifetime;
      this.#expiries.set(entry, entry.expiresAt);
      return snapshot(entry);
    });
  }

  destroy(id: string): Promise<SessionRecord | undefined> {
    return this.#run(() => {
      const entry = this.#byId.get(id);
      if (entry === undefined) return undefined;
      this.#remove(entry);
      return snapshot(entry);
    });
  }

  /** One node, which never sweeps itself: no other node's sessions to sweep. */
  leaselessNodes(): Promise<readonly string[]> {
    return Promise.resolve([]);
  }

  sweepDeadNodes(): Promise<readonly NodeSweepReport[]> {
    return Promise.resolve([]);
  }

  counts(): Promise<SessionCounts> {
    return this.#run(() => {
      const counts = { waiting: 0, claimed: 0, established: 0, suspended: 0, resumable: 0, recreatedWaiting: this.#recreatedWaiting };
      for (const entry of this.#byId.values()) {
        counts[entry.state]++;
        if (entry.resumeBy !== undefined) counts.suspended++;
        if (entry.state === 'established' && entry.resumeWindowMs > 0) counts.resumable++;
      }
      return counts;
    });
  }

  close(): Promise<void> {
    for (const entry of [...this.#byId.values()]) this.#remove(entry);
    this.#closed = true;
    return Promise.resolve();
  }

  /** Run one operation atomically; a closed store refuses work instead of re-arming timers. */
  #run<T>(operation: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN', 'the session store is closed'));
    try {
      return Promise.resolve(operation());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #countAttempt(entry: Entry, reason: AttemptEndReason): AttemptOutcome {
    entry.attempts++;
    entry.claim = undefined;
    entry.connected.client = false;
    this.#clearClaimTimer(entry);
    const destroyed = entry.attempts >= this.#policy.maxPairingAttempts;
    if (destroyed) this.#remove(entry);
    else entry.state = 'waiting';
    return { session: snapshot(entry), reason, attempts: entry.attempts, destroyed };
  }

  #claimTimedOut(entry: Entry, claim: SessionClaim): void {
    entry.claimTimer = undefined;
    if (this.#byId.get(entry.id) !== entry || entry.claim !== claim || entry.connected.client) return;
    this.emit('attemptEnded', this.#countAttempt(entry, 'connect_timeout'));
  }

  /** An entry's `expiresAt` came (the expiry queue's callback: one for all entries). */
  readonly #expire = (entry: Entry): void => {
    if (this.#byId.get(entry.id) !== entry) return;
    const last = snapshot(entry);
    this.#remove(entry);
    this.emit('expired', last);
  };

  #remove(entry: Entry): void {
    this.#expiries.delete(entry);
    this.#clearClaimTimer(entry);
    this.#endSuspension(entry);
    this.#stopWaiting(entry);
    this.#releaseNameplate(entry);
    this.#byId.delete(entry.id);
    if (entry.recreated) return; // its creator was never counted
    const { tokenName, address } = entry.creator;
    if (tokenName !== null) decrement(this.#perToken, tokenName);
    decrement(this.#perAddress, addressLimitKey(address));
  }

  /**
   * Whether `keyDigest` is this side's key: the claim's for the client (required), the session's
   * for the agent (when given). A recreated session adopts the first key of a side it has not seen.
   */
  #keyFits(entry: Entry, role: PeerRole, keyDigest: Uint8Array | undefined): boolean {
    if (role === 'client') {
      if (keyDigest === undefined) return false;
      if (entry.claim === undefined && entry.recreated) {
        entry.claim = Object.freeze({ clientKeyDigest: Uint8Array.from(keyDigest), actor: entry.creator, connectBy: Date.now() });
        return true;
      }
      return entry.claim !== undefined && digestsEqual(entry.claim.clientKeyDigest, keyDigest);
    }
    if (entry.agentKeyDigest === undefined) {
      if (keyDigest === undefined) return false;
      entry.agentKeyDigest = Uint8Array.from(keyDigest);
      return true;
    }
    return keyDigest === undefined || digestsEqual(entry.agentKeyDigest, keyDigest);
  }

  #startSuspension(entry: Entry, resumeBy: number, now: number): void {
    entry.resumeBy = resumeBy;
    clearTimeout(entry.resumeTimer);
    entry.resumeTimer = setTimeout(() => this.#resumeExpired(entry), Math.max(0, resumeBy - now));
  }

  #endSuspension(entry: Entry): void {
    clearTimeout(entry.resumeTimer);
    entry.resumeTimer = undefined;
    entry.resumeBy = undefined;
  }

  #stopWaiting(entry: Entry): void {
    if (!entry.recreatedWaiting) return;
    entry.recreatedWaiting = false;
    this.#recreatedWaiting--;
  }

  #resumeExpired(entry: Entry): void {
    entry.resumeTimer = undefined;
    if (this.#byId.get(entry.id) !== entry) return;
    const last = snapshot(entry);
    this.#remove(entry);
    this.emit('resumeExpired', last);
  }

  #releaseNameplate(entry: Entry): void {
    if (entry.nameplate === undefined) return;
    this.#byNameplate.delete(entry.nameplate);
    this.#nameplates.release(entry.nameplate, this.#now());
    entry.nameplate = undefined;
  }

  #clearClaimTimer(entry: Entry): void {
    if (entry.claimTimer !== undefined) clearTimeout(entry.claimTimer);
    entry.claimTimer = undefined;
  }
}

function snapshot(entry: Entry): SessionRecord {
  return Object.freeze({
    id: entry.id,
    nameplate: entry.nameplate === undefined ? undefined : String(entry.nameplate),
    state: entry.state,
    agentKeyDigest: entry.agentKeyDigest,
    claim: entry.claim,
    attempts: entry.attempts,
    creator: entry.creator,
    createdAt: entry.createdAt,
    expiresAt: entry.expiresAt,
    keyExpiresAt: entry.keyExpiresAt,
    connected: Object.freeze({ ...entry.connected }),
    attachments: Object.freeze({ ...entry.tags }),
    resumeWindowMs: entry.resumeWindowMs,
    resumeBy: entry.resumeBy,
    recreated: entry.recreated,
  });
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function decrement(counts: Map<string, number>, key: string): void {
  const next = (counts.get(key) ?? 0) - 1;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
