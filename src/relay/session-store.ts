/**
 * SessionStore: where the relay keeps its sessions (docs/design.md §3, §8). The in-memory store
 * (memory-session-store.ts) serves one relay process; a Redis store will serve several, so
 * the interface is what a shared store can honestly promise:
 *
 * - every operation is async and atomic on its own (a Redis implementation runs each as one
 *   script): `create` allocates the lowest free nameplate that is not in quarantine and checks
 *   the session bounds in the same step; `claim` hands a waiting nameplate to exactly one client; `attach` admits exactly
 *   one socket per role; `endAttempt` counts one failed attempt per claim, never two;
 * - the store owns time: it expires unpaired sessions, established sessions and claims whose
 *   client never connected, and reports each expiry as an event (memory: one timer per
 *   deadline; Redis: key expiry plus notifications). Nobody polls it;
 * - a freed nameplate (session established, expired or destroyed) stays in quarantine for
 *   `nameplateQuarantineMs` before it is handed out again (docs/design.md §3), bounded in number
 *   (RELAY_NAMEPLATE_QUARANTINE_MAX; the oldest leaves early), so a stale code never reaches a
 *   newer session: `claim` of a quarantined nameplate is KP_ERR_RELAY_NAMEPLATE_UNKNOWN;
 * - it stores only digests of session keys, never the keys;
 * - durable sessions (docs/design.md §8.1): an established session has a resume window (0 until the
 *   agent asks for one). `suspend` marks a side gone without ending the session and starts the
 *   resume deadline (now + window, never past the session's end); `attach` of that side ends the
 *   suspension; the deadline passing removes the session and is reported as `resumeExpired`.
 *   After `established`, `attach` of a side that is connected answers `replaced` (a newer socket
 *   takes over at once); before it, `already_connected`;
 * - `recreate` rebuilds an established session a previous relay process held, from a verified
 *   key (session-keys.ts): no nameplate, waiting for both sides for at most the maximum resume
 *   window. Such sessions count towards `maxSessions`, and at most `maxRecreatedWaiting` may wait
 *   for a side at once, so valid-looking resumptions cannot grow the state without bound.
 *
 * Sockets are not in the store: they live on one relay node (session-broker.ts). The broker
 * calls `attach`, `suspend` and `detach` in the order its sockets open and close, but with
 * several nodes the sockets of one side may open and close on different nodes, so each socket
 * attaches with a tag and a `suspend`/`detach` with a tag that is no longer the side's current
 * one is ignored (both stores).
 * Inputs are produced by the relay after validation; the store still refuses impossible ones.
 */
import type { EventEmitter } from 'node:events';
import { KubepairError } from '../errors/index.js';
import type { PeerRole } from '../protocol/relay-api.js';

export type SessionState = 'waiting' | 'claimed' | 'established';

/** Who created a session or claimed it: the relay token's name (null without auth) and address. */
export interface SessionActor {
  readonly tokenName: string | null;
  readonly address: string;
}

/** The pairing attempt of one client: its key digest and who it is. */
export interface SessionClaim {
  readonly clientKeyDigest: Uint8Array;
  readonly actor: SessionActor;
  /** Epoch ms by which the client must have opened its socket (while not connected). */
  readonly connectBy: number;
}

export interface SessionRecord {
  readonly id: string;
  /** Decimal nameplate; undefined once established (the nameplate is then quarantined). */
  readonly nameplate: string | undefined;
  readonly state: SessionState;
  /** Undefined only in a recreated session whose agent has not come back yet. */
  readonly agentKeyDigest: Uint8Array | undefined;
  /** Present while a client is pairing (state `claimed`) or paired (`established`). */
  readonly claim: SessionClaim | undefined;
  /** Failed pairing attempts so far. */
  readonly attempts: number;
  readonly creator: SessionActor;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms at which the session expires (unpaired TTL, then established lifetime). */
  readonly expiresAt: number;
  /** Epoch ms written into the session's keys: no key of it is valid after this. */
  readonly keyExpiresAt: number;
  readonly connected: Readonly<Record<PeerRole, boolean>>;
  /**
   * Each side's current attachment tag ('' before its first socket). It stays after a detach or a
   * suspension, naming the socket (and, in a cluster, the node: attachment-tag.ts) that had the
   * side last; only `connected` says whether that socket is still there.
   */
  readonly attachments: Readonly<Record<PeerRole, string>>;
  /** How long a side may be gone after `established` before the session ends (0: not at all). */
  readonly resumeWindowMs: number;
  /** While a side is suspended: epoch ms by which it must be back. */
  readonly resumeBy: number | undefined;
  /** Rebuilt from its keys after a relay restart (session-keys.ts). */
  readonly recreated: boolean;
}

/**
 * The expiry written into a new session's keys: the latest a session created at `createdAt` can
 * end (paired at the last moment of its unpaired TTL, then living its established lifetime),
 * in whole seconds.
 */
export function sessionKeyExpiry(createdAt: number, policy: Pick<SessionPolicy, 'unpairedTtlMs' | 'establishedLifetimeMs'>): number {
  return Math.ceil((createdAt + policy.unpairedTtlMs + policy.establishedLifetimeMs) / 1000) * 1000;
}

/** Lifetimes and bounds the store enforces (validated relay options). */
export interface SessionPolicy {
  readonly unpairedTtlMs: number;
  readonly establishedLifetimeMs: number;
  readonly claimConnectTimeoutMs: number;
  readonly maxPairingAttempts: number;
  readonly maxSessions: number;
  readonly maxSessionsPerToken: number;
  readonly maxSessionsPerAddress: number;
  /** How long a freed nameplate stays out of use (0: reused at once). */
  readonly nameplateQuarantineMs: number;
  /** The longest resume window granted; also how long a recreated session waits for its sides (0: no suspension, no recreation). */
  readonly maxResumeWindowMs: number;
  /** Recreated sessions that may wait for a side at once. */
  readonly maxRecreatedWaiting: number;
}

export interface NewSession {
  readonly id: string;
  readonly agentKeyDigest: Uint8Array;
  readonly creator: SessionActor;
  /** Expiry written into the session's keys (sessionKeyExpiry); kept so client keys get the same. */
  readonly keyExpiresAt: number;
}

/** What a client key is made from: the claimed session's id and key expiry. */
export interface ClaimedSession {
  readonly id: string;
  readonly keyExpiresAt: number;
}

export interface NewClaim {
  /**
   * The digest of the client key for the session the nameplate names: the key is a MAC over that
   * session's id (session-keys.ts), so it is made once the store has found the session.
   */
  readonly clientKeyDigest: (session: ClaimedSession) => Uint8Array;
  readonly actor: SessionActor;
}

/** A session a previous relay process held, as one of its verified keys describes it. */
export interface RecreatedSession {
  readonly id: string;
  /** The expiry the key carries (epoch ms). */
  readonly keyExpiresAt: number;
  /** The side whose key proved the session, and its digest. */
  readonly role: PeerRole;
  readonly keyDigest: Uint8Array;
  readonly actor: SessionActor;
}

/** Why a pairing attempt ended without `established`. */
export type AttemptEndReason = 'pake_failed' | 'client_left' | 'connect_timeout';

export interface AttemptOutcome {
  /** The session after the attempt was counted (state `waiting` again unless destroyed). */
  readonly session: SessionRecord;
  readonly reason: AttemptEndReason;
  /** Failed attempts including this one. */
  readonly attempts: number;
  /** True when this was the last allowed attempt: the session is gone. */
  readonly destroyed: boolean;
}

/**
 * `attached`: the side is connected now (ending its suspension, if any); `replaced`: the side was
 * connected and the session is established, so the new socket takes over; `already_connected`:
 * the side is connected and the session is not established yet (docs/design.md §3: 4409); `gone`:
 * the session or the key's claim does not exist (any more).
 */
export type AttachResult = 'attached' | 'replaced' | 'already_connected' | 'gone';

/**
 * What `attach` did, with the other side as it stood at the same atomic step (docs/design.md
 * §8.2 "Concurrent attaches"): of two attaches of a session's sides, the later one always sees
 * the earlier, so a node can tell, race-free, that the other side is held by another node.
 */
export interface Attachment {
  readonly result: AttachResult;
  /** The other side's current attachment tag if it is connected at that step, else ''. */
  readonly otherTag: string;
}

/** `stale`: a newer socket of that side attached since (on this node or another), so nothing changed. */
export type DetachResult = 'detached' | 'stale';

export interface SessionCounts {
  readonly waiting: number;
  readonly claimed: number;
  readonly established: number;
  /** Established sessions with a side suspended (included in `established`). */
  readonly suspended: number;
  /** Established sessions with a resume window (included in `established`): they survive a restart. */
  readonly resumable: number;
  /** Recreated sessions still waiting for a side (included in `established`). */
  readonly recreatedWaiting: number;
}

/** A session another node removed (shared stores only): the nodes holding its sockets close them. */
export interface SessionEndedElsewhere {
  readonly id: string;
  /** `destroyed`: ended by a node's decision (a side left, the operator); the others are deadlines and attempts. */
  readonly why: 'expired' | 'resume_expired' | 'attempts_exhausted' | 'destroyed';
  /** Which sides were connected when it was removed. */
  readonly connected: Readonly<Record<PeerRole, boolean>>;
}

/**
 * What one sweep did to the sessions of one relay node whose lease had ended (shared stores
 * only, docs/design.md §8.2 "Dead nodes"): sides suspended, pairing clients released (their
 * claim's deadline running again), sessions ended (a pairing agent, or a side of a session
 * without a resume window, gone with the node: as when that side leaves).
 */
export interface NodeSweepReport {
  readonly node: string;
  readonly suspended: number;
  readonly released: number;
  readonly ended: ReadonlyArray<{ readonly id: string; readonly reason: 'agent_left' | 'client_left' }>;
  /** Sessions of that node still to sweep (the run's bound was reached). */
  readonly left: number;
}

export interface SessionStoreEvents {
  /** A session reached `expiresAt` and was removed; its nameplate is quarantined. */
  expired: [session: SessionRecord];
  /** A claimed client did not connect in time; the attempt was counted. */
  attemptEnded: [outcome: AttemptOutcome];
  /** A suspended side did not come back within the resume window; the session was removed. */
  resumeExpired: [session: SessionRecord];
  /**
   * Another node removed a session (its own events above went to that node only): close its
   * sockets here. Never emitted by the memory store, which has no other nodes.
   */
  endedElsewhere: [ended: SessionEndedElsewhere];
}

export interface SessionStore extends EventEmitter<SessionStoreEvents> {
  /** False while the store cannot be reached (the relay's /readyz then fails). */
  readonly healthy: boolean;
  /**
   * True when the store lives outside this process (Redis): other nodes share it, and it may
   * restart empty, so a session missing from it is not known to have ended even if this process
   * issued its keys (docs/design.md §8.2 "Failure"). False for the memory store, which only this
   * process ever changes.
   */
  readonly outlivesProcess: boolean;
  /**
   * Create a session under the lowest free nameplate not in quarantine, expiring after the unpaired TTL.
   * Rejects with KP_ERR_RELAY_CAPACITY (total bound) or KP_ERR_RELAY_SESSION_QUOTA (per token
   * or per address).
   */
  create(session: NewSession): Promise<SessionRecord>;
  get(id: string): Promise<SessionRecord | undefined>;
  /**
   * Give the session waiting under `nameplate` to one client. Rejects with
   * KP_ERR_RELAY_NAMEPLATE_UNKNOWN (no such waiting session: never issued, in quarantine, or
   * established) or KP_ERR_RELAY_NAMEPLATE_BUSY
   * (another client holds it). The client must connect within the claim timeout.
   */
  claim(nameplate: string, claim: NewClaim): Promise<SessionRecord>;
  /**
   * Mark `role` connected. `keyDigest` must be the digest of that side's key: the current claim's
   * for the client, the session's for the agent (when given); in a recreated session a side's
   * first key is adopted. `gone`: the session or that claim no longer exists. `tag` names the
   * socket (unique per socket; '' for none): it becomes that side's current attachment, also on
   * `replaced`. The answer also names the other side's attachment if it is connected at that
   * same step (`otherTag`).
   */
  attach(id: string, role: PeerRole, keyDigest?: Uint8Array, tag?: string): Promise<Attachment>;
  /**
   * Mark `role` disconnected (no effect on a session that is gone). With a `tag` that is not the
   * side's current attachment (a newer socket attached since, maybe on another node), nothing
   * changes and the answer is `stale`; otherwise `detached` (also when the session is gone).
   * `handOver`: the socket moves on to another node (session-broker.ts #moveOn) and has not
   * attached there yet. A pairing client's claim then waits for it as for a client that never
   * connected: its connect deadline (`connectBy`, unchanged) runs again until a socket of the
   * claim attaches, so a client that leaves during the hand-over is timed out and its attempt
   * counted (`attemptEnded`, `connect_timeout`) instead of leaving the offer claimed. Also for a
   * pairing client's socket on a node found dead (upgrade-handler.ts, a splice link to it refused
   * or unanswered past its lease): that socket is gone, and its claim waits the same way.
   */
  detach(id: string, role: PeerRole, tag?: string, handOver?: boolean): Promise<DetachResult>;
  /**
   * Mark `role` disconnected but keep the established session for its resume window: starts the
   * resume deadline unless one runs already. Undefined (and nothing changed) when the session is
   * gone, not established, or has no resume window: the caller ends it. With a `tag` that is not
   * the side's current attachment, the session is answered unchanged (a newer socket has it).
   */
  suspend(id: string, role: PeerRole, tag?: string): Promise<SessionRecord | undefined>;
  /**
   * Set an established session's resume window (already capped by the caller). Undefined when
   * the session is gone or not established.
   */
  setResumeWindow(id: string, windowMs: number): Promise<SessionRecord | undefined>;
  /**
   * Rebuild a session a previous relay process held, established and waiting for both sides, or
   * return the one already there (`created` false). Rejects with SessionLimitError
   * (KP_ERR_RELAY_CAPACITY) when the session bound or the bound of recreated sessions waiting for
   * a side is reached.
   */
  recreate(session: RecreatedSession): Promise<{ readonly session: SessionRecord; readonly created: boolean }>;
  /**
   * End the pairing attempt of the claim with `clientKeyDigest` and count it. Undefined when
   * that claim already ended (so one attempt is never counted twice).
   */
  endAttempt(id: string, clientKeyDigest: Uint8Array, reason: AttemptEndReason): Promise<AttemptOutcome | undefined>;
  /**
   * Mark a claimed session whose client is connected as established: the nameplate is quarantined
   * and the session now lives for the established lifetime. Undefined when not possible.
   */
  establish(id: string): Promise<SessionRecord | undefined>;
  /** Remove a session now; undefined when it was already gone. */
  destroy(id: string): Promise<SessionRecord | undefined>;
  counts(): Promise<SessionCounts>;
  /**
   * Sweep the sessions held by relay nodes whose connection lease has ended (node-sweep.ts): each
   * connected side whose attachment names such a node gets what its socket's end would have
   * brought there (an established side suspended, or its session ended without a resume window;
   * a pairing client marked gone with its claim's connect deadline running again, unchanged, as
   * `detach` with `handOver`; a pairing agent's session ended, as when the agent leaves). Never
   * the node `self`, never a node still holding its lease, and with `only` none but those; at
   * most `limit` sessions per call;
   * atomic per session, so two nodes sweeping one dead node at once sweep each session once.
   * Sessions ended this way are announced as `endedElsewhere` (`destroyed`) to every node, the
   * sweeping one included. The memory store serves one node, which never sweeps itself: [].
   */
  sweepDeadNodes(self: string, limit: number, only?: readonly string[]): Promise<readonly NodeSweepReport[]>;
  /**
   * The nodes holding sessions whose lease has ended (or is missing), but `self`: what the sweep
   * watches before it takes one for dead (node-sweep.ts). The memory store: [].
   */
  leaselessNodes(self: string): Promise<readonly string[]>;
  /** Forget every session and stop every timer. */
  close(): Promise<void>;
}

/** Which session bound refused a new (or recreated) session. */
export type SessionLimit = 'sessions_total' | 'sessions_per_token' | 'sessions_per_address' | 'recreated_waiting';

/** A session bound was hit: KP_ERR_RELAY_CAPACITY (total, recreated) or KP_ERR_RELAY_SESSION_QUOTA. */
export class SessionLimitError extends KubepairError {
  readonly limit: SessionLimit;
  constructor(limit: SessionLimit, detail: string) {
    super(limit === 'sessions_total' || limit === 'recreated_waiting' ? 'KP_ERR_RELAY_CAPACITY' : 'KP_ERR_RELAY_SESSION_QUOTA', detail);
    this.limit = limit;
  }
}
