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
 * - it stores only digests of session keys, never the keys.
 *
 * Sockets are not in the store: they live on one relay node (session-broker.ts).
 * Inputs are produced by the relay after validation; the store still refuses impossible ones.
 */
import type { EventEmitter } from 'node:events';
import { KubepairError } from '../errors/index.js';
import type { PeerRole } from '../relay-client/wire.js';

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
  readonly agentKeyDigest: Uint8Array;
  /** Present while a client is pairing (state `claimed`) or paired (`established`). */
  readonly claim: SessionClaim | undefined;
  /** Failed pairing attempts so far. */
  readonly attempts: number;
  readonly creator: SessionActor;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms at which the session expires (unpaired TTL, then established lifetime). */
  readonly expiresAt: number;
  readonly connected: Readonly<Record<PeerRole, boolean>>;
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
}

export interface NewSession {
  readonly id: string;
  readonly agentKeyDigest: Uint8Array;
  readonly creator: SessionActor;
}

export interface NewClaim {
  readonly clientKeyDigest: Uint8Array;
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

export type AttachResult = 'attached' | 'already_connected' | 'gone';

export interface SessionCounts {
  readonly waiting: number;
  readonly claimed: number;
  readonly established: number;
}

export interface SessionStoreEvents {
  /** A session reached `expiresAt` and was removed; its nameplate is quarantined. */
  expired: [session: SessionRecord];
  /** A claimed client did not connect in time; the attempt was counted. */
  attemptEnded: [outcome: AttemptOutcome];
}

export interface SessionStore extends EventEmitter<SessionStoreEvents> {
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
   * Mark `role` connected. For the client, `clientKeyDigest` must be the current claim's.
   * `gone`: the session or that claim no longer exists.
   */
  attach(id: string, role: PeerRole, clientKeyDigest?: Uint8Array): Promise<AttachResult>;
  /** Mark `role` disconnected (no effect on a session that is gone). */
  detach(id: string, role: PeerRole): Promise<void>;
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
  /** Forget every session and stop every timer. */
  close(): Promise<void>;
}

/** Which session bound refused a new session. */
export type SessionLimit = 'sessions_total' | 'sessions_per_token' | 'sessions_per_address';

/** A session bound was hit: KP_ERR_RELAY_CAPACITY (total) or KP_ERR_RELAY_SESSION_QUOTA. */
export class SessionLimitError extends KubepairError {
  readonly limit: SessionLimit;
  constructor(limit: SessionLimit, detail: string) {
    super(limit === 'sessions_total' ? 'KP_ERR_RELAY_CAPACITY' : 'KP_ERR_RELAY_SESSION_QUOTA', detail);
    this.limit = limit;
  }
}
