/**
 * `AgentSession`: one paired session of the agent role, as an object you can hold
 * (docs/design.md §1, §5, §6; docs/architecture.md "Role objects"). It owns what lives as long as
 * one client is connected: the secure channel, the mux, the offered targets (the kube proxy in
 * proxy mode, raw TCP to the API server in passthrough, `--expose` targets), the audit gate every
 * stream passes (connection-audit.ts: recorded before it is served, refused while it cannot be),
 * and the session's lifetime. CodeOffer creates one for each client that pairs.
 *
 * Shape (chisel's `share/tunnel`): a `Config` validated in the constructor, `start(signal)`
 * that sends the session description and resolves once streams are served, `closed` (the
 * reason the channel ended, after everything is released), `close()`, and typed events. The
 * session ends when the channel closes: the client left, the relay went away, the lifetime
 * ran out (KP_ERR_SESSION_EXPIRED; in passthrough with a ServiceAccount token, no later than
 * the token), or close() / the start signal. When it ends the session itself (the lifetime,
 * close(), the signal) it first tells the client why in a `bye` CONTROL record, end to end
 * (protocol/channel-control.ts). A dropped relay link does not end it: the
 * DurableLink CodeOffer hands in (relay-client/durable-link.ts, docs/design.md §8.1) resumes the
 * channel on a new carrier, and the session reports the drop and the resumption as events; the
 * mux, the policy and the audit never see a cut.
 *
 * The session's policy has one home, its PolicyHolder, and changes only through changePolicy:
 * `kubepair session policy`, and "approve for the session" of `share --approve`
 * (approveForSession: the approved request's --allow rules are added like `session policy
 * --allow` adds them, audited first, the client told, shown by `kubepair status`).
 *
 * Untrusted input: everything the client sends through the channel (the kube proxy, the mux
 * and the targets each check their part).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { dirname, resolve } from 'node:path';
import type { RequestAuditRecord } from '../audit/record.js';
import type { SecureChannel } from '../channel/secure-channel.js';
import type { DurableLink } from '../relay-client/index.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import type { GateVerdict, StreamGate, StreamInfo, StreamOutcome, TargetHandler } from '../mux/mux-server.js';
import { MuxServer } from '../mux/mux-server.js';
import type { SessionDescription } from '../protocol/session-description.js';
import type { ByeReason, SessionUpdateMessage } from '../protocol/channel-control.js';
import { CONTROL_TYPES } from '../protocol/channel-control.js';
import type { PolicyShape } from '../protocol/policy-shape.js';
import type { CarrierState } from '../channel/secure-channel.js';
import { PolicyHolder, applyPolicyChange, parseRule } from './policy/index.js';
import type { PolicyChange } from './policy/index.js';
import { KUBE_API_TARGET } from '../protocol/target-name.js';
import { APPROVAL_SESSION_RULES_MAX, POLICY_MAX_RULES } from '../limits.js';
import type { SessionRules } from './approval-queue.js';
import { ConnectionAudit } from './connection-audit.js';
import { KubeProxy } from './kube-proxy.js';
import { passthroughCredentials } from './passthrough-credentials.js';
import type { AgentSessionConfig, AgentSessionConfigInput } from './share-config.js';
import { checkAgentSessionConfig } from './share-config.js';
import { tcpTargetHandler } from './tcp-targets.js';
import type { UpstreamCluster } from './upstream-cluster.js';

/** A connection the client made through the tunnel to a raw TCP target (an `--expose` name, or the API server in passthrough). */
export interface ForwardedConnection {
  /** The target's name (one the agent offered; checked by the mux). */
  readonly target: string;
  /** The tunnel stream's id, unique within the session (the audit records carry it too). */
  readonly streamId: number;
}

/** How a forwarded connection ended. */
export interface ForwardedConnectionEnd {
  /** Bytes from the client to the target, and from the target to the client. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly durationMs: number;
  readonly error?: Error;
}

export interface AgentSessionEvents {
  /** The session description was sent; streams are served from now on. */
  established: [description: SessionDescription];
  /** A request through the kube proxy finished (proxy mode), as the audit records it before redaction. */
  request: [record: RequestAuditRecord];
  /** A connection to a raw TCP target was admitted (its audit record written) and is being served. */
  connectionOpened: [connection: ForwardedConnection];
  /** That connection ended. */
  connectionClosed: [connection: ForwardedConnection, end: ForwardedConnectionEnd];
  /** The link to the client dropped (this side's carrier, or the client's); streams pause. */
  linkDropped: [side: 'carrier' | 'peer', error: KubepairError | undefined];
  /** The link is back; nothing was lost. */
  linkResumed: [info: { readonly outageMs: number; readonly retransmitted: number }];
  /** The link did not come back within the resume window; `ended` follows. */
  windowExpired: [error: KubepairError];
  /** The sharer changed the running session (policy or end time); the client was told and the audit has it. */
  changed: [change: SessionChange];
  /** The session ended and everything it held is released. */
  ended: [error: KubepairError | undefined];
}

/** A change the sharer made to a running session (`kubepair session ...`, or "approve for the session"). */
export type SessionChange =
  | {
      readonly kind: 'policy';
      readonly policy: PolicyShape;
      readonly previous: PolicyShape;
      readonly droppedAllow: readonly string[];
      /** Set when "approve for the session" made it: the approved request's audit id. */
      readonly approvedRequest?: string;
    }
  | { readonly kind: 'expiry'; readonly expiresAt: Date; readonly previous: Date };

/** What `kubepair status` shows of one session of the agent. */
export interface AgentSessionInfo {
  /** The relay session id (the audit records carry it too). */
  readonly id: string;
  /** Who the peer is, as far as the agent knows: the relay does not say who paired. */
  readonly peer: string;
  readonly mode: 'proxy' | 'passthrough';
  /** The policy in force now. */
  readonly policy: PolicyShape;
  readonly startedAt: Date;
  readonly expiresAt: Date;
  /** The latest end `kubepair session extend` may set: the start plus --max-duration (or the passthrough token's end). */
  readonly latestEnd: Date;
  /** Tunnel payload bytes from the client and to it. */
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  /** The link to the client: live, or suspended while it resumes. */
  readonly link: CarrierState;
}

type SessionState = 'idle' | 'starting' | 'serving' | 'closing' | 'closed';

/** What the audit calls the paired peer (the relay does not tell the agent who it is). */
const CLIENT = 'paired-client';

/** The cluster CA the client's kubeconfig will trust in passthrough mode; the kubeconfig must name one. */
export function passthroughClusterCa(upstream: UpstreamCluster): string {
  const ca = upstream.caPem;
  if (ca === undefined) throw new KubepairError('KP_ERR_KUBECONFIG_UNSUPPORTED', 'passthrough mode needs the cluster CA in the kubeconfig');
  return ca;
}

export class AgentSession extends EventEmitter<AgentSessionEvents> {
  readonly config: AgentSessionConfig;
  /** Resolves with the channel's close error (undefined: a clean close) once everything is released. */
  readonly closed: Promise<KubepairError | undefined>;
  readonly #channel: SecureChannel;
  readonly #policy: PolicyHolder;
  #state: SessionState = 'idle';
  /** Set once the session is described: when it started, ends, and may end at the latest. */
  #times: { readonly startedAt: Date; expiresAt: Date; readonly latestEnd: Date } | undefined;
  #lifetime: NodeJS.Timeout | undefined;
  /** Changes are made one at a time (each is audited before it applies). */
  #changing: Promise<unknown> = Promise.resolve();
  /** How many --allow rules "approve for the session" has added over the session's life (APPROVAL_SESSION_RULES_MAX). */
  #approvedRules = 0;
  /** Where the share's approval queue puts "approve for the session" rules of this session's requests. */
  readonly #sessionRules: SessionRules = {
    room: () => this.approvalRoom(),
    add: async (rules, approval) => {
      await this.approveForSession(rules, approval.requestId);
    },
  };
  #resolveClosed!: (error: KubepairError | undefined) => void;

  /** `link`, when the session is resumable, keeps `channel` alive across relay carriers (CodeOffer makes it). */
  constructor(config: AgentSessionConfigInput, channel: SecureChannel, link?: DurableLink) {
    super();
    this.config = checkAgentSessionConfig(config);
    this.#channel = channel;
    this.#policy = new PolicyHolder(this.config.policy);
    link?.on('dropped', (drop) => this.emit('linkDropped', drop.side, drop.error));
    link?.on('resumed', (info) => this.emit('linkResumed', { outageMs: info.outageMs, retransmitted: info.retransmitted }));
    link?.on('ended', (error) => {
      if (error.code === 'KP_ERR_RESUME_WINDOW_EXPIRED') this.emit('windowExpired', error);
    });
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  get state(): SessionState {
    return this.#state;
  }

  /**
   * Describe the session to the client and serve its streams; resolves with the description
   * sent. A failure to describe it (a ServiceAccount token the API server refuses) closes the
   * channel with that error and rejects; so does a channel that closes before the description
   * is sent (the client left, close(), the signal). `closed` settles in every case.
   */
  async start(signal?: AbortSignal): Promise<SessionDescription> {
    if (this.#state !== 'idle') throw new KubepairError('KP_ERR_INTERNAL', `a session starts once (it is ${this.#state})`);
    this.#state = 'starting';
    const config = this.config;
    const channel = this.#channel;
    // What the session holds, released once the channel closes, whenever that is.
    const held: { mux?: MuxServer; proxy?: KubeProxy } = {};
    let established = false;
    const onAbort = (): void => this.#end('sharer_stopped');
    signal?.addEventListener('abort', onAbort, { once: true });
    void channel.closed.then(async (error) => {
      this.#state = 'closing';
      clearTimeout(this.#lifetime);
      signal?.removeEventListener('abort', onAbort);
      held.mux?.close();
      await held.proxy?.close();
      if (established) {
        // Written before `closed` settles, so that an owner closing the audit log next (share --once) cannot cut the end off.
        await config.audit?.append({ event: 'session_ended', session: config.sessionId, ...(error !== undefined && { detail: error.code }) }).catch(() => undefined);
      }
      this.#state = 'closed';
      this.#resolveClosed(error);
      if (established) this.emit('ended', error);
    });
    if (signal?.aborted === true) onAbort();

    let description: SessionDescription;
    const startedAt = new Date();
    try {
      description = await this.#describe(new Date(startedAt.getTime() + config.sessionLifetimeMs));
    } catch (err) {
      const error = toKubepairError(err);
      channel.close(error);
      throw error;
    }
    if (channel.isClosed) throw (await channel.closed) ?? new KubepairError('KP_ERR_CHANNEL_CLOSED', 'the session ended before it was described');

    const targets = new Map<string, TargetHandler>();
    if (config.mode === 'proxy') {
      const kubeProxy = new KubeProxy({
        upstream: config.upstream,
        policy: this.#policy,
        audit: config.audit,
        auditFailOpen: config.auditFailOpen,
        session: config.sessionId,
        client: CLIENT,
        ...(config.impersonate !== undefined && { impersonate: config.impersonate }),
        ...(config.approvals !== undefined && { approvals: config.approvals.forSession(this.#sessionRules) }),
        onRequest: (record) => this.emit('request', record),
        ...(config.recording.enabled &&
          config.audit !== undefined && {
            recording: { logDirectory: dirname(resolve(config.audit.path)), input: config.recording.input, failOpen: config.recording.failOpen },
          }),
      });
      held.proxy = kubeProxy;
      targets.set(KUBE_API_TARGET, (stream) => kubeProxy.handle(stream));
    } else {
      targets.set(KUBE_API_TARGET, tcpTargetHandler({ name: KUBE_API_TARGET, host: config.upstream.host, port: config.upstream.port }));
    }
    for (const target of config.expose) targets.set(target.name, tcpTargetHandler(target));
    // Every stream, to every target, is recorded before it is served, or refused (fail closed).
    const audit = new ConnectionAudit({ audit: config.audit, failOpen: config.auditFailOpen, session: config.sessionId, client: CLIENT });
    // Raw TCP connections are reported as events (the kube proxy reports requests instead).
    const gate = this.#reportingConnections(audit, (target) => config.mode === 'passthrough' || target !== KUBE_API_TARGET);

    channel.sendControl(description);
    held.mux = new MuxServer(channel, { targets, gate });
    established = true;
    void config.audit?.append({ event: 'session_established', session: config.sessionId, detail: this.#auditDetail(description) }).catch(() => undefined);
    this.#state = 'serving';
    const expiresAt = new Date(description.expires_at);
    this.#times = { startedAt, expiresAt, latestEnd: expiresAt };
    this.emit('established', description);
    this.#armLifetime();
    return description;
  }

  /** What `kubepair status` shows; undefined until the session is served and after it ended. */
  get info(): AgentSessionInfo | undefined {
    const times = this.#times;
    if (times === undefined || this.#state !== 'serving') return undefined;
    const stats = this.#channel.stats;
    return {
      id: this.config.sessionId,
      peer: 'the paired client (the relay does not say who)',
      mode: this.config.mode,
      policy: this.#policy.current.description,
      startedAt: times.startedAt,
      expiresAt: times.expiresAt,
      latestEnd: times.latestEnd,
      bytesFromClient: stats.muxBytesReceived,
      bytesToClient: stats.muxBytesSent,
      link: this.#channel.state,
    };
  }

  /**
   * Narrow or widen the policy from the next request on (proxy mode only). The change is
   * recorded in the audit log first — a change that cannot be recorded is not made
   * (KP_ERR_SESSION_CHANGE_UNAUDITED) unless --audit-fail-open — then enforced, then the client
   * is told in a `session_update`. Resolves with the change made.
   */
  changePolicy(change: PolicyChange): Promise<SessionChange> {
    return this.#oneAtATime(() => this.#changePolicyNow(change, undefined));
  }

  /**
   * How many more --allow rules "approve for the session" may add now: none outside mode
   * guarded, at most APPROVAL_SESSION_RULES_MAX over the session's life (rules removed later do
   * not give room back), and never past the policy's own POLICY_MAX_RULES.
   */
  approvalRoom(): number {
    const policy = this.#policy.current.description;
    if (this.#state !== 'serving' || this.config.mode !== 'proxy' || policy.mode !== 'guarded') return 0;
    return Math.max(0, Math.min(APPROVAL_SESSION_RULES_MAX - this.#approvedRules, POLICY_MAX_RULES - policy.allow.length));
  }

  /**
   * "Approve for the session" (`share --approve`): add the approved request's --allow `rules` to
   * this session's policy, exactly as `kubepair session policy --allow` would — the
   * `session_changed` record (with `via: "approval"` and the request's audit id) first, a change
   * that cannot be recorded is not made (KP_ERR_SESSION_CHANGE_UNAUDITED, unless
   * --audit-fail-open), then enforced, then the client told. Rules already in the policy are
   * skipped (resolves undefined when none is left). Throws KP_ERR_APPROVAL_SESSION_FAILED when
   * the session has no room for them (approvalRoom).
   */
  approveForSession(rules: readonly string[], requestId: string): Promise<SessionChange | undefined> {
    return this.#oneAtATime(async () => {
      this.#assertServing();
      const current = this.#policy.current.description;
      const fresh = [...new Set(rules.map((rule) => parseRule('allow', rule).text))].filter((rule) => !current.allow.includes(rule));
      if (fresh.length === 0) return undefined;
      if (current.mode !== 'guarded') throw new KubepairError('KP_ERR_APPROVAL_SESSION_FAILED', `the session's policy is "${current.mode}" now, and --allow rules apply in "guarded" only`);
      const room = this.approvalRoom();
      if (fresh.length > room) {
        throw new KubepairError('KP_ERR_APPROVAL_SESSION_FAILED', `${this.#approvedRules} rules were approved for this session already (at most ${APPROVAL_SESSION_RULES_MAX}, and ${POLICY_MAX_RULES} --allow rules in all)`);
      }
      const made = await this.#changePolicyNow({ addAllow: fresh }, requestId);
      this.#approvedRules += fresh.length;
      return made;
    });
  }

  /** changePolicy's work, in turn; `approvedRequest` when "approve for the session" asked for it. */
  async #changePolicyNow(change: PolicyChange, approvedRequest: string | undefined): Promise<SessionChange> {
    this.#assertServing();
    if (this.config.mode !== 'proxy') throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'a passthrough session has no policy the agent could change (TLS goes end to end)');
    const previous = this.#policy.current.description;
    const applied = applyPolicyChange(this.#policy.current, change);
    const policy = applied.policy.description;
    await this.#audit({ change: 'policy', policy, previous_policy: previous, ...(approvedRequest !== undefined && { via: 'approval', request_id: approvedRequest }) });
    this.#assertServing();
    this.#policy.replace(applied.policy);
    const made: SessionChange = { kind: 'policy', policy, previous, droppedAllow: applied.droppedAllow, ...(approvedRequest !== undefined && { approvedRequest }) };
    this.#announce(made);
    return made;
  }

  /**
   * Move the session's end by `byMs` (positive: later, negative: earlier). Never past the start
   * plus --max-duration (KP_ERR_SESSION_LIFETIME_LIMIT), never to now or before (use end()).
   * Audited first like changePolicy, then the timer moves and the client is told.
   */
  changeExpiry(byMs: number): Promise<SessionChange> {
    return this.#oneAtATime(async () => {
      this.#assertServing();
      const times = this.#times!;
      const previous = times.expiresAt;
      const expiresAt = new Date(previous.getTime() + byMs);
      if (expiresAt > times.latestEnd) {
        throw new KubepairError('KP_ERR_SESSION_LIFETIME_LIMIT', `it started at ${times.startedAt.toISOString()} and may last until ${times.latestEnd.toISOString()} at the latest (now until ${previous.toISOString()})`);
      }
      if (expiresAt.getTime() <= Date.now()) {
        throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `that would end the session before now (it ends at ${previous.toISOString()}); to end it now: kubepair session end`);
      }
      await this.#audit({ change: 'expiry', expires_at: expiresAt.toISOString(), previous_expires_at: previous.toISOString() });
      this.#assertServing();
      times.expiresAt = expiresAt;
      this.#armLifetime();
      const made: SessionChange = { kind: 'expiry', expiresAt, previous };
      this.#announce(made);
      return made;
    });
  }

  /** The sharer ends this one session (`kubepair session end`): audited, a `bye`, and the channel closes; `share` goes on. */
  async endBySharer(): Promise<void> {
    this.#assertServing();
    // Ending is never held back by a failing audit log: it only takes access away.
    await this.#audit({ change: 'ended' }).catch(() => undefined);
    this.#end('sharer_ended_session');
    await this.closed;
  }

  #assertServing(): void {
    if (this.#state !== 'serving') throw new KubepairError('KP_ERR_SESSION_UNKNOWN', `session ${this.config.sessionId.slice(0, 8)}... has ended`);
  }

  #oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#changing.then(work, work);
    this.#changing = result.catch(() => undefined);
    return result;
  }

  /** Write the `session_changed` record; fails (fail closed) when it cannot be written, unless --audit-fail-open. */
  async #audit(fields: Record<string, unknown>): Promise<void> {
    const audit = this.config.audit;
    if (audit === undefined) return;
    try {
      await audit.append({ event: 'session_changed', session: this.config.sessionId, by: 'sharer', ...fields });
    } catch (err) {
      if (this.config.auditFailOpen) return;
      throw new KubepairError('KP_ERR_SESSION_CHANGE_UNAUDITED', toKubepairError(err).message, { cause: err });
    }
  }

  /** Tell the client (one `session_update`) and the front end. */
  #announce(change: SessionChange): void {
    const times = this.#times!;
    const update: SessionUpdateMessage = { type: CONTROL_TYPES.sessionUpdate, policy: this.#policy.current.description, expires_at: times.expiresAt.toISOString() };
    if (this.#channel.state !== 'closed') {
      try {
        this.#channel.sendControl(update);
      } catch {
        // The channel closed under us: nobody left to tell (the change is in force all the same).
      }
    }
    this.emit('changed', change);
  }

  /** (Re)start the timer that ends the session at its end time. */
  #armLifetime(): void {
    clearTimeout(this.#lifetime);
    const expiresAt = this.#times!.expiresAt;
    this.#lifetime = setTimeout(() => this.#end('lifetime_reached', new KubepairError('KP_ERR_SESSION_EXPIRED')), Math.max(0, expiresAt.getTime() - Date.now()));
  }

  /**
   * End the session (idempotent): close the channel, with `error` as this side's reason. A
   * session that is being served first tells the client the sharer stopped (`bye`).
   */
  async close(error?: KubepairError): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'closed';
      this.#resolveClosed(error);
    }
    this.#end('sharer_stopped', error);
    await this.closed;
  }

  /**
   * Close the channel; once streams are served, first say why in a `bye` (docs/protocol.md §6
   * "CONTROL messages"), end to end, so the client can tell the user. Records are sent in order
   * and the carrier's close follows them; on a suspended link the bye is dropped with the channel.
   */
  #end(reason: ByeReason, error?: KubepairError): void {
    const channel = this.#channel;
    if (this.#state === 'serving' && channel.state === 'live') {
      try {
        channel.sendControl({ type: CONTROL_TYPES.bye, reason });
      } catch {
        // The channel closed under us: there is no one left to tell.
      }
    }
    channel.close(error);
  }

  /**
   * `gate`, with the streams it admits to the targets `reported` picks announced as
   * `connectionOpened` and, when their handler is done, `connectionClosed`.
   */
  #reportingConnections(gate: StreamGate, reported: (target: string) => boolean): StreamGate {
    return {
      admit: async (info: StreamInfo): Promise<GateVerdict> => {
        const verdict = await gate.admit(info);
        if (!verdict.admitted || !reported(info.target)) return verdict;
        const connection: ForwardedConnection = { target: info.target, streamId: info.streamId };
        const opened = performance.now();
        let ended = false;
        this.emit('connectionOpened', connection);
        return {
          admitted: true,
          end: (outcome: StreamOutcome) => {
            verdict.end(outcome);
            if (ended) return;
            ended = true;
            this.emit('connectionClosed', connection, {
              bytesIn: outcome.bytesIn ?? 0,
              bytesOut: outcome.bytesOut ?? 0,
              durationMs: Math.max(0, performance.now() - opened),
              ...(outcome.error !== undefined && { error: outcome.error }),
            });
          },
        };
      },
    };
  }

  /**
   * The session description for a session that may last until `expiresAt`. In passthrough mode
   * with a ServiceAccount token that the API server issued for less time, the session ends
   * when the token does, and `expires_at` says so.
   */
  async #describe(expiresAt: Date): Promise<SessionDescription> {
    const { upstream, mode, policy, expose } = this.config;
    const base = {
      type: CONTROL_TYPES.session,
      cluster: { name: upstream.contextName || upstream.clusterName },
      mode,
      policy: policy.description,
      targets: [KUBE_API_TARGET, ...expose.map((target) => target.name)],
      ...(upstream.namespace !== undefined && { namespace: upstream.namespace }),
      expires_at: expiresAt.toISOString(),
      ...(this.config.resumeWindowMs > 0 && { resume_window_s: Math.ceil(this.config.resumeWindowMs / 1000) }),
    };
    if (mode === 'proxy') return base;
    const ca = passthroughClusterCa(upstream);
    const passthrough = await passthroughCredentials(upstream, this.config.serviceAccount, (expiresAt.getTime() - Date.now()) / 1000);
    const ends = passthrough.expiresAt !== undefined && passthrough.expiresAt < expiresAt ? passthrough.expiresAt : expiresAt;
    return {
      ...base,
      cluster: { ...base.cluster, server_name: upstream.serverName, ca },
      credentials: passthrough.credentials,
      expires_at: ends.toISOString(),
    };
  }

  /**
   * What the audit records about a session: its mode and, in passthrough mode, which kind of
   * credentials the client received and until when (never the credentials themselves), so it
   * can be shown afterwards what was handed out.
   */
  #auditDetail(description: SessionDescription): string {
    const parts = [`mode=${description.mode}`];
    const credentials = description.credentials;
    if (credentials !== undefined) {
      const account = this.config.serviceAccount;
      const kind = 'token' in credentials ? (account !== undefined ? `serviceaccount-token:${account.namespace}/${account.name}` : 'bearer-token') : 'client-certificate';
      parts.push(`credentials=${kind}`);
    }
    parts.push(`expires_at=${description.expires_at}`);
    return parts.join(' ');
  }
}
