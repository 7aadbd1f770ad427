/**
 * `ClientTunnel`: the client role as an object you can hold (docs/design.md §1, §4-§6; CONVENTIONS
 * "A role is an object you can hold"; docs/architecture.md "Role objects"). It pairs with the
 * agent through the relay using the code, opens the secure channel and the mux, checks the
 * session description, opens the local listener(s) on 127.0.0.1 and writes the temporary
 * kubeconfig — and nothing else: the shell or command, exit codes, signals, prompts and terminal
 * output belong to the front end (src/cli/), which listens to the events.
 *
 * Shape (chisel's `client.Client`): a `Config` validated in the constructor (a bad one throws
 * KP_ERR_INVALID_ARGUMENT naming the field), `start(signal)` that resolves once the tunnel is
 * ready with what a front end needs, `closed` (a promise of why it ended, never rejected),
 * `close()`, and typed events. Its states, in order: idle → starting → ready → closing →
 * closed. Whatever way it ends — close(), the start signal, a failed start, the tunnel lost
 * under it — the kubeconfig is removed, the listeners closed and the channel closed before
 * `closed` resolves. A tunnel lost under it says why, typed (SessionEndReason): the agent's
 * `bye` (end to end: the sharer stopped, the lifetime), the relay gone or the sharer's side
 * gone beyond the resume window (the relay's text frames only choose between these two), a
 * failed channel; the front end words it. Kubeconfigs that earlier tunnels could not remove
 * (their process was killed with SIGKILL) are removed from the same directory while pairing
 * runs (stale-kubeconfigs.ts).
 *
 * Cancellation: an abort of the start signal, or close(), at any point while starting ends
 * start() with the abort's reason, and nothing is left behind; after start, the same signal
 * closes the tunnel (as RelayServer's does).
 *
 * Untrusted input: everything from the relay and the agent (the session description is checked
 * by protocol/session-description.ts, the agent's `bye` by protocol/channel-control.ts). The
 * configuration is trusted but checked.
 */
import { EventEmitter } from 'node:events';
import * as z from 'zod';
import { PairingCodeSchema } from '../channel/pairing-code.js';
import type { SecureChannel } from '../channel/secure-channel.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { nextEvent } from '../events/next-event.js';
import { DEFAULT_RESUME_WINDOW_MS, HANDSHAKE_STEP_TIMEOUT_MS, RELAY_RESUME_WINDOW_MAX_S, SESSION_TARGETS_MAX, TUNNEL_OUTAGE_WAIT_MS } from '../limits.js';
import type { MuxClient } from '../mux/mux-client.js';
import { PEER_CAPABILITIES } from '../protocol/capabilities.js';
import type { ByeReason, ControlMessage } from '../protocol/channel-control.js';
import { ByeMessageSchema, CONTROL_TYPES, SessionUpdateMessageSchema } from '../protocol/channel-control.js';
import type { PolicyShape } from '../protocol/policy-shape.js';
import type { RelayControlMessage } from '../protocol/relay-control.js';
import type { SessionDescription } from '../protocol/session-description.js';
import { parseSessionDescription } from '../protocol/session-description.js';
import { KUBE_API_TARGET, isValidTargetName } from '../protocol/target-name.js';
import { parseWith } from '../protocol/validate.js';
import { RelayEndpointSchema, resolveRelay } from '../relay-client/relay-endpoint.js';
import { DurableLink, LinkTimingSchema } from '../relay-client/durable-link.js';
import { pair } from '../relay-client/relay-api.js';
import type { PairedSession } from '../relay-client/relay-api.js';
import { PreopenedConnection } from '../relay-client/direct-connection.js';
import type { RelaySocket } from '../relay-client/relay-socket.js';
import { sanitizeClusterName } from '../session/cluster-name.js';
import { MAX_TIMER_MS } from '../units.js';
import type { KubeconfigSpec } from './kubeconfig.js';
import { TempKubeconfig } from './kubeconfig.js';
import type { LocalListener, OpeningStream } from './local-listener.js';
import type { ProxyIdentity } from './proxy-identity.js';
import { createProxyIdentity } from './proxy-identity.js';
import { chooseRuntimeDir } from '../process/runtime-dir.js';
import { removeStaleKubeconfigs } from './stale-kubeconfigs.js';

const port = z.number().int().min(0).max(65535);

const PortForwardSchema = z.strictObject({
  /** A fixed local port: a forward on "any free port" could not be found by its user. */
  localPort: port.min(1, 'a fixed local port (1-65535)'),
  target: z.string().refine(isValidTargetName, 'a target name: lowercase letters, digits and dashes'),
});

export const ClientTunnelConfigSchema = z
  .strictObject({
    relay: RelayEndpointSchema,
    code: PairingCodeSchema,
    /** Port for the API-server listener (0: any free port). */
    port: port.default(0),
    /** 127.0.0.1:localPort → a target the agent offers. */
    forwards: z.array(PortForwardSchema).max(SESSION_TARGETS_MAX).default([]),
    /**
     * Let any local user use the local listeners, as `ssh -L` does (default false: on Linux only
     * this user and root; local-listener.ts).
     */
    anyLocalUser: z.boolean().default(false),
    /** Where the kubeconfig goes; default: a RAM-backed runtime directory (runtime-dir.ts). */
    kubeconfigDir: z.string().min(1).optional(),
    /** How long one handshake step, and the session description, may take (default HANDSHAKE_STEP_TIMEOUT_MS). */
    handshakeStepTimeoutMs: z.number().int().min(1).max(MAX_TIMER_MS).optional(),
    /**
     * How long the tunnel keeps reconnecting after its link to the relay drops
     * (docs/design.md §8.1); the agent's window (the relay's) ends it earlier. 0: a dropped link
     * ends the tunnel.
     */
    resumeWindowMs: z.number().int().min(0).max(RELAY_RESUME_WINDOW_MAX_S * 1000).default(DEFAULT_RESUME_WINDOW_MS),
    /** How long a new local connection waits for a dropped link to come back (default TUNNEL_OUTAGE_WAIT_MS). */
    outageWaitMs: z.number().int().min(1).max(MAX_TIMER_MS).optional(),
    /** Reconnect and liveness timing (tests shorten it); defaults in src/limits.ts. */
    linkTiming: LinkTimingSchema.optional(),
  })
  .superRefine((config, ctx) => {
    const taken = new Set<number>(config.port === 0 ? [] : [config.port]);
    config.forwards.forEach((forward, index) => {
      if (taken.has(forward.localPort)) ctx.addIssue({ code: 'custom', path: ['forwards', index, 'localPort'], message: `port ${forward.localPort} is used twice` });
      taken.add(forward.localPort);
    });
  });

/** What a caller gives the constructor (defaults may be left out). */
export type ClientTunnelConfigInput = z.input<typeof ClientTunnelConfigSchema>;
/** The checked configuration, defaults filled in. */
export type ClientTunnelConfig = z.output<typeof ClientTunnelConfigSchema>;

export interface PortForward {
  readonly localPort: number;
  readonly target: string;
}

/** What start() resolves with, and the `ready` event carries: what a front end shows and hands on. */
export interface TunnelReady {
  /** The agent's validated session description. */
  readonly description: SessionDescription;
  /** The cluster's name, sanitized ([a-zA-Z0-9._-]): safe for prompts and file names. */
  readonly clusterName: string;
  /** The kubeconfig's path (0600, in `kubeconfigDir`). */
  readonly kubeconfig: string;
  /** True when the kubeconfig is in a memory-backed directory. */
  readonly ramBacked: boolean;
  /** The API server listener's port on 127.0.0.1. */
  readonly port: number;
  readonly forwards: readonly PortForward[];
}

/**
 * Why the session of a ready tunnel ended under it, as far as this side can tell (the front end
 * words it). Only the first two can come from the agent itself, end to end (its `bye`, or the
 * validated description's `expires_at`); the relay's text frames only pick among the others.
 */
export type SessionEndReason =
  /** The agent said `bye`: the sharer stopped `share`. */
  | 'sharer_stopped'
  /** The agent said `bye`: the sharer ended this session (`kubepair session end`); `share` goes on. */
  | 'sharer_ended_session'
  /** The agent said `bye` for the lifetime, or the description's `expires_at` has passed. */
  | 'lifetime_reached'
  /**
   * This side's link to the relay dropped and no relay socket could be opened again within the
   * resume window (or the relay shut down and there is no window).
   */
  | 'relay_gone'
  /**
   * The sharer's side went away (the relay said so, or it was reachable and the agent never
   * resumed) and did not come back within the resume window.
   */
  | 'sharer_gone'
  /** The secure channel failed: a record that did not authenticate, a protocol violation, a refused resume proof (close codes 41xx). */
  | 'channel_error'
  /** None of these: `error` says what is known. */
  | 'unknown';

/** Why a tunnel ended. */
export type TunnelEnd =
  /** close() was called, or the start signal aborted. */
  | { readonly kind: 'closed' }
  /** start() failed (pairing, the relay, the agent); start rejected with the same error. */
  | { readonly kind: 'failed'; readonly error: KubepairError }
  /** The channel closed under a ready tunnel: why (`reason`) and the channel's close error. */
  | { readonly kind: 'lost'; readonly reason: SessionEndReason; readonly error: KubepairError | undefined };

/**
 * The link came back (docs/design.md §8.1): how long it was down, and how many records were sent
 * again.
 */
export interface LinkResumed {
  readonly outageMs: number;
  readonly retransmitted: number;
}

/** Connections from other local users closed by a local listener (the first from each uid on each port). */
export interface ForeignUserRefusal {
  readonly target: string;
  readonly localPort: number;
  readonly uids: readonly number[];
}

/** Other local users reported per listener; later ones are closed as well, silently. */
const FOREIGN_USERS_REPORTED_MAX = 16;

/** A plain local connection the agent refused (passthrough API, --forward). */
export interface RefusedConnection {
  readonly target: string;
  readonly localPort: number;
}

/**
 * The steps of start() in order (but `runtime_dir`, see there), each announced by a
 * `startStep` event when it is done (the front end's start-up timeline, docs/performance.md
 * "Start-up").
 */
export type TunnelStartStep =
  /** The relay answered the pairing request (session id and key). */
  | 'relay_paired'
  /** The WebSocket to the relay is open. */
  | 'relay_socket'
  /** The secure channel with the agent is open (CPace done, key confirmed). */
  | 'channel'
  /** The agent's session description arrived and is valid. */
  | 'description'
  /** The proxy-mode TLS identity is ready (proxy mode only). */
  | 'tls_identity'
  /** The local listeners listen. */
  | 'listeners'
  /**
   * The runtime directory is chosen and stale kubeconfigs are removed: work done while the
   * pairing round trips run, so this step comes wherever it finishes, always before `kubeconfig`.
   */
  | 'runtime_dir'
  /** The kubeconfig is written. */
  | 'kubeconfig';

export interface ClientTunnelEvents {
  /** A step of start() is done (in the order of TunnelStartStep). */
  startStep: [step: TunnelStartStep];
  /** Kubeconfigs of tunnels whose process no longer runs were removed. */
  staleKubeconfigsRemoved: [count: number];
  /** The relay knows the code and holds the connection; the handshake with the agent starts. */
  waitingForAgent: [];
  /** Paired, and the session description is valid. */
  paired: [description: SessionDescription];
  ready: [ready: TunnelReady];
  /** A plain local connection was closed because its tunnel stream could not be opened (kubectl in proxy mode gets a Status instead). */
  connectionRefused: [connection: RefusedConnection, error: KubepairError];
  /** A local listener closed connections of another local user (the first from each uid on each port). */
  foreignUserRefused: [refusal: ForeignUserRefusal];
  /**
   * The link to the agent dropped (this side's carrier, or the agent's): the listeners and the
   * kubeconfig stay; streams pause; new connections wait for it (bounded).
   */
  linkDropped: [side: 'carrier' | 'peer', error: KubepairError | undefined];
  /** The link is back; nothing was lost. */
  linkResumed: [info: LinkResumed];
  /** The link did not come back within the resume window; `closed` follows (kind 'lost'). */
  windowExpired: [error: KubepairError];
  /** The sharer changed the session (its `session_update`, end to end): the policy and end time in force now, and before. */
  sessionChanged: [change: TunnelSessionChange];
  /** The tunnel ended; everything it held is released. */
  closed: [end: TunnelEnd];
}

/** What the agent's `session_update` changed: the policy and end time now, and what they were. */
export interface TunnelSessionChange {
  readonly policy: PolicyShape;
  readonly expiresAt: Date;
  readonly previousPolicy: PolicyShape;
  readonly previousExpiresAt: Date;
}

/** What `kubepair status` shows of the connect side's session. */
export interface TunnelInfo {
  /** The relay session id. */
  readonly id: string;
  /** The cluster the agent shares (sanitized) and the relay between. */
  readonly cluster: string;
  readonly relay: string;
  readonly mode: 'proxy' | 'passthrough';
  /** The policy and end time as the agent last said (its description, then each `session_update`). */
  readonly policy: PolicyShape;
  readonly startedAt: Date;
  readonly expiresAt: Date;
  /** Tunnel payload bytes to the agent and from it. */
  readonly bytesToAgent: number;
  readonly bytesFromAgent: number;
  readonly link: string;
  readonly kubeconfig: string;
  readonly port: number;
}

type TunnelState = 'idle' | 'starting' | 'ready' | 'closing' | 'closed';

/** What this side saw of the link while the session ran, to tell why it ended. */
interface EndClues {
  /** The agent's `bye`, end to end. */
  bye?: ByeReason;
  /** The description's end of the session. */
  expiresAt?: number;
  /** The relay said the agent's socket is away (`peer_suspended`) and it has not resumed since. */
  peerAway: boolean;
  /** The relay said the agent left (`peer_disconnected`). */
  peerLeft: boolean;
  /** Since this side's carrier dropped, no new relay socket could be opened. */
  relayUnreachable: boolean;
}

/** Close codes of end-to-end channel failures (docs/protocol.md §8). */
function isChannelFailure(error: KubepairError | undefined): boolean {
  const code = error?.closeCode;
  return code !== undefined && code >= 4100 && code <= 4199;
}

/** Why the session ended, from the channel's close error and what was seen before it. */
export function sessionEndReason(error: KubepairError | undefined, clues: EndClues, now: number): SessionEndReason {
  if (clues.bye !== undefined) return clues.bye;
  if (isChannelFailure(error)) return 'channel_error';
  if (clues.expiresAt !== undefined && now >= clues.expiresAt - 1000) return 'lifetime_reached';
  if (error?.code === 'KP_ERR_RESUME_WINDOW_EXPIRED') return clues.relayUnreachable ? 'relay_gone' : 'sharer_gone';
  if (error?.code === 'KP_ERR_RELAY_SHUTTING_DOWN') return 'relay_gone';
  if (clues.peerAway || clues.peerLeft) return 'sharer_gone';
  return 'unknown';
}

/** What a starting or ready tunnel holds, released on every way out. */
interface Held {
  channel?: SecureChannel;
  link?: DurableLink;
  mux?: MuxClient;
  readonly listeners: LocalListener[];
  kubeconfig?: TempKubeconfig;
}

/**
 * The code start() needs only once the relay has answered the pairing request: the relay socket
 * (ws), the secure channel (CPace and its curve arithmetic), the mux (HTTP/2) and the local
 * listeners. Loaded while that request runs instead of before it (issue 15, start-up;
 * docs/performance.md "Start-up"): in the package each is a chunk of its own.
 */
async function loadSessionCode() {
  const [relaySocket, channel, mux, listener] = await Promise.all([
    import('../relay-client/relay-socket.js'),
    import('../channel/open-secure-channel.js'),
    import('../mux/mux-client.js'),
    import('./local-listener.js'),
  ]);
  return {
    openRelaySocket: relaySocket.openRelaySocket,
    openSecureChannel: channel.openSecureChannel,
    MuxClient: mux.MuxClient,
    LocalListener: listener.LocalListener,
    defaultLocalPeerPolicy: listener.defaultLocalPeerPolicy,
  };
}

/** The reason `signal` was aborted, as the error start() ends with. */
function abortReason(signal: AbortSignal): KubepairError {
  return toKubepairError(signal.reason, 'KP_ERR_ABORTED');
}

export class ClientTunnel extends EventEmitter<ClientTunnelEvents> {
  readonly config: ClientTunnelConfig;
  /** Resolves once the tunnel has ended and released everything; never rejects. */
  readonly closed: Promise<TunnelEnd>;
  #state: TunnelState = 'idle';
  #held: Held = { listeners: [] };
  readonly #clues: EndClues = { peerAway: false, peerLeft: false, relayUnreachable: false };
  /** Aborted by close() while starting. */
  readonly #closing = new AbortController();
  #resolveClosed!: (end: TunnelEnd) => void;
  #stopWatchingSignal: () => void = () => undefined;
  /** The session as the agent last described it, once ready. */
  #session: { id: string; ready?: TunnelReady; startedAt: Date; policy: PolicyShape; expiresAt: Date } | undefined;

  constructor(config: ClientTunnelConfigInput) {
    super();
    this.config = parseWith(ClientTunnelConfigSchema, config, 'KP_ERR_INVALID_ARGUMENT', 'tunnel configuration');
    resolveRelay(this.config.relay); // the URL's own rules, with their own codes
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** idle, starting, ready, closing or closed. */
  get state(): TunnelState {
    return this.#state;
  }

  /** Pair and set up; resolves once kubectl can use the kubeconfig. Called once. */
  async start(signal?: AbortSignal): Promise<TunnelReady> {
    if (this.#state !== 'idle') throw new KubepairError('KP_ERR_INTERNAL', `a tunnel starts once (it is ${this.#state})`);
    this.#state = 'starting';
    const stop = signal === undefined ? this.#closing.signal : AbortSignal.any([signal, this.#closing.signal]);
    let ready: TunnelReady;
    try {
      if (stop.aborted) throw abortReason(stop);
      ready = await this.#open(stop);
      if (stop.aborted) throw abortReason(stop);
    } catch (err) {
      const error = stop.aborted ? abortReason(stop) : toKubepairError(err);
      this.#state = 'closing';
      await this.#release();
      this.#finish(stop.aborted ? { kind: 'closed' } : { kind: 'failed', error });
      throw error;
    }
    this.#state = 'ready';
    const channel = this.#held.channel!;
    if (this.#session !== undefined) this.#session.ready = ready;
    void channel.closed.then((error) => this.#end({ kind: 'lost', reason: sessionEndReason(error, this.#clues, Date.now()), error }));
    if (signal !== undefined) {
      const onAbort = (): void => void this.close();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#stopWatchingSignal = () => signal.removeEventListener('abort', onAbort);
    }
    this.emit('ready', ready);
    return ready;
  }

  /** What `kubepair status` shows; undefined unless ready. */
  get info(): TunnelInfo | undefined {
    const session = this.#session;
    const channel = this.#held.channel;
    if (this.#state !== 'ready' || session?.ready === undefined || channel === undefined) return undefined;
    const stats = channel.stats;
    const ready = session.ready;
    return {
      id: session.id,
      cluster: ready.clusterName,
      relay: this.config.relay.url,
      mode: ready.description.mode,
      policy: session.policy,
      startedAt: session.startedAt,
      expiresAt: session.expiresAt,
      bytesToAgent: stats.muxBytesSent,
      bytesFromAgent: stats.muxBytesReceived,
      link: channel.state,
      kubeconfig: ready.kubeconfig,
      port: ready.port,
    };
  }

  /** End the tunnel (idempotent); resolves once everything is released. */
  async close(): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'closed';
      this.#finish({ kind: 'closed' });
    } else if (this.#state === 'starting') {
      this.#closing.abort(new KubepairError('KP_ERR_ABORTED', 'the tunnel was closed while starting'));
    } else if (this.#state === 'ready') {
      this.#end({ kind: 'closed' });
    }
    await this.closed;
  }

  async #open(signal: AbortSignal): Promise<TunnelReady> {
    const config = this.config;
    // The pairing request goes out first (issue 15, start-up): the rest of this block is work
    // that does not need the relay's answer and overlaps its round trip instead of delaying it.
    const pairing = pair(config.relay, config.code.nameplate, { signal });
    // The relay WebSocket's own connection (TCP, TLS) is opened beside the request, so that the
    // upgrade can go out as soon as the answer names the session (not through a proxy).
    const preopened = PreopenedConnection.open(config.relay);
    // Awaited once the relay has answered; a failure to load is reported there.
    const sessionCode = loadSessionCode();
    sessionCode.catch(() => undefined);
    // Where the kubeconfig goes, and the removal of kubeconfigs whose process is gone: file
    // system work needed only when the kubeconfig is written. Awaited there; a failure (there
    // is none expected: both fall back rather than throw) is reported there.
    const runtimeDir = this.#chooseRuntimeDir();
    runtimeDir.catch(() => undefined);
    // Proxy mode's TLS identity takes tens of ms to make: start now, overlapping the pairing
    // round trips. It is awaited only once the agent says the session is in proxy mode (a
    // failure is reported there); otherwise it is dropped.
    const proxyIdentity: Promise<ProxyIdentity> = createProxyIdentity();
    proxyIdentity.catch(() => undefined);

    let paired: PairedSession;
    let code: Awaited<typeof sessionCode>;
    try {
      paired = await pairing;
      this.emit('startStep', 'relay_paired');
      code = await sessionCode;
    } catch (err) {
      preopened?.close();
      throw err;
    }
    const { openRelaySocket, openSecureChannel, MuxClient, LocalListener, defaultLocalPeerPolicy } = code;
    const clues = this.#clues;
    // The relay's word that the agent left: a hint for the end's reason, nothing more.
    const watchRelay = (relaySocket: RelaySocket): RelaySocket => {
      const onControl = (message: RelayControlMessage): void => {
        if (message.type === 'peer_disconnected') clues.peerLeft = true;
      };
      relaySocket.controlMessages.on('control', onControl);
      return relaySocket;
    };
    let opened: RelaySocket;
    try {
      opened = await openRelaySocket({ endpoint: config.relay, role: 'client', sessionId: paired.sessionId, key: paired.clientKey, signal, preopened });
    } finally {
      preopened?.close(); // unless ws took it
    }
    const socket = watchRelay(opened);
    this.emit('startStep', 'relay_socket');
    const stepTimeoutMs = config.handshakeStepTimeoutMs ?? HANDSHAKE_STEP_TIMEOUT_MS;
    this.emit('waitingForAgent');
    const channel = await openSecureChannel('client', {
      transport: socket,
      code: config.code,
      sessionId: new Uint8Array(Buffer.from(paired.sessionId, 'base64url')),
      caps: PEER_CAPABILITIES,
      signal,
      stepTimeoutMs,
      channel: { resumable: config.resumeWindowMs > 0 },
    });
    this.#held.channel = channel;
    this.emit('startStep', 'channel');
    if (config.resumeWindowMs > 0) {
      const link = new DurableLink({
        channel,
        socket,
        openSocket: async (attempt) => {
          const opened = await openRelaySocket({ endpoint: config.relay, role: 'client', sessionId: paired.sessionId, key: paired.clientKey, signal: attempt });
          clues.relayUnreachable = false;
          return watchRelay(opened);
        },
        resumeWindowMs: config.resumeWindowMs,
        ...(config.linkTiming !== undefined && { timing: config.linkTiming }),
      });
      this.#held.link = link;
      link.on('dropped', (drop) => {
        // Until a resumption, the agent counts as away once the relay said so (the relay then
        // ends the session with a close that drops this side's carrier too).
        if (drop.side === 'peer') clues.peerAway = true;
        else clues.relayUnreachable = true;
        this.emit('linkDropped', drop.side, drop.error);
      });
      link.on('resumed', (info) => {
        clues.peerAway = false;
        clues.relayUnreachable = false;
        this.emit('linkResumed', { outageMs: info.outageMs, retransmitted: info.retransmitted });
      });
      link.on('ended', (error) => {
        if (error.code === 'KP_ERR_RESUME_WINDOW_EXPIRED') this.emit('windowExpired', error);
      });
    }
    const description = parseSessionDescription(await this.#firstControl(channel, stepTimeoutMs, signal));
    clues.expiresAt = Date.parse(description.expires_at);
    this.emit('startStep', 'description');
    // The agent's `bye` ends the session: remember why (end to end) and end this side at once.
    channel.on('control', (message) => {
      if (message.type !== CONTROL_TYPES.bye) return;
      const bye = ByeMessageSchema.safeParse(message);
      if (!bye.success) return; // a reason this version does not know: as if none was given
      clues.bye ??= bye.data.reason;
      channel.close();
    });
    // The sharer changed the session: keep this side's view true and say so. An invalid update
    // is treated as absent (the agent enforces its policy whatever this side believes).
    this.#session = { id: paired.sessionId, startedAt: new Date(), policy: description.policy, expiresAt: new Date(description.expires_at) };
    channel.on('control', (message) => {
      if (message.type !== CONTROL_TYPES.sessionUpdate) return;
      const update = SessionUpdateMessageSchema.safeParse(message);
      const session = this.#session;
      if (!update.success || session === undefined) return;
      const change: TunnelSessionChange = {
        policy: update.data.policy,
        expiresAt: new Date(update.data.expires_at),
        previousPolicy: session.policy,
        previousExpiresAt: session.expiresAt,
      };
      session.policy = change.policy;
      session.expiresAt = change.expiresAt;
      clues.expiresAt = change.expiresAt.getTime();
      this.emit('sessionChanged', change);
    });
    for (const forward of config.forwards) {
      if (!description.targets.includes(forward.target)) {
        throw new KubepairError('KP_ERR_MUX_TARGET_UNKNOWN', `"${forward.target}" (the agent offers: ${description.targets.join(', ')})`);
      }
    }
    // The agent's window bounds ours: past it the relay has ended the session anyway.
    this.#held.link?.setResumeWindow((description.resume_window_s ?? 0) * 1000);
    this.emit('paired', description);
    const mux = new MuxClient(channel);
    this.#held.mux = mux;
    // While the link is down a new connection waits for it (bounded), then opens its stream.
    const beginStream = async (target: string): Promise<OpeningStream> => {
      await this.#linkLive(channel, config.outageWaitMs ?? TUNNEL_OUTAGE_WAIT_MS);
      return mux.beginStream(target);
    };
    const clusterName = sanitizeClusterName(description.cluster.name);
    // Which local users may use the listeners; one lookup of socket owners shared by all of them.
    const peers = { peers: config.anyLocalUser ? ({ kind: 'any' } as const) : defaultLocalPeerPolicy() };

    let spec: Omit<KubeconfigSpec, 'server'>;
    let apiListener: LocalListener;
    if (description.mode === 'proxy') {
      const { caPem, certPem, keyPem, token } = await proxyIdentity;
      this.emit('startStep', 'tls_identity');
      apiListener = new LocalListener({ security: { kind: 'tls-token', certPem, keyPem, token }, port: config.port, target: KUBE_API_TARGET, beginStream, ...peers });
      spec = { clusterName, caPem, user: { token }, ...(description.namespace !== undefined && { namespace: description.namespace }) };
    } else {
      const credentials = description.credentials!;
      apiListener = new LocalListener({ security: { kind: 'plain' }, port: config.port, target: KUBE_API_TARGET, beginStream, ...peers });
      spec = {
        clusterName,
        caPem: description.cluster.ca!,
        tlsServerName: description.cluster.server_name!,
        user: 'token' in credentials ? { token: credentials.token } : { clientCertificatePem: credentials.client_certificate, clientKeyPem: credentials.client_key },
        ...(description.namespace !== undefined && { namespace: description.namespace }),
      };
    }
    this.#held.listeners.push(apiListener);
    const apiPort = await apiListener.listen();
    // A plain client (kubectl in passthrough, anything on a --forward port) can only see its
    // connection close; the front end says why (kubectl in proxy mode gets a Status instead).
    const reportRefusals = (listener: LocalListener, target: string, localPort: number): void => {
      listener.on('streamError', (error, phase) => {
        if (phase === 'open') this.emit('connectionRefused', { target, localPort }, error);
      });
    };
    // Another local user's connections are closed on every listener; the front end says so once per user and port.
    const reportForeignUsers = (listener: LocalListener, target: string, localPort: number): void => {
      const told = new Set<number>();
      listener.on('foreignUser', (uids) => {
        const fresh = uids.filter((uid) => !told.has(uid));
        if (fresh.length === 0 || told.size >= FOREIGN_USERS_REPORTED_MAX) return;
        for (const uid of fresh) told.add(uid);
        this.emit('foreignUserRefused', { target, localPort, uids: fresh });
      });
    };
    reportForeignUsers(apiListener, KUBE_API_TARGET, apiPort);
    if (description.mode === 'passthrough') reportRefusals(apiListener, KUBE_API_TARGET, apiPort);
    const forwards: PortForward[] = [];
    for (const forward of config.forwards) {
      const listener = new LocalListener({ security: { kind: 'plain' }, port: forward.localPort, target: forward.target, beginStream, ...peers });
      this.#held.listeners.push(listener);
      const bound = await listener.listen();
      reportRefusals(listener, forward.target, bound);
      reportForeignUsers(listener, forward.target, bound);
      forwards.push({ localPort: bound, target: forward.target });
    }
    this.emit('startStep', 'listeners');
    const runtime = await runtimeDir;
    if (signal.aborted) throw abortReason(signal);
    const kubeconfig = await TempKubeconfig.create(runtime.path, { ...spec, server: `https://127.0.0.1:${apiPort}` });
    this.#held.kubeconfig = kubeconfig;
    this.emit('startStep', 'kubeconfig');
    return { description, clusterName, kubeconfig: kubeconfig.path, ramBacked: runtime.ramBacked, port: apiPort, forwards };
  }

  /**
   * The directory the kubeconfig goes to, once kubeconfigs that earlier tunnels left behind are
   * removed from it; announces `runtime_dir` (while pairing runs: its place in the start-up
   * timeline is wherever it finishes, before `kubeconfig`).
   */
  async #chooseRuntimeDir(): Promise<{ path: string; ramBacked: boolean }> {
    const config = this.config;
    const runtime = config.kubeconfigDir === undefined ? await chooseRuntimeDir() : { path: config.kubeconfigDir, ramBacked: false };
    const stale = await removeStaleKubeconfigs(runtime.path);
    if (this.#state !== 'starting') return runtime; // start failed meanwhile: nothing more to say
    if (stale.length > 0) this.emit('staleKubeconfigsRemoved', stale.length);
    this.emit('startStep', 'runtime_dir');
    return runtime;
  }

  /** Resolves at once when records flow; else when they flow again, or rejects after `timeoutMs`. */
  #linkLive(channel: SecureChannel, timeoutMs: number): Promise<void> {
    if (channel.state === 'live') return Promise.resolve();
    return nextEvent<void>(
      (outcome) => {
        const check = (): void => {
          if (channel.state === 'live') outcome.resolve();
        };
        const onClose = (error: KubepairError | undefined): void => outcome.reject(error ?? new KubepairError('KP_ERR_CHANNEL_CLOSED'));
        channel.on('resume', check);
        channel.on('close', onClose);
        return () => {
          channel.off('resume', check);
          channel.off('close', onClose);
        };
      },
      {
        abortError: () => new KubepairError('KP_ERR_ABORTED'),
        timeoutMs,
        timeoutError: () => new KubepairError('KP_ERR_MUX_STREAM_FAILED', `the link to the agent did not come back within ${Math.round(timeoutMs / 1000)} s`),
      },
    );
  }

  /** The agent's first CONTROL message, within the handshake step deadline. */
  #firstControl(channel: SecureChannel, timeoutMs: number, signal: AbortSignal): Promise<ControlMessage> {
    return nextEvent<ControlMessage>(
      (outcome) => {
        // A liveness ping (docs/design.md §8.1) may come first; it says nothing.
        const onControl = (message: ControlMessage): void => {
          if (message.type !== CONTROL_TYPES.ping) outcome.resolve(message);
        };
        const onClose = (error: KubepairError | undefined): void => outcome.reject(error ?? new KubepairError('KP_ERR_TRANSPORT_CLOSED'));
        channel.on('control', onControl);
        channel.on('close', onClose);
        return () => {
          channel.off('control', onControl);
          channel.off('close', onClose);
        };
      },
      {
        signal,
        abortError: abortReason,
        timeoutMs,
        timeoutError: () => new KubepairError('KP_ERR_SESSION_DESCRIPTION', 'none arrived within the deadline'),
      },
    );
  }

  /** A ready tunnel ends: release, then report. */
  #end(end: TunnelEnd): void {
    if (this.#state !== 'ready') return;
    this.#state = 'closing';
    this.#stopWatchingSignal();
    void this.#release().then(() => this.#finish(end));
  }

  /** Remove the kubeconfig, close the listeners, the mux and the channel; never throws. */
  async #release(): Promise<void> {
    const held = this.#held;
    this.#held = { listeners: [] };
    await held.kubeconfig?.remove().catch(() => undefined);
    await Promise.allSettled(held.listeners.map((listener) => listener.close()));
    held.link?.stop();
    held.mux?.close();
    held.channel?.close();
  }

  #finish(end: TunnelEnd): void {
    this.#state = 'closed';
    this.#resolveClosed(end);
    this.emit('closed', end);
  }
}
