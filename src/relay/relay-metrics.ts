/**
 * The relay's Prometheus metrics (docs/design.md §3 `/metrics`): sessions by state, pairings and
 * their failures, bytes forwarded, limit hits, open sockets, backpressure, timers, plus the
 * standard process metrics. One registry per relay, so several relays can run in one process
 * (tests). Label values are fixed sets chosen by the relay, never taken from input.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { PeerRole } from '../protocol/relay-api.js';
import type { SessionCounts } from './session-store.js';

export type ForwardDirection = 'agent_to_client' | 'client_to_agent';
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
}

export class RelayMetrics {
  readonly registry = new Registry();
  readonly sessionsCreated: Counter;
  readonly pairings: Counter<'result'>;
  readonly pairingFailures: Counter<'reason'>;
  readonly sessionsEnded: Counter<'reason'>;
  readonly bytesForwarded: Counter<'direction'>;
  readonly framesForwarded: Counter<'direction'>;
  readonly framesDropped: Counter;
  readonly limitHits: Counter<'limit'>;
  readonly authFailures: Counter<'where'>;
  readonly backpressurePauses: Counter;
  readonly logLinesDropped: Counter;
  readonly suspensions: Counter;
  readonly resumptions: Counter<'kind'>;
  readonly sessionsRecreated: Counter;
  /** Largest number of bytes queued towards one peer since start (bounded by the limit + one message). */
  readonly queuedBytesPeak: Gauge;
  #peak = 0;

  constructor(sources: RelayMetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
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
      help: 'Binary frame payload bytes forwarded between peers',
      labelNames: ['direction'],
      registers,
    });
    this.framesForwarded = new Counter({ name: 'kubepair_relay_forwarded_frames_total', help: 'Binary frames forwarded between peers', labelNames: ['direction'], registers });
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
        const counts = await sources.sessionCounts();
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
        const counts = await sources.sessionCounts();
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

  /** Record the bytes queued towards one peer after a send. */
  observeQueued(bytes: number): void {
    if (bytes > this.#peak) {
      this.#peak = bytes;
      this.queuedBytesPeak.set(bytes);
    }
  }
}
