/**
 * SessionBroker: the relay node's live side of sessions (docs/design.md §3). It owns the accepted
 * WebSockets, splices agent and client of a session together, turns the agent's control
 * messages into SessionStore transitions, and reacts to the store's expiries.
 *
 * Rules it enforces:
 * - binary frames are forwarded unchanged and in order (forwarding.ts); text frames are relay
 *   control, parsed with the wire schemas, never forwarded; a client sends none;
 * - `peer_connected` goes to both sides when both are connected, `peer_disconnected` to the
 *   one that stays when the other leaves;
 * - a pairing attempt ends on the agent's `pake_failed` (the client is closed with 4403 and its
 *   key is void), when the client leaves before `established`, or when a claimed client never
 *   connects (store timer); each counts once, and the last allowed one destroys the session
 *   (the agent is closed with 4429);
 * - `established` frees the nameplate (into quarantine) and starts the established lifetime,
 *   with the resume window the agent asked for (capped by --max-resume-window);
 * - before `established`, the agent leaving ends the session; after it, a side whose socket ends
 *   is *suspended* for the resume window (docs/design.md §8.1) instead, unless it ended the session on
 *   purpose (close 1000, 1005 or a 41xx channel failure), broke the protocol, or the session has
 *   no window; the other side gets `peer_suspended`. A new socket of that side with the same key
 *   resumes it (both sides get `peer_resumed`); a newer socket of a side that is still connected
 *   replaces the older one at once (the older is closed with 4001); the window passing ends the
 *   session (4410 to the side that stayed, `session_destroyed` reason `resume_expired`);
 * - while a side is suspended, frames from the other side are dropped (and counted): the
 *   endpoints retransmit every unacknowledged record after resuming, and a backlog of frames sent
 *   before the resume proof would only delay it;
 * - a session a previous relay process held is recreated from a verified key (`recreate`) and
 *   waits, suspended, for both sides;
 * - `expiring` is sent ahead of a session's end and on shutdown (not to sessions that survive it;
 *   cluster-link.ts asks `survivesRestart` the same for the sockets it relays).
 *
 * Untrusted input: every frame from either peer, and the peers' timing. The store is trusted.
 */
import type { Logger } from 'pino';
import { WebSocket } from '../ws-runtime.js';
import type { RawData } from 'ws';
import { KubepairError } from '../errors/index.js';
import { RELAY_CONTROL_MESSAGE_MAX_BYTES, RELAY_ENDED_SESSIONS_REMEMBERED } from '../limits.js';
import { AgentControlMessageSchema, parseControlFrame } from '../protocol/relay-control.js';
import type { PeerRole } from '../protocol/relay-api.js';
import type { AgentControlMessage, RelayControlMessage } from '../protocol/relay-control.js';
import { nodeOfAttachment } from './attachment-tag.js';
import { DeadlineQueue } from './deadline-queue.js';
import { EndedSessions } from './ended-sessions.js';
import { ReconnectBudget } from './reconnect-budget.js';
import type { ReconnectLimit, ReconnectVerdict } from './reconnect-budget.js';
import { ForwardingDirection } from './forwarding.js';
import type { ForwardingPolicy } from './forwarding.js';
import { SessionLink } from './session-link.js';
import { PeerConnection } from './peer-connection.js';
import type { PeerEvents, PeerIdentity } from './peer-connection.js';
import { LivenessSweep } from './liveness-sweep.js';
import type { ReadSlab } from './read-slabs.js';
import type { RelayAudit } from './relay-audit.js';
import { describeError } from './relay-log.js';
import type { RelayMetrics, SessionEndReason } from './relay-metrics.js';
import type { RelayLimits } from './relay-options.js';
import { SessionLimitError } from './session-store.js';
import type { AttemptOutcome, SessionEndedElsewhere, SessionRecord, SessionStore } from './session-store.js';

/** What the upgrade handler learned about a socket before accepting it. */
export interface Admission {
  readonly role: PeerRole;
  readonly session: SessionRecord;
  readonly address: string;
  readonly tokenName: string | null;
  /** Digest of the key the socket presented (either side). */
  readonly keyDigest: Uint8Array;
  /** The node that relays this endpoint over a cluster link (docs/design.md §8.2); absent for a direct socket. */
  readonly viaNode?: string | undefined;
}

/** Where an admitted socket must go instead (SessionBroker.admit). */
export interface Relocation {
  /** The node holding the other side's socket at this socket's attach. */
  readonly node: string;
  /** That socket's attachment tag: cleared from the store if the node turns out to be dead. */
  readonly otherTag: string;
}

/** A session to rebuild from a verified key of a previous relay process (docs/design.md §8.1). */
export interface Recreation {
  readonly id: string;
  readonly role: PeerRole;
  readonly keyExpiresAt: number;
  readonly keyDigest: Uint8Array;
  readonly address: string;
}

/**
 * Close codes with which an endpoint ends its session on purpose: normal (1000), a close frame
 * without a code (1005), and the end-to-end channel failures (4100-4199). Any other end of a
 * socket (1006 without a close frame, 1001, a relay liveness drop...) is a transport loss.
 */
function endsOnPurpose(code: number): boolean {
  return code === 1000 || code === 1005 || (code >= 4100 && code <= 4199);
}

export interface SessionBrokerOptions {
  readonly store: SessionStore;
  readonly metrics: RelayMetrics;
  readonly audit: RelayAudit;
  readonly log: Logger;
  readonly limits: RelayLimits;
  /** True when session keys survive a restart (the relay secret is kept in a state directory). */
  readonly durableKeys: boolean;
  /** This node's id (--advertise) in a cluster; absent on a single node (docs/design.md §8.2). */
  readonly nodeId?: string | undefined;
  /** The reconnect budget (default: this process's own; a cluster's is in Redis, redis-limits.ts). */
  readonly reconnects?: ReconnectLimit | undefined;
  /** The node's liveness sweep, shared with its cluster link (default: the broker's own, from `limits`). */
  readonly liveness?: LivenessSweep | undefined;
}

export class SessionBroker {
  readonly #store: SessionStore;
  readonly #metrics: RelayMetrics;
  readonly #audit: RelayAudit;
  readonly #log: Logger;
  readonly #limits: RelayLimits;
  readonly #durableKeys: boolean;
  readonly #nodeId: string | undefined;
  readonly #links = new Map<string, SessionLink>();
  /** Sessions that ended here, remembered as long as their keys can be valid (ended-sessions.ts). */
  readonly #ended: EndedSessions;
  /** New sockets per minute of each side of an established session (reconnect-budget.ts). */
  readonly #reconnects: ReconnectLimit;
  readonly #open: Record<PeerRole, number> = { agent: 0, client: 0 };
  /** Sockets whose attach is in flight in the store (admit). */
  #admitting = 0;
  #closing = false;
  /** Shutdown: the `expiring` time told to every peer, and whether the last sockets are being closed. */
  #shutdownAt: string | undefined;
  #closingAll = false;
  #onAllClosed: (() => void) | undefined;
  /** Shared by every socket, direction and peer of this node: nothing per session (docs/performance.md). */
  readonly #forwarding: ForwardingPolicy;
  /** Pings every peer of this node and finds the silent ones, with one timer (liveness-sweep.ts). */
  readonly #liveness: LivenessSweep;
  /** Every session's `expiring` notice on one timer (deadline-queue.ts; issue 15), not one per session. */
  readonly #notices = new DeadlineQueue<SessionLink>((link) => this.#sendNotice(link));
  readonly #peerEvents: PeerEvents = {
    message: (peer, data, isBinary) => {
      if (peer.link !== undefined) this.#onMessage(peer.link, peer, data, isBinary);
    },
    binaryFrame: (peer, slices, length, slab, headerRoom) => {
      if (peer.link !== undefined) this.#onBinary(peer.link, peer, slices, length, slab, headerRoom);
    },
    closed: (peer, code) => {
      const link = peer.link;
      if (link === undefined) return; // never joined a session here (refused, or relayed to another node)
      this.#onClosed(link, peer, code).catch((err: unknown) => this.#logFailure('peer close handling failed', err, link.id));
    },
    error: (peer, err) => this.#onSocketError(peer, err),
    silent: (peer) => this.#onSilent(peer),
  };

  constructor(options: SessionBrokerOptions) {
    this.#store = options.store;
    this.#metrics = options.metrics;
    this.#audit = options.audit;
    this.#log = options.log;
    this.#limits = options.limits;
    this.#durableKeys = options.durableKeys;
    this.#nodeId = options.nodeId;
    this.#forwarding = { highWaterBytes: options.limits.maxBufferedBytes, metrics: options.metrics, log: options.log };
    this.#liveness = options.liveness ?? new LivenessSweep({ pingIntervalMs: options.limits.pingIntervalMs, silenceMs: options.limits.peerSilenceTimeoutMs });
    this.#ended = new EndedSessions({
      capacity: RELAY_ENDED_SESSIONS_REMEMBERED,
      rememberMs: options.limits.unpairedTtlMs + options.limits.establishedLifetimeMs,
    });
    this.#reconnects = options.reconnects ?? new ReconnectBudget({ perMinute: options.limits.maxReconnectsPerMinute, capacity: 2 * options.limits.maxSessions });
    this.#store.on('expired', this.#onExpired);
    this.#store.on('attemptEnded', this.#onAttemptTimedOut);
    this.#store.on('resumeExpired', this.#onResumeExpired);
    this.#store.on('endedElsewhere', this.#onEndedElsewhere);
  }

  /** True when sessions can be suspended and recreated (--max-resume-window above 0). */
  get resumes(): boolean {
    return this.#limits.maxResumeWindowMs > 0;
  }

  /** Why session `id` ended on this process, or undefined when it did not end here (as far as remembered). */
  endedReason(id: string): SessionEndReason | undefined {
    return this.#ended.reasonOf(id);
  }

  /**
   * Spend one new socket of `role` of established session `id` (a resumption or a replacement);
   * refused (with the time until that side's minute ends) when it used up --max-reconnects-per-minute.
   */
  spendReconnect(id: string, role: PeerRole): Promise<ReconnectVerdict> {
    return this.#reconnects.attempt(id, role);
  }

  /**
   * Rebuild a session a previous relay process held, from a key the upgrade handler verified.
   * Rejects with SessionLimitError when the store's bounds are reached.
   */
  async recreate(recreation: Recreation): Promise<SessionRecord> {
    let recreated: { readonly session: SessionRecord; readonly created: boolean };
    try {
      recreated = await this.#store.recreate({
        id: recreation.id,
        role: recreation.role,
        keyExpiresAt: recreation.keyExpiresAt,
        keyDigest: recreation.keyDigest,
        actor: { tokenName: null, address: recreation.address },
      });
    } catch (err) {
      if (err instanceof SessionLimitError) {
        this.#metrics.limitHits.labels(err.limit).inc();
        this.#audit.note('limit_hit', { limit: err.limit, session: recreation.id, role: recreation.role, address: recreation.address });
      }
      throw err;
    }
    const { session, created } = recreated;
    if (created) {
      this.#metrics.sessionsRecreated.inc();
      this.#audit.note('session_recreated', {
        session: session.id,
        role: recreation.role,
        address: recreation.address,
        expires_at: new Date(session.expiresAt).toISOString(),
        resume_by: session.resumeBy === undefined ? null : new Date(session.resumeBy).toISOString(),
      });
      this.#log.info({ event: 'session_recreated', session: session.id, role: recreation.role }, 'session recreated from its key after a restart');
    }
    return session;
  }

  openSockets(): Readonly<Record<PeerRole, number>> {
    return { ...this.#open };
  }

  queuedBytes(): number {
    let total = 0;
    for (const link of this.#links.values()) total += (link.toClient?.queuedBytes ?? 0) + (link.toAgent?.queuedBytes ?? 0);
    return total;
  }

  /** Cluster links from other nodes admitted as an endpoint's socket and open now. */
  linksIn(): number {
    let open = 0;
    for (const link of this.#links.values()) {
      for (const peer of [link.agent, link.client]) if (peer?.viaNode !== undefined && peer.open) open++;
    }
    return open;
  }

  /** Sessions with at least one socket on this node. */
  get linkCount(): number {
    return this.#links.size;
  }

  /**
   * Take over an accepted WebSocket whose key was verified by the upgrade handler. Undefined when
   * this node keeps (or refused) it; a `Relocation` when the other side turned out to be held by
   * another node at the moment of this socket's attach (docs/design.md §8.2 "Concurrent
   * attaches"): the caller relays the socket there (a socket that arrived over a cluster link is
   * closed with 1012 here instead, and its endpoint reconnects).
   */
  async admit(ws: WebSocket, admission: Admission): Promise<Relocation | undefined> {
    const { role, session } = admission;
    const identity: PeerIdentity = {
      role,
      sessionId: session.id,
      address: admission.address,
      tokenName: admission.tokenName,
      // The store's copy of the digest the key was just checked against (the same bytes), not a
      // second one per socket: the memory store hands out its own (docs/performance.md).
      clientKeyDigest: role === 'client' ? (session.claim?.clientKeyDigest ?? admission.keyDigest) : undefined,
    };
    // Errors reach the broker from now on (a socket error must not crash the process), frames once wired below.
    const peer = new PeerConnection(ws, identity, this.#peerEvents, this.#nodeId);
    peer.viaNode = admission.viaNode;
    if (this.#closing) {
      peer.close(4503, 'the relay is shutting down');
      return undefined;
    }
    // A shutdown waits for sockets being attached as for those attached (#waitForSockets).
    this.#admitting++;
    try {
      return await this.#attachAndWire(peer, admission);
    } finally {
      this.#admitting--;
      if (this.#noSockets()) this.#onAllClosed?.();
    }
  }

  /** admit's part once the socket is counted as being admitted. */
  async #attachAndWire(peer: PeerConnection, admission: Admission): Promise<Relocation | undefined> {
    const { role, session } = admission;
    const ws = peer.ws;
    // Not read until this node knows the socket stays here: a socket that moves on (below) is
    // relayed from its first frame (cluster-link.ts resumes it).
    ws.pause();
    const { result, otherTag } = await this.#store.attach(session.id, role, admission.keyDigest, peer.attachment);
    const otherNode = result === 'attached' || result === 'replaced' ? nodeOfAttachment(otherTag) : undefined;
    if (otherNode !== undefined && otherNode !== this.#nodeId) return this.#moveOn(peer, admission, otherNode, otherTag);
    ws.resume();
    if (result === 'already_connected' || result === 'gone') {
      const error =
        result === 'already_connected'
          ? new KubepairError('KP_ERR_RELAY_ROLE_CONNECTED', `a ${role} is already connected to this session`)
          : new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'the session ended before the socket was accepted');
      this.#refuse(peer, error);
      return undefined;
    }
    let link = this.#links.get(session.id);
    if (link?.ended === true) {
      // The session is being torn down (its removal from the store is in flight): do not join it.
      if (result === 'attached') await this.#store.detach(session.id, role, peer.attachment);
      this.#refuse(peer, new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'the session is ending'));
      return undefined;
    }
    if (link === undefined) {
      // A new link, or one rebuilt for a suspended session whose sockets were all gone.
      link = new SessionLink(session.id, session.expiresAt);
      link.established = session.state === 'established';
      link.resumeWindowMs = session.resumeWindowMs;
      this.#links.set(session.id, link);
      this.#scheduleNotice(link);
    }
    const wired = link;
    const previous = wired.peer(role);
    wired.set(role, peer);
    peer.counted = true;
    this.#open[role]++;
    peer.listen(wired, this.#limits.maxMessageBytes);
    peer.startLiveness(this.#liveness);
    this.#audit.note('socket_connected', {
      session: session.id,
      role,
      address: admission.address,
      token_name: admission.tokenName,
    });
    this.#log.info({ event: 'socket_connected', session: session.id, role, address: admission.address }, `${role} connected`);
    if (previous !== undefined) this.#replace(wired, previous);
    if (ws.readyState === WebSocket.CLOSED) {
      // The peer vanished while the store was attaching it: its close event has passed.
      await this.#onClosed(wired, peer, 1006);
      return undefined;
    }
    if (this.#closing && !this.#joinDuringShutdown(wired, peer)) return undefined;
    if (!wired.established) {
      if (wired.other(role) !== undefined) this.#splice(wired);
      return undefined;
    }
    this.#resumed(wired, peer, session, previous !== undefined);
    return undefined;
  }

  /**
   * The other side's socket was attached on `node` when this one attached (the store's atomic
   * step said so): this socket does not stay here. Two sockets of a session attaching at about
   * the same moment on two nodes each read "the other side is not connected" before either
   * attached; deciding after the attach instead, from the store's answer to the attach itself,
   * removes that race:
   *
   * - no deadlock: of two attaches the store orders one first, and the later one sees the
   *   earlier (its tag) unless the earlier was undone, which happens only when the earlier itself
   *   saw the other side connected elsewhere; so at least one of the two moves to the other's node;
   * - no livelock: a socket that saw the other side not connected is never moved by this rule,
   *   and a socket that moves is relayed once, to the node named in the store. It can only meet
   *   nobody there when the socket it saw was an older socket of the other side (one that the
   *   other side's new socket replaced in the same moment, or one on a dead node), and each side
   *   has at most one such older attachment when both reconnect at once: its relayed link is
   *   then closed with 1012 (below) and its endpoint reconnects once and finds the other side's
   *   current node. A move never waits, so the session is spliced after at most one extra
   *   reconnection per side.
   *
   * This socket's own attach is undone first (by its tag, so a newer socket of its side is left
   * alone): an established session is suspended again (its resume deadline runs until the relayed
   * socket attaches on the other node), a pairing one marked disconnected with its client's claim
   * timeout running again until then (`--claim-timeout`, from the claim: a client that leaves
   * during the hand-over is timed out and its attempt counted, not left holding the offer).
   */
  async #moveOn(peer: PeerConnection, admission: Admission, node: string, otherTag: string): Promise<Relocation | undefined> {
    const { role, session } = admission;
    if ((await this.#store.suspend(session.id, role, peer.attachment)) === undefined) await this.#store.detach(session.id, role, peer.attachment, true);
    this.#metrics.attachMoves.labels(admission.viaNode === undefined ? 'relayed' : 'reconnect').inc();
    this.#log.info({ event: 'socket_moved_on', session: session.id, role, node, relayed: admission.viaNode === undefined }, 'the other side attached on another node at the same moment');
    if (admission.viaNode !== undefined) {
      // A link is never relayed on again (no chains of nodes): its endpoint reconnects instead.
      peer.ws.resume(); // to read the close handshake's answer
      peer.close(1012, 'the other side of the session is on another relay node; reconnect');
      return undefined;
    }
    // A socket that ended during the attach has nothing left to relay.
    return peer.ws.readyState === WebSocket.OPEN ? { node, otherTag } : undefined;
  }

  /**
   * A newer socket of the same side took over an established session (docs/design.md §8.1): the
   * older, probably half-dead one is closed at once with 4001 instead of waiting for the liveness
   * timeout. Its frames are no longer forwarded, and its end changes nothing.
   */
  #replace(link: SessionLink, previous: PeerConnection): void {
    previous.replaced = true;
    this.#unwire(link);
    this.#metrics.resumptions.labels('replaced').inc();
    const { role, sessionId, address } = previous.identity;
    this.#audit.note('socket_replaced', { session: sessionId, role, address });
    this.#log.info({ event: 'socket_replaced', session: sessionId, role }, `a newer ${role} socket replaced the older one`);
    const error = new KubepairError('KP_ERR_RELAY_SOCKET_REPLACED');
    previous.close(error.closeCode ?? 4001, error.message);
  }

  /**
   * A socket joined an established session (a resumption, a replacement, or a side of a recreated
   * session): forward again if both sides are here and tell them; otherwise tell the newcomer its
   * peer is away. No `peer_connected`: that starts a pairing, which an established session is past.
   */
  #resumed(link: SessionLink, peer: PeerConnection, session: SessionRecord, replaced: boolean): void {
    const other = link.other(peer.role);
    if (!replaced && session.resumeBy !== undefined) {
      this.#metrics.resumptions.labels('resumed').inc();
      this.#audit.note('session_resumed', { session: link.id, role: peer.role, both_connected: other !== undefined });
      this.#log.info({ event: 'session_resumed', session: link.id, role: peer.role }, `the ${peer.role} is back`);
    }
    if (other === undefined) {
      peer.sendControl({ type: 'peer_suspended' });
      return;
    }
    this.#wire(link);
    peer.sendControl({ type: 'peer_resumed' });
    other.sendControl({ type: 'peer_resumed' });
  }

  #refuse(peer: PeerConnection, error: KubepairError): void {
    const { role, sessionId, address, tokenName } = peer.identity;
    this.#audit.note('socket_refused', { session: sessionId, role, address, token_name: tokenName, reason: error.code });
    this.#log.info({ event: 'socket_refused', session: sessionId, role, address, code: error.code }, error.message);
    peer.close(error.closeCode ?? 4400, error.message);
  }

  /** Both sides are here for the first time: wire the two directions and tell each side. */
  #splice(link: SessionLink): void {
    if (!this.#wire(link)) return;
    link.agent?.sendControl({ type: 'peer_connected' });
    link.client?.sendControl({ type: 'peer_connected' });
  }

  /** Forward between the two current sockets; false when a side is missing. */
  #wire(link: SessionLink): boolean {
    const { agent, client } = link;
    if (agent === undefined || client === undefined) return false;
    this.#unwire(link);
    const kind = agent.viaNode === undefined && client.viaNode === undefined ? 'local' : 'remote';
    link.toClient = new ForwardingDirection(agent, client, this.#forwarding, kind);
    link.toAgent = new ForwardingDirection(client, agent, this.#forwarding, kind);
    this.#metrics.splices.labels(kind).inc();
    return true;
  }

  /** Stop forwarding (a side left or was replaced); a paused sender is resumed. */
  #unwire(link: SessionLink): void {
    link.toClient?.release();
    link.toAgent?.release();
    link.toClient = undefined;
    link.toAgent = undefined;
  }

  /** A frame through ws: control text, or a binary frame ws read (after the reader left the socket to it). */
  #onMessage(link: SessionLink, peer: PeerConnection, data: RawData, isBinary: boolean): void {
    const frame = data as Buffer;
    if (isBinary) {
      this.#onBinary(link, peer, [frame], frame.length, undefined, 0);
      return;
    }
    peer.markSeen();
    peer.bytesIn += frame.length;
    if (link.peer(peer.role) !== peer) return; // a replaced socket: a dead carrier
    this.#onControl(link, peer, frame).catch((err: unknown) => this.#logFailure('control message handling failed', err, link.id));
  }

  /** A binary frame, `length` bytes as `slices`: forwarded unchanged to the other side, or dropped and counted. */
  #onBinary(link: SessionLink, peer: PeerConnection, slices: Buffer[], length: number, slab: ReadSlab | undefined, headerRoom: number): void {
    peer.markSeen();
    peer.bytesIn += length;
    // A replaced socket's frames belong to a dead carrier.
    const direction = link.peer(peer.role) !== peer ? undefined : peer.role === 'agent' ? link.toClient : link.toAgent;
    if (direction === undefined || !direction.forward(slices, length, slab, headerRoom)) this.#metrics.framesDropped.inc();
  }

  async #onControl(link: SessionLink, peer: PeerConnection, frame: Buffer): Promise<void> {
    if (peer.role === 'client') {
      this.#violation(peer, 'clients send no control messages');
      return;
    }
    if (frame.length > RELAY_CONTROL_MESSAGE_MAX_BYTES) {
      this.#metrics.limitHits.labels('control_size').inc();
      this.#violation(peer, `control message larger than ${RELAY_CONTROL_MESSAGE_MAX_BYTES} bytes`);
      return;
    }
    const parsed = parseControlFrame(frame.toString('utf8'), AgentControlMessageSchema);
    if (!parsed.ok) {
      this.#violation(peer, parsed.reason);
      return;
    }
    await this.#onAgentControl(link, parsed.message);
  }

  async #onAgentControl(link: SessionLink, message: AgentControlMessage): Promise<void> {
    if (link.ended) return;
    const client = link.client;
    if (message.type === 'established') {
      const asked = message.resume_window_s;
      if (link.established) {
        // Restated after a resumption (or a recreation): only the window can change.
        if (asked === undefined) {
          this.#log.warn({ event: 'control_ignored', session: link.id, type: message.type }, 'duplicate "established" ignored');
          return;
        }
        await this.#grantResumeWindow(link, asked);
        return;
      }
      const session = await this.#store.establish(link.id);
      if (session === undefined) {
        this.#log.warn({ event: 'control_ignored', session: link.id, type: message.type }, '"established" without a connected client ignored');
        return;
      }
      link.established = true;
      link.expiresAt = session.expiresAt;
      this.#scheduleNotice(link);
      const window = asked === undefined ? 0 : await this.#grantResumeWindow(link, asked);
      this.#metrics.pairings.labels('established').inc();
      this.#audit.note('session_established', {
        session: link.id,
        attempts: session.attempts,
        expires_at: new Date(session.expiresAt).toISOString(),
        resume_window_s: Math.floor(window / 1000),
      });
      this.#log.info({ event: 'session_established', session: link.id, resume_window_s: Math.floor(window / 1000) }, 'session established');
      return;
    }
    // pake_failed
    if (link.established || client?.identity.clientKeyDigest === undefined) {
      this.#log.warn({ event: 'control_ignored', session: link.id, type: message.type }, '"pake_failed" without a pairing client ignored');
      return;
    }
    const outcome = await this.#store.endAttempt(link.id, client.identity.clientKeyDigest, 'pake_failed');
    if (outcome === undefined) return; // this attempt already ended (the client left first) and was counted then
    this.#attemptEnded(outcome);
    const error = new KubepairError('KP_ERR_RELAY_PAIRING_ENDED', `attempt ${outcome.attempts} of ${this.#limits.maxPairingAttempts}`);
    client.close(error.closeCode ?? 4403, error.message);
    if (outcome.destroyed) this.#endLink(link, 'attempts_exhausted', this.#exhausted(outcome));
  }

  /**
   * Grant the agent's resume window, capped by --max-resume-window (the store also never lets a
   * suspension outlive the session). Returns the window granted, in ms.
   */
  async #grantResumeWindow(link: SessionLink, askedSeconds: number): Promise<number> {
    const granted = Math.min(askedSeconds * 1000, this.#limits.maxResumeWindowMs);
    const session = await this.#store.setResumeWindow(link.id, granted);
    if (session === undefined) return 0;
    link.resumeWindowMs = session.resumeWindowMs;
    this.#log.info({ event: 'resume_window', session: link.id, asked_s: askedSeconds, granted_s: Math.floor(session.resumeWindowMs / 1000) }, 'resume window set');
    return session.resumeWindowMs;
  }

  #exhausted(outcome: AttemptOutcome): KubepairError {
    return new KubepairError('KP_ERR_RELAY_ATTEMPTS_EXHAUSTED', `${outcome.attempts} failed attempts`);
  }

  /** Count and record a failed pairing attempt (the store already counted it). */
  #attemptEnded(outcome: AttemptOutcome): void {
    this.#metrics.pairingFailures.labels(outcome.reason).inc();
    this.#audit.note('pairing_attempt_failed', {
      session: outcome.session.id,
      reason: outcome.reason,
      attempts: outcome.attempts,
      max_attempts: this.#limits.maxPairingAttempts,
      destroyed: outcome.destroyed,
    });
    this.#log.info({ event: 'pairing_attempt_failed', session: outcome.session.id, reason: outcome.reason, attempts: outcome.attempts }, 'pairing attempt failed');
  }

  #violation(peer: PeerConnection, reason: string): void {
    peer.endsSession = true;
    const error = new KubepairError('KP_ERR_RELAY_CONTROL_INVALID', reason);
    const { sessionId, role, address } = peer.identity;
    this.#audit.note('protocol_violation', { session: sessionId, role, address, reason });
    this.#log.warn({ event: 'protocol_violation', session: sessionId, role, reason }, 'peer violated the relay protocol');
    peer.close(error.closeCode ?? 4400, error.message);
  }

  #onSilent(peer: PeerConnection): void {
    const session = peer.identity.sessionId;
    this.#metrics.limitHits.labels('peer_silent').inc();
    this.#log.info({ event: 'peer_silent', session, role: peer.role }, 'dropping a silent peer');
    this.#audit.note('limit_hit', { limit: 'peer_silent', session, role: peer.role, address: peer.identity.address });
    peer.terminate();
  }

  #onSocketError(peer: PeerConnection, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    // ws reports only the peer's protocol errors here (bad frames, oversized messages): a broken
    // endpoint ends its session rather than suspending it.
    if (typeof code === 'string' && code.startsWith('WS_ERR_')) peer.endsSession = true;
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.#metrics.limitHits.labels('message_size').inc();
      this.#audit.note('limit_hit', { limit: 'message_size', session: peer.identity.sessionId, role: peer.role, address: peer.identity.address });
    }
    // ws closes the socket itself after an error; the close handler does the rest.
    this.#log.info({ event: 'socket_error', session: peer.identity.sessionId, role: peer.role, err: describeError(err) }, 'socket error');
  }

  async #onClosed(link: SessionLink, peer: PeerConnection, code: number): Promise<void> {
    const role = peer.role;
    if (!peer.counted) return;
    peer.counted = false;
    this.#open[role]--;
    this.#audit.note('socket_disconnected', {
      session: link.id,
      role,
      address: peer.identity.address,
      token_name: peer.identity.tokenName,
      close_code: code,
      bytes_in: peer.bytesIn,
      bytes_out: peer.bytesOut,
      seconds: Math.round((Date.now() - peer.connectedAt) / 1000),
      replaced: peer.replaced,
    });
    this.#log.info({ event: 'socket_disconnected', session: link.id, role, close_code: code, replaced: peer.replaced }, `${role} disconnected`);
    if (link.peer(role) !== peer) {
      // Replaced by a newer socket of the same side: the session goes on without this one.
      if (this.#noSockets()) this.#onAllClosed?.();
      return;
    }
    link.set(role, undefined);
    this.#unwire(link);
    try {
      await this.#afterLeave(link, peer, code);
    } finally {
      if (link.empty) this.#forget(link);
      if (this.#noSockets()) this.#onAllClosed?.();
    }
  }

  async #afterLeave(link: SessionLink, peer: PeerConnection, code: number): Promise<void> {
    if (link.ended) return;
    if (link.established && !peer.endsSession && !endsOnPurpose(code)) {
      // Called in the same turn as the close event (no await before it), so a newer socket of
      // this side cannot have attached in between: the store's order is the sockets' order.
      const suspended = await this.#store.suspend(link.id, peer.role, peer.attachment);
      if (suspended !== undefined) {
        if (suspended.attachments[peer.role] !== peer.attachment) this.#movedAway(link, peer, code);
        else this.#suspended(link, peer, code, suspended);
        return;
      }
    }
    if ((await this.#store.detach(link.id, peer.role, peer.attachment)) === 'stale') {
      this.#movedAway(link, peer, code);
      return;
    }
    if (link.ended) return;
    if (peer.role === 'agent') {
      this.#endLink(link, 'agent_left', new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'the agent left'), true);
      return;
    }
    if (link.established) {
      this.#endLink(link, 'client_left', new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'the client left'), true);
      return;
    }
    const digest = peer.identity.clientKeyDigest;
    const outcome = digest === undefined ? undefined : await this.#store.endAttempt(link.id, digest, 'client_left');
    if (outcome !== undefined) {
      this.#attemptEnded(outcome);
      if (outcome.destroyed) {
        this.#endLink(link, 'attempts_exhausted', this.#exhausted(outcome));
        return;
      }
    }
    if (!link.ended) link.agent?.sendControl({ type: 'peer_disconnected' });
  }

  /**
   * A socket ended after a newer socket of its side attached on another node (the store said its
   * attachment is stale): the side lives on there, so this end neither suspends nor ends the
   * session (docs/design.md §8.2, plan item 7). A socket of the other side still on this node has
   * no peer here until node-to-node splicing exists.
   */
  #movedAway(link: SessionLink, peer: PeerConnection, code: number): void {
    const { role, address } = peer.identity;
    this.#audit.note('socket_replaced', { session: link.id, role, address, close_code: code, elsewhere: true });
    this.#log.info({ event: 'socket_replaced', session: link.id, role, close_code: code, elsewhere: true }, `a newer ${role} socket on another relay node replaced this one`);
  }

  /** A side of an established session lost its socket and the store keeps the session for it. */
  #suspended(link: SessionLink, peer: PeerConnection, code: number, session: SessionRecord): void {
    const resumeBy = session.resumeBy === undefined ? null : new Date(session.resumeBy).toISOString();
    this.#metrics.suspensions.inc();
    this.#audit.note('session_suspended', { session: link.id, role: peer.role, close_code: code, resume_by: resumeBy });
    this.#log.info({ event: 'session_suspended', session: link.id, role: peer.role, close_code: code, resume_by: resumeBy }, `the ${peer.role} is gone; waiting for it to resume`);
    if (!link.ended) link.other(peer.role)?.sendControl({ type: 'peer_suspended' });
  }

  /** Store timer: a claimed client never connected. */
  readonly #onAttemptTimedOut = (outcome: AttemptOutcome): void => {
    this.#attemptEnded(outcome);
    if (!outcome.destroyed) return;
    const link = this.#links.get(outcome.session.id);
    if (link !== undefined) this.#endLink(link, 'attempts_exhausted', this.#exhausted(outcome), false, true);
    else this.#recordEnd(outcome.session.id, 'attempts_exhausted');
  };

  /** Store timer: a suspended side did not come back within the resume window. */
  readonly #onResumeExpired = (session: SessionRecord): void => {
    const missing = (['agent', 'client'] as const).filter((role) => !session.connected[role]);
    const who = missing.length === 1 ? `the ${missing[0]}` : 'neither side';
    this.#sessionEnded(session.id, 'resume_expired');
    this.#metrics.sessionsEnded.labels('resume_expired').inc();
    this.#audit.note('session_destroyed', { session: session.id, reason: 'resume_expired', missing: missing.join(',') });
    this.#log.info({ event: 'session_destroyed', session: session.id, reason: 'resume_expired', missing }, 'resume window closed');
    const link = this.#links.get(session.id);
    if (link !== undefined) this.#closeLink(link, new KubepairError('KP_ERR_RELAY_SESSION_ENDED', `${who} did not come back within the resume window`));
  };

  /**
   * Another node removed a session (docs/design.md §8.2, plan item 7): close the sockets this node
   * holds of it, with the close code and words the node that ended it used. That node counted and
   * recorded the end; this one notes only that it closed its sockets.
   */
  readonly #onEndedElsewhere = (ended: SessionEndedElsewhere): void => {
    if (ended.why !== 'destroyed') this.#sessionEnded(ended.id, ended.why);
    const link = this.#links.get(ended.id);
    if (link === undefined || link.ended) return;
    this.#audit.note('session_ended_elsewhere', { session: ended.id, why: ended.why });
    this.#log.info({ event: 'session_ended_elsewhere', session: ended.id, why: ended.why }, 'the session ended on another relay node');
    this.#closeLink(link, this.#endedElsewhereError(ended));
  };

  #endedElsewhereError(ended: SessionEndedElsewhere): KubepairError {
    if (ended.why === 'attempts_exhausted') return new KubepairError('KP_ERR_RELAY_ATTEMPTS_EXHAUSTED', `${this.#limits.maxPairingAttempts} failed attempts`);
    if (ended.why === 'expired') return new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'it expired');
    if (ended.why === 'destroyed') return new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'it ended on another relay node');
    const missing = (['agent', 'client'] as const).filter((role) => !ended.connected[role]);
    const who = missing.length === 1 ? `the ${missing[0]}` : 'neither side';
    return new KubepairError('KP_ERR_RELAY_SESSION_ENDED', `${who} did not come back within the resume window`);
  }

  /** Store timer: the session reached its end of life. */
  readonly #onExpired = (session: SessionRecord): void => {
    const link = this.#links.get(session.id);
    this.#sessionEnded(session.id, 'expired');
    this.#metrics.sessionsEnded.labels('expired').inc();
    this.#audit.note('session_expired', { session: session.id, state: session.state, nameplate: session.nameplate ?? null });
    this.#log.info({ event: 'session_expired', session: session.id, state: session.state }, 'session expired');
    if (link !== undefined) this.#closeLink(link, new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'it expired'));
  };

  /**
   * End a session: remove it from the store (unless `alreadyGone`), tell a remaining peer the
   * other left (when `peerLeft`), and close every remaining socket with `error`'s close code.
   */
  #endLink(link: SessionLink, reason: SessionEndReason, error: KubepairError, peerLeft = false, alreadyGone = false): void {
    if (link.ended) return;
    if (peerLeft) {
      link.agent?.sendControl({ type: 'peer_disconnected' });
      link.client?.sendControl({ type: 'peer_disconnected' });
    }
    this.#closeLink(link, error);
    if (alreadyGone || reason === 'attempts_exhausted') {
      // The store removed it together with counting the last attempt.
      this.#recordEnd(link.id, reason);
      return;
    }
    this.#store
      .destroy(link.id)
      .then((session) => {
        if (session !== undefined) this.#recordEnd(link.id, reason);
      })
      .catch((err: unknown) => this.#logFailure('cannot destroy session', err, link.id));
  }

  #recordEnd(sessionId: string, reason: SessionEndReason): void {
    this.#sessionEnded(sessionId, reason);
    this.#metrics.sessionsEnded.labels(reason).inc();
    this.#audit.note('session_destroyed', { session: sessionId, reason });
    this.#log.info({ event: 'session_destroyed', session: sessionId, reason }, 'session ended');
  }

  /** Remember why a session ended (ended-sessions.ts) and drop its reconnect budget. */
  #sessionEnded(sessionId: string, reason: SessionEndReason): void {
    this.#ended.remember(sessionId, reason);
    this.#reconnects.forget(sessionId);
  }

  #closeLink(link: SessionLink, error: KubepairError): void {
    link.ended = true;
    this.#notices.delete(link);
    const code = error.closeCode ?? 4410;
    link.agent?.close(code, error.message);
    link.client?.close(code, error.message);
    if (link.empty) this.#forget(link);
  }

  #forget(link: SessionLink): void {
    this.#notices.delete(link);
    if (this.#links.get(link.id) === link) this.#links.delete(link.id);
  }

  /** Send `expiring` to the session's peers `expiringNoticeMs` before it ends. */
  #scheduleNotice(link: SessionLink): void {
    this.#notices.delete(link);
    const notice = this.#limits.expiringNoticeMs;
    if (notice === 0) return;
    const delay = link.expiresAt - notice - Date.now();
    if (delay <= 0) queueMicrotask(() => this.#sendNotice(link));
    else this.#notices.set(link, link.expiresAt - notice);
  }

  readonly #sendNotice = (link: SessionLink): void => {
    this.#sendToAll(link, { type: 'expiring', at: new Date(link.expiresAt).toISOString() });
  };

  #sendToAll(link: SessionLink, message: RelayControlMessage): void {
    link.agent?.sendControl(message);
    link.client?.sendControl(message);
  }

  /** Operator action (admin API): end a session now. False when it does not exist. */
  async endSession(id: string): Promise<boolean> {
    const link = this.#links.get(id);
    if (link !== undefined && !link.ended) {
      this.#endLink(link, 'operator', new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'the relay operator ended it'));
      return true;
    }
    const session = await this.#store.destroy(id);
    if (session === undefined) return false;
    this.#recordEnd(id, 'operator');
    return true;
  }

  /**
   * Shutdown: refuse new sockets, tell every peer the relay expires at now + grace, wait for
   * them to leave (or the grace to pass), then close the rest with 4503 (bounded by the close
   * handshake timeout of each socket).
   */
  async shutdown(graceMs: number): Promise<void> {
    this.#closing = true;
    this.#store.off('expired', this.#onExpired);
    this.#store.off('attemptEnded', this.#onAttemptTimedOut);
    this.#store.off('resumeExpired', this.#onResumeExpired);
    this.#store.off('endedElsewhere', this.#onEndedElsewhere);
    const at = new Date(Date.now() + graceMs).toISOString();
    this.#shutdownAt = at;
    for (const link of this.#links.values()) {
      this.#notices.delete(link);
      // A session that survives the restart is not ending: its endpoints resume on the next relay.
      if (!this.#survivesRestart(link)) this.#sendToAll(link, { type: 'expiring', at });
    }
    await this.#waitForSockets(graceMs);
    this.#closingAll = true;
    const error = new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN');
    for (const link of [...this.#links.values()]) {
      if (!link.ended) {
        if (this.#survivesRestart(link)) this.#audit.note('session_suspended', { session: link.id, reason: 'shutdown' });
        else this.#recordEnd(link.id, 'shutdown');
      }
      this.#closeLink(link, error);
    }
    // Every close is cut after RELAY_CLOSE_HANDSHAKE_TIMEOUT_MS, so this wait is bounded too.
    await this.#waitForSockets(undefined);
  }

  /**
   * A socket whose attach was still in flight in the store when shutdown began hears what the
   * sockets already here heard (`expiring`, unless its session survives the restart) and stays
   * for the rest of the grace; once the grace is over it is closed like the others. False when
   * it was closed.
   */
  #joinDuringShutdown(link: SessionLink, peer: PeerConnection): boolean {
    if (this.#closingAll) {
      const error = new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN');
      peer.close(error.closeCode ?? 4503, error.message);
      return false;
    }
    if (this.#shutdownAt !== undefined && !this.#survivesRestart(link)) peer.sendControl({ type: 'expiring', at: this.#shutdownAt });
    return true;
  }

  /** An established session with a resume window whose keys a restarted relay still verifies. */
  #survivesRestart(link: SessionLink): boolean {
    return this.#durableKeys && link.established && link.resumeWindowMs > 0;
  }

  /**
   * A session the node sweep ended (node-sweep.ts: its pairing agent, or a side without a resume
   * window, was on a node whose lease ended): counted and recorded here, as this node's store
   * removed it. Its sockets, wherever they are, close on the `ended` news.
   */
  recordSweptEnd(id: string, reason: 'agent_left' | 'client_left'): void {
    this.#recordEnd(id, reason);
  }

  /**
   * The same question for session `id` held by another node, whose socket this node relays
   * (cluster-link.ts windDown), asked of the store. A store that cannot answer says no: the
   * endpoint is then told `expiring` and kept for the grace, as if its session ended here.
   */
  async survivesRestart(id: string): Promise<boolean> {
    if (!this.#durableKeys) return false;
    const session = await this.#store.get(id).catch(() => undefined);
    return session?.state === 'established' && session.resumeWindowMs > 0;
  }

  /** No socket is open or being admitted. */
  #noSockets(): boolean {
    return this.#open.agent + this.#open.client + this.#admitting === 0;
  }

  /** Resolve once no socket is open or being admitted, or after `timeoutMs` when given. */
  #waitForSockets(timeoutMs: number | undefined): Promise<void> {
    if (this.#noSockets()) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.#onAllClosed = undefined;
        resolve();
      };
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      this.#onAllClosed = done;
    });
  }

  #logFailure(what: string, err: unknown, sessionId: string): void {
    this.#log.error({ event: 'relay_error', session: sessionId, err: describeError(err) }, what);
  }
}
