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
 * - `established` frees the nameplate (into quarantine) and starts the established lifetime; after it, either
 *   side leaving ends the session;
 * - the agent leaving ends the session;
 * - `expiring` is sent ahead of a session's end and on shutdown.
 *
 * Untrusted input: every frame from either peer, and the peers' timing. The store is trusted.
 */
import type { Logger } from 'pino';
import { WebSocket } from '../ws-runtime.js';
import type { RawData } from 'ws';
import { KubepairError } from '../errors/index.js';
import { RELAY_CONTROL_MESSAGE_MAX_BYTES } from '../limits.js';
import { AgentControlMessageSchema, parseControlFrame } from '../relay-client/wire.js';
import type { AgentControlMessage, PeerRole, RelayControlMessage } from '../relay-client/wire.js';
import { ForwardingDirection } from './forwarding.js';
import { SessionLink } from './session-link.js';
import { PeerConnection } from './peer-connection.js';
import type { PeerIdentity } from './peer-connection.js';
import type { RelayAudit } from './relay-audit.js';
import { describeError } from './relay-log.js';
import type { RelayMetrics, SessionEndReason } from './relay-metrics.js';
import type { RelayLimits } from './relay-options.js';
import type { AttemptOutcome, SessionRecord, SessionStore } from './session-store.js';

/** What the upgrade handler learned about a socket before accepting it. */
export interface Admission {
  readonly role: PeerRole;
  readonly session: SessionRecord;
  readonly address: string;
  readonly tokenName: string | null;
  readonly clientKeyDigest: Uint8Array | undefined;
}

export interface SessionBrokerOptions {
  readonly store: SessionStore;
  readonly metrics: RelayMetrics;
  readonly audit: RelayAudit;
  readonly log: Logger;
  readonly limits: RelayLimits;
}

export class SessionBroker {
  readonly #store: SessionStore;
  readonly #metrics: RelayMetrics;
  readonly #audit: RelayAudit;
  readonly #log: Logger;
  readonly #limits: RelayLimits;
  readonly #links = new Map<string, SessionLink>();
  readonly #open: Record<PeerRole, number> = { agent: 0, client: 0 };
  #closing = false;
  #onAllClosed: (() => void) | undefined;

  constructor(options: SessionBrokerOptions) {
    this.#store = options.store;
    this.#metrics = options.metrics;
    this.#audit = options.audit;
    this.#log = options.log;
    this.#limits = options.limits;
    this.#store.on('expired', this.#onExpired);
    this.#store.on('attemptEnded', this.#onAttemptTimedOut);
  }

  openSockets(): Readonly<Record<PeerRole, number>> {
    return { ...this.#open };
  }

  queuedBytes(): number {
    let total = 0;
    for (const link of this.#links.values()) total += (link.toClient?.queuedBytes ?? 0) + (link.toAgent?.queuedBytes ?? 0);
    return total;
  }

  /** Sessions with at least one socket on this node. */
  get linkCount(): number {
    return this.#links.size;
  }

  /** Take over an accepted WebSocket whose key was verified by the upgrade handler. */
  async admit(ws: WebSocket, admission: Admission): Promise<void> {
    const { role, session } = admission;
    const identity: PeerIdentity = {
      role,
      sessionId: session.id,
      address: admission.address,
      tokenName: admission.tokenName,
      clientKeyDigest: admission.clientKeyDigest,
    };
    const peer = new PeerConnection(ws, identity);
    // Until wired below, a socket error must not crash the process.
    ws.on('error', (err) => this.#onSocketError(peer, err));
    if (this.#closing) {
      peer.close(4503, 'the relay is shutting down');
      return;
    }
    const result = await this.#store.attach(session.id, role, admission.clientKeyDigest);
    if (result !== 'attached') {
      const error =
        result === 'already_connected'
          ? new KubepairError('KP_ERR_RELAY_ROLE_CONNECTED', `a ${role} is already connected to this session`)
          : new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'the session ended before the socket was accepted');
      this.#refuse(peer, error);
      return;
    }
    let link = this.#links.get(session.id);
    if (link?.ended === true) {
      // The session is being torn down (its removal from the store is in flight): do not join it.
      await this.#store.detach(session.id, role);
      this.#refuse(peer, new KubepairError('KP_ERR_RELAY_SESSION_ENDED', 'the session is ending'));
      return;
    }
    if (link === undefined) {
      link = new SessionLink(session.id, session.expiresAt);
      this.#links.set(session.id, link);
      this.#scheduleNotice(link);
    }
    link.set(role, peer);
    this.#open[role]++;
    ws.on('message', (data, isBinary) => this.#onMessage(link, peer, data, isBinary));
    ws.on('close', (code) => {
      this.#onClosed(link, peer, code).catch((err: unknown) => this.#logFailure('peer close handling failed', err, link.id));
    });
    peer.startLiveness({
      pingIntervalMs: this.#limits.pingIntervalMs,
      silenceMs: this.#limits.peerSilenceTimeoutMs,
      onSilent: () => this.#onSilent(link, peer),
    });
    this.#audit.note('socket_connected', {
      session: session.id,
      role,
      address: admission.address,
      token_name: admission.tokenName,
    });
    this.#log.info({ event: 'socket_connected', session: session.id, role, address: admission.address }, `${role} connected`);
    if (ws.readyState === WebSocket.CLOSED) {
      // The peer vanished while the store was attaching it: its close event has passed.
      await this.#onClosed(link, peer, 1006);
      return;
    }
    if (link.other(role) !== undefined) this.#splice(link);
  }

  #refuse(peer: PeerConnection, error: KubepairError): void {
    const { role, sessionId, address, tokenName } = peer.identity;
    this.#audit.note('socket_refused', { session: sessionId, role, address, token_name: tokenName, reason: error.code });
    this.#log.info({ event: 'socket_refused', session: sessionId, role, address, code: error.code }, error.message);
    peer.close(error.closeCode ?? 4400, error.message);
  }

  /** Both sides are here: wire the two directions and tell each side. */
  #splice(link: SessionLink): void {
    const { agent, client } = link;
    if (agent === undefined || client === undefined) return;
    link.toClient = new ForwardingDirection(agent, client, this.#limits.maxBufferedBytes, this.#metrics, this.#log);
    link.toAgent = new ForwardingDirection(client, agent, this.#limits.maxBufferedBytes, this.#metrics, this.#log);
    agent.sendControl({ type: 'peer_connected' });
    client.sendControl({ type: 'peer_connected' });
  }

  #onMessage(link: SessionLink, peer: PeerConnection, data: RawData, isBinary: boolean): void {
    peer.markSeen();
    const frame = data as Buffer;
    peer.bytesIn += frame.length;
    if (isBinary) {
      const direction = peer.role === 'agent' ? link.toClient : link.toAgent;
      if (direction === undefined || !direction.forward(frame)) this.#metrics.framesDropped.inc();
      return;
    }
    this.#onControl(link, peer, frame).catch((err: unknown) => this.#logFailure('control message handling failed', err, link.id));
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
      if (link.established) {
        this.#log.warn({ event: 'control_ignored', session: link.id, type: message.type }, 'duplicate "established" ignored');
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
      this.#metrics.pairings.labels('established').inc();
      this.#audit.note('session_established', { session: link.id, attempts: session.attempts, expires_at: new Date(session.expiresAt).toISOString() });
      this.#log.info({ event: 'session_established', session: link.id }, 'session established');
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
    const error = new KubepairError('KP_ERR_RELAY_CONTROL_INVALID', reason);
    const { sessionId, role, address } = peer.identity;
    this.#audit.note('protocol_violation', { session: sessionId, role, address, reason });
    this.#log.warn({ event: 'protocol_violation', session: sessionId, role, reason }, 'peer violated the relay protocol');
    peer.close(error.closeCode ?? 4400, error.message);
  }

  #onSilent(link: SessionLink, peer: PeerConnection): void {
    this.#metrics.limitHits.labels('peer_silent').inc();
    this.#log.info({ event: 'peer_silent', session: link.id, role: peer.role }, 'dropping a silent peer');
    this.#audit.note('limit_hit', { limit: 'peer_silent', session: link.id, role: peer.role, address: peer.identity.address });
    peer.terminate();
  }

  #onSocketError(peer: PeerConnection, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.#metrics.limitHits.labels('message_size').inc();
      this.#audit.note('limit_hit', { limit: 'message_size', session: peer.identity.sessionId, role: peer.role, address: peer.identity.address });
    }
    // ws closes the socket itself after an error; the close handler does the rest.
    this.#log.info({ event: 'socket_error', session: peer.identity.sessionId, role: peer.role, err: describeError(err) }, 'socket error');
  }

  async #onClosed(link: SessionLink, peer: PeerConnection, code: number): Promise<void> {
    const role = peer.role;
    if (link.peer(role) !== peer) return;
    link.set(role, undefined);
    this.#open[role]--;
    link.toClient?.release();
    link.toAgent?.release();
    link.toClient = undefined;
    link.toAgent = undefined;
    this.#audit.note('socket_disconnected', {
      session: link.id,
      role,
      address: peer.identity.address,
      token_name: peer.identity.tokenName,
      close_code: code,
      bytes_in: peer.bytesIn,
      bytes_out: peer.bytesOut,
      seconds: Math.round((Date.now() - peer.connectedAt) / 1000),
    });
    this.#log.info({ event: 'socket_disconnected', session: link.id, role, close_code: code }, `${role} disconnected`);
    try {
      await this.#afterLeave(link, peer);
    } finally {
      if (link.empty) this.#forget(link);
      if (this.#open.agent + this.#open.client === 0) this.#onAllClosed?.();
    }
  }

  async #afterLeave(link: SessionLink, peer: PeerConnection): Promise<void> {
    if (link.ended) return;
    await this.#store.detach(link.id, peer.role);
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

  /** Store timer: a claimed client never connected. */
  readonly #onAttemptTimedOut = (outcome: AttemptOutcome): void => {
    this.#attemptEnded(outcome);
    if (!outcome.destroyed) return;
    const link = this.#links.get(outcome.session.id);
    if (link !== undefined) this.#endLink(link, 'attempts_exhausted', this.#exhausted(outcome), false, true);
    else this.#recordEnd(outcome.session.id, 'attempts_exhausted');
  };

  /** Store timer: the session reached its end of life. */
  readonly #onExpired = (session: SessionRecord): void => {
    const link = this.#links.get(session.id);
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
    this.#metrics.sessionsEnded.labels(reason).inc();
    this.#audit.note('session_destroyed', { session: sessionId, reason });
    this.#log.info({ event: 'session_destroyed', session: sessionId, reason }, 'session ended');
  }

  #closeLink(link: SessionLink, error: KubepairError): void {
    link.ended = true;
    clearTimeout(link.noticeTimer);
    link.noticeTimer = undefined;
    const code = error.closeCode ?? 4410;
    link.agent?.close(code, error.message);
    link.client?.close(code, error.message);
    if (link.empty) this.#forget(link);
  }

  #forget(link: SessionLink): void {
    clearTimeout(link.noticeTimer);
    link.noticeTimer = undefined;
    if (this.#links.get(link.id) === link) this.#links.delete(link.id);
  }

  /** Send `expiring` to the session's peers `expiringNoticeMs` before it ends. */
  #scheduleNotice(link: SessionLink): void {
    clearTimeout(link.noticeTimer);
    link.noticeTimer = undefined;
    const notice = this.#limits.expiringNoticeMs;
    if (notice === 0) return;
    const delay = link.expiresAt - notice - Date.now();
    const send = (): void => {
      link.noticeTimer = undefined;
      this.#sendToAll(link, { type: 'expiring', at: new Date(link.expiresAt).toISOString() });
    };
    if (delay <= 0) queueMicrotask(send);
    else link.noticeTimer = setTimeout(send, delay);
  }

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
    const at = new Date(Date.now() + graceMs).toISOString();
    for (const link of this.#links.values()) {
      clearTimeout(link.noticeTimer);
      link.noticeTimer = undefined;
      this.#sendToAll(link, { type: 'expiring', at });
    }
    await this.#waitForSockets(graceMs);
    const error = new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN');
    for (const link of [...this.#links.values()]) {
      if (!link.ended) this.#recordEnd(link.id, 'shutdown');
      this.#closeLink(link, error);
    }
    // Every close is cut after RELAY_CLOSE_HANDSHAKE_TIMEOUT_MS, so this wait is bounded too.
    await this.#waitForSockets(undefined);
  }

  /** Resolve once no socket is open, or after `timeoutMs` when given. */
  #waitForSockets(timeoutMs: number | undefined): Promise<void> {
    if (this.#open.agent + this.#open.client === 0) return Promise.resolve();
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
