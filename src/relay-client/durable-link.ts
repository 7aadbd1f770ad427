/**
 * DurableLink: keeps one endpoint's secure channel alive across relay carriers (docs/design.md §8.1
 * "Liveness"; docs/protocol.md §7.7, §11.5). Given the resumable channel, the relay socket it
 * runs on and a way to open another socket of the same session (same key, same proxy
 * settings: the caller's `openSocket`), it
 *
 * - notices a dead carrier within seconds: on an idle link it sends a `ping` CONTROL every
 *   LINK_IDLE_PING_MS so the peer owes an ACK, and when the peer has owed one for
 *   LINK_ACK_DEADLINE_MS (a black hole: nothing closes, nothing arrives) it abandons the socket
 *   (the relay suspends the session; a close frame would end it);
 * - when the channel suspends (its carrier closed or was abandoned), asks `reconnectVerdict`
 *   whether another socket can help, then opens one with capped, jittered exponential backoff
 *   (RECONNECT_* in limits.ts; capped at RECONNECT_UNREACHED_MAX_DELAY_MS while the attempts
 *   never reach a relay: unreached-relay.ts; longer when a refusal carried `Retry-After`: the
 *   relay's 429 or 503, bounded by RECONNECT_RETRY_AFTER_MAX_MS) and runs `channel.resume()` on it, until it succeeds, the relay
 *   says the session is over ('stop'), the peer's RESUME is refused (fatal, the channel closes
 *   itself), or the resume window — counted from the suspension — runs out
 *   (KP_ERR_RESUME_WINDOW_EXPIRED). Whatever ends it closes the channel with a coded error;
 * - while the relay says the peer is away (`peer_suspended`, advisory) it does not blame its own
 *   carrier for the missing ACKs, and ends the session itself when the peer stays away longer
 *   than the window (a relay that never says so cannot hold the session open for ever).
 *
 * Events for the role objects (which turn them into their own events for the front end):
 * `dropped` (this side's carrier, or the peer's, went away), `resumed` (records flow again:
 * ResumeInfo), `ended` (this link gave up; the channel is closed with the same error). A
 * `resumed` answers exactly one `dropped`: the front end prints one line for each (§8.1), so a
 * resumption is announced once even when both sides opened an exchange at once (the channel
 * then reports it both as the peer's and as the answer to ours), and a peer resuming on our
 * carrier when no drop was announced (the relay never said the peer was away) is not news.
 *
 * Untrusted input: the relay's control frames and close codes (advisory: they decide when to
 * retry, never what is accepted; the end-to-end RESUME proof decides that, in the channel).
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import * as z from 'zod';
import type { ResumeInfo, SecureChannel } from '../channel/secure-channel.js';
import type { TransportCloseInfo } from '../channel/transport.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import {
  LINK_ACK_DEADLINE_MS,
  LINK_CHECK_INTERVAL_MS,
  LINK_IDLE_PING_MS,
  RECONNECT_INITIAL_DELAY_MS,
  RECONNECT_JITTER_FRACTION,
  RECONNECT_MAX_DELAY_MS,
  RECONNECT_UNREACHED_MAX_DELAY_MS,
  RESUME_STEP_TIMEOUT_MS,
} from '../limits.js';
import { CONTROL_TYPES } from '../protocol/channel-control.js';
import type { RelayControlMessage } from '../protocol/relay-control.js';
import { reconnectVerdict } from './reconnect-verdict.js';
import type { RelaySocket } from './relay-socket.js';
import { neverReachedRelay } from './unreached-relay.js';

/** The timing a link uses; every field defaults to its named limit (tests shorten them). */
export interface LinkTiming {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly jitterFraction: number;
  readonly idlePingMs: number;
  readonly ackDeadlineMs: number;
  readonly checkIntervalMs: number;
  /** How long one resume exchange on a new socket may take before that attempt fails. */
  readonly resumeTimeoutMs: number;
}

/** Timing a caller may override (tests), every field optional; checked where a role's config is. */
export const LinkTimingSchema = z
  .strictObject({
    initialDelayMs: z.number().int().min(1),
    maxDelayMs: z.number().int().min(1),
    jitterFraction: z.number().min(0).max(1),
    idlePingMs: z.number().int().min(1),
    ackDeadlineMs: z.number().int().min(1),
    checkIntervalMs: z.number().int().min(1),
    resumeTimeoutMs: z.number().int().min(1),
  })
  .partial();

export const DEFAULT_LINK_TIMING: LinkTiming = {
  initialDelayMs: RECONNECT_INITIAL_DELAY_MS,
  maxDelayMs: RECONNECT_MAX_DELAY_MS,
  jitterFraction: RECONNECT_JITTER_FRACTION,
  idlePingMs: LINK_IDLE_PING_MS,
  ackDeadlineMs: LINK_ACK_DEADLINE_MS,
  checkIntervalMs: LINK_CHECK_INTERVAL_MS,
  resumeTimeoutMs: RESUME_STEP_TIMEOUT_MS,
};

export interface DurableLinkOptions {
  readonly channel: SecureChannel;
  /** The relay socket the channel runs on now. */
  readonly socket: RelaySocket;
  /** Open another relay socket of this session (same role, key, endpoint and proxy). */
  readonly openSocket: (signal: AbortSignal) => Promise<RelaySocket>;
  /** How long this side keeps trying after a drop (the agent's `--resume-window`). */
  readonly resumeWindowMs: number;
  /** Called with each socket a resumption completed on (the agent restates `established`). */
  readonly onCarrier?: (socket: RelaySocket) => void;
  readonly timing?: Partial<LinkTiming>;
  /** Source of jitter in [0, 1) (default: node:crypto). */
  readonly random?: () => number;
}

/** Why the link went down. */
export interface LinkDrop {
  /** 'carrier': this side's socket ended; 'peer': the relay says the other side's did. */
  readonly side: 'carrier' | 'peer';
  /** What ended this side's socket, when it said (undefined: this side gave it up, or unknown). */
  readonly error?: KubepairError;
}

export interface DurableLinkEvents {
  dropped: [drop: LinkDrop];
  resumed: [info: ResumeInfo];
  /** This link gave up; the channel is closed with the same error. */
  ended: [error: KubepairError];
}

/** Capped exponential backoff with jitter: the delay before reconnect attempt `attempt` (1, 2, ...). */
export function backoffDelayMs(attempt: number, timing: Pick<LinkTiming, 'initialDelayMs' | 'maxDelayMs' | 'jitterFraction'>, random: () => number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(timing.maxDelayMs, timing.initialDelayMs * 2 ** exponent);
  return Math.round(ceiling * (1 - timing.jitterFraction * random()));
}

/**
 * The wait before reconnect attempt `attempt` (1, 2, ...) after `failure` (why the last socket
 * did not open): the jittered backoff, its cap lowered to RECONNECT_UNREACHED_MAX_DELAY_MS when
 * that attempt never reached a relay (refused, no route: it cost the relay nothing), so that the
 * first attempt after the relay listens again comes within that cap; or longer when the relay
 * asked for more with `Retry-After` (already bounded by RECONNECT_RETRY_AFTER_MAX_MS where it was
 * parsed: retry-after.ts).
 */
export function reconnectDelayMs(
  attempt: number,
  failure: KubepairError | undefined,
  timing: Pick<LinkTiming, 'initialDelayMs' | 'maxDelayMs' | 'jitterFraction'>,
  random: () => number,
): number {
  const capped = neverReachedRelay(failure) ? { ...timing, maxDelayMs: Math.min(timing.maxDelayMs, RECONNECT_UNREACHED_MAX_DELAY_MS) } : timing;
  return Math.max(backoffDelayMs(attempt, capped, random), failure?.retryAfterMs ?? 0);
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The relay's own error behind a channel error (the channel wraps a carrier's close error as `cause`). */
function relayCause(err: KubepairError): KubepairError {
  return err.cause instanceof KubepairError ? err.cause : err;
}

export class DurableLink extends EventEmitter<DurableLinkEvents> {
  readonly #channel: SecureChannel;
  readonly #openSocket: (signal: AbortSignal) => Promise<RelaySocket>;
  #windowMs: number;
  readonly #onCarrier: ((socket: RelaySocket) => void) | undefined;
  readonly #timing: LinkTiming;
  readonly #random: () => number;
  readonly #stop = new AbortController();
  #socket: RelaySocket | undefined;
  #unwatchSocket: () => void = () => undefined;
  /** This side abandoned the socket itself (ack deadline): its close says nothing about the session. */
  #abandoned = false;
  #reconnecting = false;
  /** A `dropped` was emitted and no `resumed` has answered it yet. */
  #announcedDrop = false;
  /** performance.now() of the relay's `peer_suspended` while the peer is away. */
  #peerAwaySince: number | undefined;
  /** performance.now() when the current carrier (or the peer) came back: the ack deadline counts from here at the earliest. */
  #carrierSince = performance.now();
  #lastPing = performance.now();
  readonly #timer: NodeJS.Timeout;

  constructor(options: DurableLinkOptions) {
    super();
    if (!Number.isSafeInteger(options.resumeWindowMs) || options.resumeWindowMs < 0) {
      throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'resumeWindowMs must be a non-negative integer');
    }
    this.#channel = options.channel;
    this.#openSocket = options.openSocket;
    this.#windowMs = options.resumeWindowMs;
    this.#onCarrier = options.onCarrier;
    this.#timing = { ...DEFAULT_LINK_TIMING, ...options.timing };
    this.#random = options.random ?? jitterSource;
    this.#watch(options.socket);
    this.#channel.on('suspend', this.#onSuspend);
    this.#channel.on('resume', this.#onPeerResumed);
    this.#channel.on('close', this.#dispose);
    this.#timer = setInterval(this.#check, this.#timing.checkIntervalMs);
    this.#timer.unref();
    if (this.#channel.isClosed) this.#dispose();
  }

  /** The relay socket the channel runs on (or last ran on, while suspended). */
  get socket(): RelaySocket | undefined {
    return this.#socket;
  }

  /**
   * Narrow the window (the client learns the agent's from the session description): never
   * longer than the one given at construction. Applies to outages that start afterwards.
   */
  setResumeWindow(ms: number): void {
    if (Number.isSafeInteger(ms) && ms >= 0) this.#windowMs = Math.min(this.#windowMs, ms);
  }

  /** Stop watching (the owner is closing the channel itself); idempotent. */
  stop(): void {
    this.#dispose();
  }

  #watch(socket: RelaySocket): void {
    this.#unwatchSocket();
    this.#socket = socket;
    this.#abandoned = false;
    this.#carrierSince = performance.now();
    const onControl = (message: RelayControlMessage): void => this.#onRelayControl(message);
    socket.controlMessages.on('control', onControl);
    this.#unwatchSocket = () => socket.controlMessages.off('control', onControl);
  }

  #onRelayControl(message: RelayControlMessage): void {
    if (message.type === 'peer_suspended') {
      if (this.#peerAwaySince !== undefined || this.#channel.state !== 'live') return;
      this.#peerAwaySince = performance.now();
      this.#announceDrop({ side: 'peer' });
    } else if (message.type === 'peer_resumed') {
      // The peer's RESUME follows on this carrier (the channel emits `resume`); until then the
      // missing ACKs are not this carrier's fault.
      this.#peerAwaySince = undefined;
      this.#carrierSince = performance.now();
    }
  }

  readonly #check = (): void => {
    const channel = this.#channel;
    if (channel.state !== 'live') return;
    const now = performance.now();
    if (this.#peerAwaySince !== undefined) {
      if (now - this.#peerAwaySince >= this.#windowMs) {
        this.#end(new KubepairError('KP_ERR_RESUME_WINDOW_EXPIRED', `the peer did not come back within ${describeMs(this.#windowMs)}`));
      }
      return;
    }
    const owedMs = Math.min(channel.stats.unacknowledgedMs, now - this.#carrierSince);
    if (owedMs >= this.#timing.ackDeadlineMs) {
      // A black hole: the socket is open, nothing comes back. Drop it without a close frame so
      // that the relay suspends the session, and reconnect (the channel suspends on the close).
      this.#abandoned = true;
      this.#socket?.abandon();
      return;
    }
    if (channel.stats.retainedRecords === 0 && now - this.#lastPing >= this.#timing.idlePingMs) {
      this.#lastPing = now;
      channel.sendControl({ type: CONTROL_TYPES.ping });
    }
  };

  readonly #onSuspend = (info: TransportCloseInfo): void => {
    const error = info.error instanceof KubepairError ? info.error : undefined;
    const abandoned = this.#abandoned;
    this.#peerAwaySince = undefined;
    this.#announceDrop(error === undefined ? { side: 'carrier' } : { side: 'carrier', error });
    if (!abandoned && error !== undefined && reconnectVerdict(error) === 'stop') {
      this.#end(error);
      return;
    }
    if (!this.#reconnecting) void this.#reconnect(performance.now() + this.#windowMs);
  };

  /** The peer resumed on our carrier (its own had died): records flow again. */
  readonly #onPeerResumed = (info: ResumeInfo): void => {
    if (!info.initiatedByPeer) return; // our own resume() reports below
    this.#peerAwaySince = undefined;
    this.#carrierSince = performance.now();
    this.#announceResumed(info);
  };

  async #reconnect(deadline: number): Promise<void> {
    this.#reconnecting = true;
    try {
      /** Why the last socket did not open: an attempt that never reached a relay is retried sooner; a Retry-After sets the next wait. */
      let failure: KubepairError | undefined;
      for (let attempt = 0; !this.#stop.signal.aborted && !this.#channel.isClosed; attempt++) {
        if (this.#channel.state === 'live') return; // the peer resumed on a socket of ours meanwhile
        const wait = attempt === 0 ? 0 : reconnectDelayMs(attempt, failure, this.#timing, this.#random);
        failure = undefined;
        if (performance.now() + wait >= deadline) {
          this.#end(new KubepairError('KP_ERR_RESUME_WINDOW_EXPIRED', `no working link to the relay and the peer within ${describeMs(this.#windowMs)}`));
          return;
        }
        await sleep(wait, this.#stop.signal);
        if (this.#stop.signal.aborted || this.#channel.isClosed) return;
        const remaining = Math.max(1, Math.round(deadline - performance.now()));
        const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(remaining)]);
        let socket: RelaySocket;
        try {
          socket = await this.#openSocket(signal);
        } catch (err) {
          const error = toKubepairError(err);
          if (this.#stop.signal.aborted) return;
          if (error.code !== 'KP_ERR_ABORTED' && reconnectVerdict(error) === 'stop') {
            this.#end(error);
            return;
          }
          failure = error;
          continue;
        }
        if (this.#stop.signal.aborted || this.#channel.isClosed) {
          socket.close();
          return;
        }
        this.#watch(socket);
        let info: ResumeInfo;
        try {
          info = await this.#channel.resume(socket, { timeoutMs: Math.min(this.#timing.resumeTimeoutMs, remaining), signal });
        } catch (err) {
          const error = toKubepairError(err);
          if (this.#channel.isClosed) {
            this.emit('ended', error); // a refused RESUME: the channel closed itself
            this.#dispose();
            return;
          }
          const cause = relayCause(error);
          if (cause !== error && reconnectVerdict(cause) === 'stop') {
            this.#end(cause);
            return;
          }
          continue;
        }
        this.#carrierSince = performance.now();
        this.#announceResumed(info);
        this.#onCarrier?.(socket);
        return;
      }
    } finally {
      this.#reconnecting = false;
    }
  }

  #announceDrop(drop: LinkDrop): void {
    this.#announcedDrop = true;
    this.emit('dropped', drop);
  }

  /** `resumed`, once per announced drop. */
  #announceResumed(info: ResumeInfo): void {
    if (!this.#announcedDrop) return;
    this.#announcedDrop = false;
    this.emit('resumed', info);
  }

  /** Give up: close the channel with `error` (its owner ends the session). */
  #end(error: KubepairError): void {
    if (this.#stop.signal.aborted) return;
    this.emit('ended', error);
    this.#dispose();
    this.#channel.close(error);
  }

  readonly #dispose = (): void => {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    clearInterval(this.#timer);
    this.#unwatchSocket();
    this.#channel.off('suspend', this.#onSuspend);
    this.#channel.off('resume', this.#onPeerResumed);
    this.#channel.off('close', this.#dispose);
  };
}

/** A uniform draw in [0, 1) for jitter (not a secret; node:crypto because the lint rule asks for it). */
export function jitterSource(): number {
  return randomInt(0, 1_000_000) / 1_000_000;
}

function describeMs(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}
