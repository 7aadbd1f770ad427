/**
 * The relay's Prometheus metrics (docs/design.md §3 `/metrics`): sessions by state, pairings and
 * their failures, bytes forwarded, limit hits, open sockets, backpressure, timers, plus the
 * standard process metrics. One registry per relay, so several relays can run in one process
 * (tests). Label values are fixed sets chosen by the relay, never taken from input.
 *
 * In a relay cluster (docs/design.md §8.2) every node exports its own figures, each sample labelled
 * `node` = its `--advertise` URL, so a Prometheus that scrapes every node sums them for the cluster
 * (`sum without (node)`). Each byte is counted once in the cluster: by the node holding the session
 * (`kubepair_relay_forwarded_bytes_total`, `splice` = local when both sockets are on that node,
 * remote when one side comes over a link from another node); the node relaying an endpoint to
 * another counts what it copies in `kubepair_relay_relayed_bytes_total`.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { PeerRole } from '../protocol/relay-api.js';
import type { SessionCounts } from './session-store.js';

export type ForwardDirection = 'agent_to_client' | 'client_to_agent';
/** local: both sockets of the session on this node; remote: one side on another node (over a cluster link). */
export type SpliceKind = 'local' | 'remote';

/** Bytes and frames forwarded in one direction and splice kind, not yet added to the counters. */
export interface ForwardTally {
  readonly direction: ForwardDirection;
  readonly splice: SpliceKind;
  bytes: number;
  frames: number;
}
/** Which part of the shared store (Redis) failed: the sessions or the shared limits. */
export type StoreErrorKind = 'sessions' | 'limits';
export type LimitName =
  | 'rate_limit'
  | 'sessions_total'
  | 'sessions_per_token'
  | 'sessions_per_address'
  | 'message_size'
  | 'request_body'
  | 'control_size'
  | 'peer_silent'
  | 'connections'
  | 'connections_per_address'
  | 'auth_failures'
  | 'recreated_waiting'
  | 'reconnects';
/** Unauthenticated failures: api = relay token or scope, upgrade = session key, origin, request = query string or unknown route. */
export type AuthFailureWhere = 'api' | 'upgrade' | 'origin' | 'request';
export type SessionEndReason = 'expired' | 'attempts_exhausted' | 'agent_left' | 'client_left' | 'operator' | 'shutdown' | 'resume_expired';
export type PairingFailureReason = 'pake_failed' | 'client_left' | 'connect_timeout';

/** Live values the metrics read at scrape time. */
export interface RelayMetricSources {
  sessionCounts(): Promise<SessionCounts>;
  openSockets(): Readonly<Record<PeerRole, number>>;
  queuedBytes(): number;
  /** Cluster links open now: out (this node relays an endpoint to another), in (accepted from another node). */
  clusterLinks?(): Readonly<Record<'in' | 'out', number>>;
}

export interface RelayMetricsOptions {
  /** This node's id (--advertise) in a cluster: every sample is labelled `node` with it. */
  readonly node?: string | undefined;
}

export class RelayMetrics {
  readonly registry = new Registry();
  readonly sessionsCreated: Counter;
  readonly pairings: Counter<'result'>;
  readonly pairingFailures: Counter<'reason'>;
  readonly sessionsEnded: Counter<'reason'>;
  readonly bytesForwarded: Counter<'direction' | 'splice'>;
  readonly framesForwarded: Counter<'direction' | 'splice'>;
  /** Times the two sides of a session were joined for forwarding on this node (first splice, resumption, replacement). */
  readonly splices: Counter<'kind'>;
  /** Bytes this node copied between an endpoint and a cluster link to the node holding its session. */
  readonly bytesRelayed: Counter<'direction'>;
  readonly storeErrors: Counter<'part'>;
  readonly framesDropped: Counter;
  readonly limitHits: Counter<'limit'>;
  readonly authFailures: Counter<'where'>;
  readonly backpressurePauses: Counter;
  readonly logLinesDropped: Counter;
  readonly suspensions: Counter;
  readonly resumptions: Counter<'kind'>;
  readonly sessionsRecreated: Counter;
  /** Sockets that found, at their attach, the other side held by another node (docs/design.md §8.2 "Concurrent attaches"). */
  readonly attachMoves: Counter<'kind'>;
  /** Sides of sessions held by a node whose lease ended, swept by this node (node-sweep.ts). */
  readonly sweptSides: Counter<'action'>;
  /** Largest number of bytes queued towards one peer since start (bounded by the limit + one message). */
  readonly queuedBytesPeak: Gauge;
  #peak = 0;
  readonly #tallies = new Map<string, ForwardTally>();
  readonly #relayTallies: Record<ForwardDirection, ForwardTally> = {
    agent_to_client: { direction: 'agent_to_client', splice: 'remote', bytes: 0, frames: 0 },
    client_to_agent: { direction: 'client_to_agent', splice: 'remote', bytes: 0, frames: 0 },
  };

  constructor(sources: RelayMetricSources, options: RelayMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.node !== undefined) this.registry.setDefaultLabels({ node: options.node });
    collectDefaultMetrics({ register: this.registry });
    const flushTallies = (): void => this.#flushTallies();
    this.sessionsCreated = new Counter({ name: 'kubepair_relay_sessions_created_total', help: 'Sessions created', registers });
    this.pairings = new Counter({
      name: 'kubepair_relay_pairings_total',
      help: 'Pairing steps: a client claimed a nameplate (claimed) or the agent reported success (established)',
      labelNames: ['result'],
      registers,
    });
    this.pairingFailures = new Counter({
      name: 'kubepair_relay_pairing_failures_total',
      help: 'Failed pairing attempts by reason',
      labelNames: ['reason'],
      registers,
    });
    this.sessionsEnded = new Counter({ name: 'kubepair_relay_sessions_ended_total', help: 'Sessions that ended, by reason', labelNames: ['reason'], registers });
    this.bytesForwarded = new Counter({
      name: 'kubepair_relay_forwarded_bytes_total',
      help: 'Binary frame payload bytes forwarded between the peers of sessions held here (splice: local, or remote over a cluster link)',
      labelNames: ['direction', 'splice'],
      registers,
      collect: flushTallies,
    });
    this.framesForwarded = new Counter({
      name: 'kubepair_relay_forwarded_frames_total',
      help: 'Binary frames forwarded between peers',
      labelNames: ['direction', 'splice'],
      registers,
      collect: flushTallies,
    });
    this.splices = new Counter({
      name: 'kubepair_relay_splices_total',
      help: 'Times the two sides of a session were joined for forwarding here: local (both sockets here) or remote (one over a cluster link)',
      labelNames: ['kind'],
      registers,
    });
    this.bytesRelayed = new Counter({
      name: 'kubepair_relay_relayed_bytes_total',
      help: 'Bytes this node copied between an endpoint and a cluster link to the node holding its session',
      labelNames: ['direction'],
      registers,
      collect: flushTallies,
    });
    this.storeErrors = new Counter({
      name: 'kubepair_relay_store_errors_total',
      help: 'Operations the shared store (Redis) failed: sessions or shared limits',
      labelNames: ['part'],
      registers,
    });
    // Present from the start (at 0), so a dashboard or an alert sees the series before the first event.
    for (const part of ['sessions', 'limits'] as const) this.storeErrors.labels(part).inc(0);
    for (const kind of ['local', 'remote'] as const) this.splices.labels(kind).inc(0);
    new Gauge({
      name: 'kubepair_relay_cluster_links',
      help: 'Cluster links open: out (this node relays an endpoint to another node), in (accepted from another node)',
      labelNames: ['direction'],
      registers,
      collect() {
        const links = sources.clusterLinks?.() ?? { in: 0, out: 0 };
        this.set({ direction: 'out' }, links.out);
        this.set({ direction: 'in' }, links.in);
      },
    });
    this.framesDropped = new Counter({ name: 'kubepair_relay_dropped_frames_total', help: 'Binary frames dropped because the other peer was not connected', registers });
    this.limitHits = new Counter({ name: 'kubepair_relay_limit_hits_total', help: 'Requests or sockets refused by a limit', labelNames: ['limit'], registers });
    this.authFailures = new Counter({ name: 'kubepair_relay_auth_failures_total', help: 'Unauthenticated failures (api: relay token or scope, upgrade: session key, origin: browser Origin, request: query string or unknown route)', labelNames: ['where'], registers });
    this.backpressurePauses = new Counter({ name: 'kubepair_relay_backpressure_pauses_total', help: 'Times the relay stopped reading a peer because the other was slow', registers });
    this.logLinesDropped = new Counter({ name: 'kubepair_relay_log_lines_dropped_total', help: 'Log lines dropped because standard output was too slow', registers });
    this.suspensions = new Counter({
      name: 'kubepair_relay_suspensions_total',
      help: 'Times a side of an established session lost its socket and the session was kept for its resume window',
      registers,
    });
    this.resumptions = new Counter({
      name: 'kubepair_relay_resumptions_total',
      help: 'New sockets of a side of an established session: after a suspension (resumed) or taking over an open one (replaced)',
      labelNames: ['kind'],
      registers,
    });
    this.sessionsRecreated = new Counter({
      name: 'kubepair_relay_sessions_recreated_total',
      help: 'Sessions of a previous relay process rebuilt from their keys',
      registers,
    });
    this.attachMoves = new Counter({
      name: 'kubepair_relay_attach_moves_total',
      help: 'Sockets whose attach found the other side held by another node at the same moment: relayed there, or (a cluster link) closed for a reconnection',
      labelNames: ['kind'],
      registers,
    });
    for (const kind of ['relayed', 'reconnect'] as const) this.attachMoves.labels(kind).inc(0);
    this.sweptSides = new Counter({
      name: 'kubepair_relay_swept_sides_total',
      help: 'Sides of sessions held by a relay node whose lease ended, swept by this node: suspended, released (a pairing client, its claim deadline running again) or ended (with their session)',
      labelNames: ['action'],
      registers,
    });
    for (const action of ['suspended', 'released', 'ended'] as const) this.sweptSides.labels(action).inc(0);
    this.queuedBytesPeak = new Gauge({
      name: 'kubepair_relay_queued_bytes_peak',
      help: 'Most bytes ever queued by the relay towards one peer',
      registers,
    });
    new Gauge({
      name: 'kubepair_relay_sessions',
      help: 'Live sessions by state',
      labelNames: ['state'],
      registers,
      async collect() {
        // A store that cannot be read (Redis away) has no figures: none are shown, and the rest of the scrape still works.
        const counts = await sources.sessionCounts().catch(() => undefined);
        this.reset();
        if (counts === undefined) return;
        this.set({ state: 'waiting' }, counts.waiting);
        this.set({ state: 'claimed' }, counts.claimed);
        this.set({ state: 'established' }, counts.established);
      },
    });
    new Gauge({
      name: 'kubepair_relay_suspended_sessions',
      help: 'Established sessions with a side suspended (waiting for it to resume), and of those, recreated ones still waiting',
      labelNames: ['kind'],
      registers,
      async collect() {
        const counts = await sources.sessionCounts().catch(() => undefined);
        this.reset();
        if (counts === undefined) return;
        this.set({ kind: 'all' }, counts.suspended);
        this.set({ kind: 'recreated' }, counts.recreatedWaiting);
      },
    });
    new Gauge({
      name: 'kubepair_relay_open_sockets',
      help: 'Open WebSockets by role',
      labelNames: ['role'],
      registers,
      collect() {
        const open = sources.openSockets();
        this.set({ role: 'agent' }, open.agent);
        this.set({ role: 'client' }, open.client);
      },
    });
    new Gauge({
      name: 'kubepair_relay_queued_bytes',
      help: 'Bytes the relay has queued towards peers right now',
      registers,
      collect() {
        this.set(sources.queuedBytes());
      },
    });
    new Gauge({
      name: 'kubepair_relay_active_timers',
      help: 'Active timers in the relay process (from process.getActiveResourcesInfo)',
      registers,
      collect() {
        this.set(process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length);
      },
    });
  }

  /**
   * The tally of one direction and splice kind (at most four, shared by every session): the
   * forwarding path adds to its plain numbers per frame, and they reach the two counters when the
   * metrics are read, instead of a labelled counter update (a hash of the labels) per frame.
   */
  forwardTally(direction: ForwardDirection, splice: SpliceKind): ForwardTally {
    const key = `${direction} ${splice}`;
    let tally = this.#tallies.get(key);
    if (tally === undefined) {
      tally = { direction, splice, bytes: 0, frames: 0 };
      this.#tallies.set(key, tally);
    }
    return tally;
  }

  /** The tally of binary frames a cluster link relays in `direction` (only its `bytes` reach a counter: `bytesRelayed`). */
  relayTally(direction: ForwardDirection): ForwardTally {
    return this.#relayTallies[direction];
  }

  #flushTallies(): void {
    for (const tally of this.#tallies.values()) {
      if (tally.frames === 0) continue;
      this.bytesForwarded.labels(tally.direction, tally.splice).inc(tally.bytes);
      this.framesForwarded.labels(tally.direction, tally.splice).inc(tally.frames);
      tally.bytes = 0;
      tally.frames = 0;
    }
    for (const tally of Object.values(this.#relayTallies)) {
      if (tally.frames === 0) continue;
      this.bytesRelayed.labels(tally.direction).inc(tally.bytes);
      tally.bytes = 0;
      tally.frames = 0;
    }
  }

  /** Record the bytes queued towards one peer after a send. */
  observeQueued(bytes: number): void {
    if (bytes > this.#peak) {
      this.#peak = bytes;
      this.queuedBytesPeak.set(bytes);
    }
  }
}
