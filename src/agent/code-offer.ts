/**
 * `CodeOffer`: the agent role's standing offer of a pairing code, as an object you can hold
 * (docs/design.md §1, §3, §4; docs/architecture.md "Role objects"). It creates a relay session,
 * offers its pairing code, and runs the CPace handshake each time the relay reports a client. It
 * counts failed pairings itself (it does not trust the relay's count): every failed attempt is
 * reported to the relay as `pake_failed`, and after PAIRING_MAX_ATTEMPTS the code is discarded
 * and the offer ends, failed, saying someone may be guessing. A client that pairs gets an
 * AgentSession (agent-session.ts), announced by the `session` event. When that session ends
 * the offer makes a fresh code (or ends, with `once`); an unused code that expires is replaced.
 * Passthrough mode checks its credentials before the first code (a ServiceAccount's
 * TokenRequest included), so a setup that cannot work fails before a code is shown.
 *
 * Waiting out the relay (docs/design.md §8.1 "Liveness"): once a code has been offered, a relay
 * that goes away (unreachable, connection refused, a 5xx, restarting; an unpaired session does
 * not survive that, so the code on offer is void) does not end the offer: it creates a new session
 * with the capped, jittered backoff of RECONNECT_* and offers its code as a new one
 * (`relayLost`, `relayUnavailable`, `relayBack`). A 429 or 503 with `Retry-After` is waited out,
 * bounded by RECONNECT_RETRY_AFTER_MAX_MS, before the first code too (`relayAsksToWait`).
 * Failures no retry can mend (a refused token, a certificate that does not verify, no relay
 * configured: reconnectVerdict's `stop`) end the offer at once with their error, and so does an
 * unreachable relay before the first code (a wrong URL or port says so instead of waiting).
 * With `once`, a session whose link could not be resumed (KP_ERR_RESUME_*: the window closed,
 * or a resume was refused) ends the offer failed with that error.
 *
 * Shape: a `ShareConfig` validated in the constructor (share-config.ts: every field and every
 * mode/policy conflict), `start(signal)` that resolves with the first code once it is offered,
 * `closed` (why the offer ended, never rejected), `close()`, and typed events. The front end
 * (src/cli/share-run.ts) shows the codes and what sessions do; this object prints nothing. The
 * audit log it is given stays the caller's to close.
 *
 * Untrusted input: the relay's answers and control frames (relay-client/ parses them) and the
 * pairing peer (the handshake checks it).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { PairingCode } from '../channel/pairing-code.js';
import { newPairingCode } from '../channel/pairing-code.js';
import type { SecureChannel } from '../channel/secure-channel.js';
import { HandshakeShare } from '../channel/handshake.js';
import { openSecureChannel } from '../channel/open-secure-channel.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { PAIRING_MAX_ATTEMPTS } from '../limits.js';
import { PEER_CAPABILITIES } from '../protocol/capabilities.js';
import type { RelayControlMessage } from '../protocol/relay-control.js';
import type { CreatedSession, RelaySocket } from '../relay-client/index.js';
import {
  DEFAULT_LINK_TIMING,
  DurableLink,
  createSession,
  jitterSource,
  openRelaySocket,
  reconnectDelayMs,
  reconnectVerdict,
  resolveRelay,
  sleep,
} from '../relay-client/index.js';
import { AgentSession, passthroughClusterCa } from './agent-session.js';
import { checkPassthroughCredentials } from './passthrough-credentials.js';
import type { RequestPolicy } from './policy/index.js';
import { ApprovalQueue } from './approval-queue.js';
import type { ShareConfig, ShareConfigInput } from './share-config.js';
import { checkShareConfig } from './share-config.js';

/** A code on offer: what the person connecting types, and when it expires unused. */
export interface OfferedCode {
  readonly code: PairingCode;
  readonly expiresAt: Date;
}

/** Why an offer ended. */
export type OfferEnd =
  /** close() was called, or the start signal aborted. */
  | { readonly kind: 'closed' }
  /** With `once`: the first client's session ended (not by a lost link: that is `failed`). */
  | { readonly kind: 'served' }
  /** The relay, the credentials check, a session's start, or too many failed pairings (KP_ERR_PAIRING_ATTEMPTS_EXHAUSTED). */
  | { readonly kind: 'failed'; readonly error: KubepairError };

export interface CodeOfferEvents {
  /** A code is on offer (the first, a fresh one after a session, or one replacing an expired code). */
  code: [code: PairingCode, expiresAt: Date];
  /** A pairing attempt failed; at `failures === max` the code is discarded and the offer fails. */
  attemptFailed: [failures: number, max: number, error: KubepairError];
  /** The code expired unused; a fresh one follows. */
  codeExpired: [];
  /** A client paired; the session is about to start (listen to its events now). */
  session: [session: AgentSession];
  /** The relay went away while a code was on offer: that code is void; a new one follows once the relay is back. */
  relayLost: [error: KubepairError, voidNameplate: string];
  /** The relay cannot be reached for a new code; retrying with backoff (once per outage). */
  relayUnavailable: [error: KubepairError];
  /** The relay refused with a 429 or 503 and asked to wait (`Retry-After`); waiting `waitMs`. */
  relayAsksToWait: [error: KubepairError, waitMs: number];
  /** The relay answers again after `relayLost` or `relayUnavailable`; a new code follows. */
  relayBack: [outageMs: number];
  closed: [end: OfferEnd];
}

type OfferState = 'idle' | 'running' | 'closed';

/** How one offered code ended. */
type CodeOutcome =
  | { readonly kind: 'served'; readonly error: KubepairError | undefined }
  | { readonly kind: 'expired' }
  | { readonly kind: 'relayLost'; readonly error: KubepairError };

/** A relay session with its code offered on an open socket. */
interface OpenOffer {
  readonly created: CreatedSession;
  readonly socket: RelaySocket;
}

/** When `#openOffer` is called: before the first code, after an offer or session ended, or after the relay went away. */
type OpenReason = 'first' | 'next' | 'lost';

/** The socket closed because the relay went away (worth a new session), not because the code ended. */
function relayWentAway(socket: RelaySocket): KubepairError | undefined {
  const error = socket.closeError;
  return error !== undefined && reconnectVerdict(error) === 'retry' ? error : undefined;
}

/** A session's end that means its link was lost for good (the window closed, or a resume was refused). */
function isLostLink(error: KubepairError | undefined): error is KubepairError {
  return error !== undefined && error.code.startsWith('KP_ERR_RESUME_');
}

function sessionIdBytes(id: string): Uint8Array {
  return new Uint8Array(Buffer.from(id, 'base64url'));
}

export class CodeOffer extends EventEmitter<CodeOfferEvents> {
  readonly config: ShareConfig;
  /** Resolves once the offer has ended and its relay session and any AgentSession are closed. */
  readonly closed: Promise<OfferEnd>;
  /** `approve`: the requests held for the sharer's answer, across the offer's sessions (issue 14). */
  readonly approvals: ApprovalQueue | undefined;
  readonly #policy: RequestPolicy;
  readonly #stop = new AbortController();
  readonly #sessions = new Set<AgentSession>();
  #state: OfferState = 'idle';
  #resolveClosed!: (end: OfferEnd) => void;

  constructor(config: ShareConfigInput) {
    super();
    const checked = checkShareConfig(config);
    resolveRelay(checked.config.relay); // the URL's own rules, with their own codes
    this.config = checked.config;
    this.#policy = checked.policy;
    this.approvals = checked.config.approve ? new ApprovalQueue({ timeoutMs: checked.config.approvalTimeoutMs }) : undefined;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  get state(): OfferState {
    return this.#state;
  }

  /** The sessions being served now (`kubepair status`, `kubepair session ...`), oldest first. */
  get sessions(): readonly AgentSession[] {
    return [...this.#sessions].filter((session) => session.state === 'serving');
  }

  /**
   * Start offering codes until the signal aborts, close(), the last failed pairing, or (with
   * `once`) the end of the first session. Resolves with the first code once it is offered;
   * rejects with the error when the offer ends before that.
   */
  start(signal?: AbortSignal): Promise<OfferedCode> {
    if (this.#state !== 'idle') return Promise.reject(new KubepairError('KP_ERR_INTERNAL', `an offer starts once (it is ${this.#state})`));
    this.#state = 'running';
    const stop = signal === undefined ? this.#stop.signal : AbortSignal.any([signal, this.#stop.signal]);
    return new Promise<OfferedCode>((resolve, reject) => {
      const onCode = (code: PairingCode, expiresAt: Date): void => resolve({ code, expiresAt });
      this.once('code', onCode);
      void this.#run(stop).then((end) => {
        this.off('code', onCode);
        this.approvals?.close();
        if (end.kind === 'failed') reject(end.error);
        else reject(toKubepairError(stop.reason, 'KP_ERR_ABORTED')); // no effect once resolved
        this.#state = 'closed';
        this.#resolveClosed(end);
        this.emit('closed', end);
      });
    });
  }

  /** Stop offering (idempotent): the code is withdrawn and a running session closed. */
  async close(): Promise<void> {
    // Held requests are refused before their session closes under them.
    this.approvals?.close();
    if (this.#state === 'idle') {
      this.#state = 'closed';
      this.#resolveClosed({ kind: 'closed' });
      this.emit('closed', { kind: 'closed' });
    } else {
      this.#stop.abort(new KubepairError('KP_ERR_ABORTED', 'the offer was closed'));
    }
    await this.closed;
  }

  async #run(signal: AbortSignal): Promise<OfferEnd> {
    try {
      if (this.config.mode === 'passthrough') {
        passthroughClusterCa(this.config.upstream);
        await checkPassthroughCredentials(this.config.upstream, this.config.serviceAccount);
      }
      /** Relay losses in a row: a relay that hands out codes and drops them at once gets a growing backoff, not a loop. */
      let losses = 0;
      for (let reason: OpenReason = 'first'; ; ) {
        const offered = await this.#openOffer(reason, losses, signal);
        const outcome = await this.#offerOne(offered, signal);
        if (signal.aborted) return { kind: 'closed' };
        if (outcome.kind === 'served' && this.config.once) {
          return isLostLink(outcome.error) ? { kind: 'failed', error: outcome.error } : { kind: 'served' };
        }
        if (outcome.kind === 'expired') this.emit('codeExpired');
        if (outcome.kind === 'relayLost') this.emit('relayLost', outcome.error, offered.created.nameplate);
        losses = outcome.kind === 'relayLost' ? losses + 1 : 0;
        reason = outcome.kind === 'relayLost' ? 'lost' : 'next';
      }
    } catch (err) {
      if (signal.aborted) return { kind: 'closed' };
      return { kind: 'failed', error: toKubepairError(err) };
    }
  }

  /**
   * Create a relay session and open its agent socket, waiting out a relay that is away or asks
   * to wait (see the file header); `reason` says what to wait out and what was announced already.
   * After `losses` relay losses in a row the first attempt already waits that far into the backoff.
   */
  async #openOffer(reason: OpenReason, losses: number, signal: AbortSignal): Promise<OpenOffer> {
    const relay = this.config.relay;
    const timing = { ...DEFAULT_LINK_TIMING, ...this.config.linkTiming };
    /** performance.now() when the outage began (announced by `relayLost` or `relayUnavailable`). */
    let outageSince = reason === 'lost' ? performance.now() : undefined;
    for (let attempt = 1 + losses; ; attempt++) {
      if (reason === 'lost' && attempt === 1 + losses) {
        await sleep(reconnectDelayMs(losses, undefined, timing, jitterSource), signal);
        if (signal.aborted) throw toKubepairError(signal.reason, 'KP_ERR_ABORTED');
      }
      try {
        const created = await createSession(relay, { signal });
        const socket = await openRelaySocket({ endpoint: relay, role: 'agent', sessionId: created.sessionId, key: created.agentKey, signal });
        if (outageSince !== undefined) this.emit('relayBack', performance.now() - outageSince);
        return { created, socket };
      } catch (err) {
        const error = toKubepairError(err);
        if (signal.aborted || reconnectVerdict(error) === 'stop') throw error;
        // Before the first code only the relay's own "come back later" is waited out.
        if (reason === 'first' && error.retryAfterMs === undefined) throw error;
        const waitMs = reconnectDelayMs(attempt, error, timing, jitterSource);
        if (error.retryAfterMs !== undefined) {
          this.emit('relayAsksToWait', error, waitMs);
        } else if (outageSince === undefined) {
          outageSince = performance.now();
          this.emit('relayUnavailable', error);
        }
        await sleep(waitMs, signal);
        if (signal.aborted) throw toKubepairError(signal.reason, 'KP_ERR_ABORTED');
      }
    }
  }

  /** Offer the code of `offered`, pair (counting failures), serve the one who pairs. */
  async #offerOne(offered: OpenOffer, signal: AbortSignal): Promise<CodeOutcome> {
    const { created, socket } = offered;
    const code = newPairingCode(created.nameplate);
    /** This attempt's CPace share, made while the code waits for a client (a fresh one per attempt). */
    let share: HandshakeShare | undefined;
    try {
      this.emit('code', code, created.expiresAt);
      for (let failures = 0; failures < PAIRING_MAX_ATTEMPTS; ) {
        // HELLO_A's share depends only on the code and the session: ready before the client
        // comes, so that HELLO_A answers `peer_connected` at once (issue 15, start-up).
        share?.wipe();
        share = new HandshakeShare(code, sessionIdBytes(created.sessionId));
        const peer = await socket.nextControl(['peer_connected'], signal);
        if (peer === undefined) {
          const gone = relayWentAway(socket);
          return gone === undefined ? { kind: 'expired' } : { kind: 'relayLost', error: gone };
        }
        const channel = await this.#pair(socket, code, created, share, failures, signal);
        if (channel === 'relayLost') return { kind: 'relayLost', error: relayWentAway(socket) ?? new KubepairError('KP_ERR_TRANSPORT_CLOSED') };
        if (channel !== undefined) {
          const windowS = Math.ceil(this.config.resumeWindowMs / 1000);
          socket.sendEstablished(windowS);
          const link = windowS > 0 ? this.#keepAlive(channel, socket, created, windowS) : undefined;
          let error: KubepairError | undefined;
          try {
            error = await this.#serve(channel, created, link, signal);
          } finally {
            link?.stop();
            if (link?.socket !== socket) link?.socket?.close(1000, 'agent done');
          }
          return { kind: 'served', error };
        }
        failures += 1;
      }
      throw new KubepairError('KP_ERR_PAIRING_ATTEMPTS_EXHAUSTED', `${PAIRING_MAX_ATTEMPTS} failed pairings on code ${code.nameplate}-…`);
    } finally {
      share?.wipe(); // taken (and wiped) by a handshake, or never used
      socket.close(1000, 'agent done');
    }
  }

  /**
   * One pairing attempt; undefined (and the failure reported) when it failed, 'relayLost' (not
   * counted: nobody guessed) when the relay went away in the middle of it.
   */
  async #pair(
    socket: RelaySocket,
    code: PairingCode,
    created: CreatedSession,
    share: HandshakeShare,
    failuresSoFar: number,
    signal: AbortSignal,
  ): Promise<SecureChannel | 'relayLost' | undefined> {
    const attempt = new AbortController();
    const onLeft = (message: RelayControlMessage): void => {
      if (message.type === 'peer_disconnected') attempt.abort(new KubepairError('KP_ERR_TRANSPORT_CLOSED', 'the client left'));
    };
    socket.controlMessages.on('control', onLeft);
    try {
      return await openSecureChannel('agent', {
        transport: socket,
        code,
        sessionId: sessionIdBytes(created.sessionId),
        share,
        caps: PEER_CAPABILITIES,
        keepTransportOnFailure: true,
        channel: { resumable: this.config.resumeWindowMs > 0 },
        signal: AbortSignal.any([signal, attempt.signal]),
        ...(this.config.handshakeStepTimeoutMs !== undefined && { stepTimeoutMs: this.config.handshakeStepTimeoutMs }),
      });
    } catch (err) {
      if (signal.aborted) throw toKubepairError(err, 'KP_ERR_ABORTED');
      const error = toKubepairError(err);
      if (socket.closed && error.code !== 'KP_ERR_PAIRING_FAILED' && relayWentAway(socket) !== undefined) return 'relayLost';
      if (!socket.closed) socket.sendPakeFailed();
      this.emit('attemptFailed', failuresSoFar + 1, PAIRING_MAX_ATTEMPTS, error);
      if (socket.closed && error.code !== 'KP_ERR_PAIRING_FAILED') throw error;
      return undefined;
    } finally {
      socket.controlMessages.off('control', onLeft);
    }
  }

  /**
   * Keep the paired session's channel alive across relay carriers (docs/design.md §8.1): reconnect
   * with the same agent key and restate the window after each resumption.
   */
  #keepAlive(channel: SecureChannel, socket: RelaySocket, created: CreatedSession, windowS: number): DurableLink {
    const relay = this.config.relay;
    return new DurableLink({
      channel,
      socket,
      openSocket: (attempt) => openRelaySocket({ endpoint: relay, role: 'agent', sessionId: created.sessionId, key: created.agentKey, signal: attempt }),
      resumeWindowMs: windowS * 1000,
      onCarrier: (carrier) => carrier.sendEstablished(windowS),
      ...(this.config.linkTiming !== undefined && { timing: this.config.linkTiming }),
    });
  }

  /** Serve the paired client until its session ends; resolves with why it ended (undefined: normally). */
  async #serve(channel: SecureChannel, created: CreatedSession, link: DurableLink | undefined, signal: AbortSignal): Promise<KubepairError | undefined> {
    const config = this.config;
    const session = new AgentSession(
      {
        sessionId: created.sessionId,
        mode: config.mode,
        policy: this.#policy,
        expose: config.expose,
        impersonate: config.impersonate,
        serviceAccount: config.serviceAccount,
        sessionLifetimeMs: config.sessionLifetimeMs,
        auditFailOpen: config.auditFailOpen,
        recording: config.recording,
        resumeWindowMs: link === undefined ? 0 : Math.ceil(config.resumeWindowMs / 1000) * 1000,
        upstream: config.upstream,
        audit: config.audit,
        ...(this.approvals !== undefined && { approvals: this.approvals }),
      },
      channel,
      link,
    );
    this.#sessions.add(session);
    void session.closed.then(() => this.#sessions.delete(session));
    this.emit('session', session);
    await session.start(signal);
    return await session.closed;
  }
}
