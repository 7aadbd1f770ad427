/**
 * NodeSweep: every relay node of a cluster, on a timer of its own, sweeps the sessions of nodes
 * whose connection lease has ended (docs/design.md §8.2 "Dead nodes"; the lease: redis-limits.ts).
 * A node killed with SIGKILL, or a machine lost, takes its sockets with it, but Redis still says
 * their sides are connected there; without the sweep that was noticed only when a socket of the
 * session was relayed to the dead node. The store's `sweepDeadNodes` applies, atomically per
 * session, what the socket's end would have brought (session-store.ts): an established side is
 * suspended, a pairing client released with its claim's deadline running again, a pairing
 * agent's session ended (as when the agent leaves).
 *
 * Bounded: at most RELAY_NODE_SWEEP_BATCH sessions a tick; a tick that leaves some for later is
 * followed by another after RELAY_NODE_SWEEP_CATCH_UP_MS. The interval is a third of the lease
 * (how often a node renews it), jittered by ±25% so the nodes do not all sweep at once; two nodes
 * that do anyway sweep each session once (the store's scripts). A node never sweeps itself.
 * A tick that fails (Redis away) is logged and the next one tries again.
 *
 * A node without a live lease is taken for dead only once this node has seen it so for a whole
 * lease (`leaselessNodes` at every tick; seen with a lease, or not seen, it starts over): right
 * after Redis restarted empty, or came back after an outage longer than the lease, every live
 * node is without one until its next renewal (a third of the lease), and must not be swept. A
 * dead node is therefore swept between two and about two and a half leases after its last
 * renewal.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { RELAY_NODE_SWEEP_BATCH, RELAY_NODE_SWEEP_CATCH_UP_MS } from '../limits.js';
import { describeError } from './relay-log.js';
import type { RelayMetrics } from './relay-metrics.js';
import type { NodeSweepReport, SessionStore } from './session-store.js';

export interface NodeSweepOptions {
  /** This node's id (its --advertise URL): never swept by itself. */
  readonly nodeId: string;
  readonly store: SessionStore;
  /** The node lease (--node-lease): a sweep every third of it, jittered. */
  readonly leaseMs: number;
  readonly log: Logger;
  readonly metrics: RelayMetrics;
  /** A session the sweep ended (counted and recorded by the broker). */
  readonly onEnded: (id: string, reason: 'agent_left' | 'client_left') => void;
}

export class NodeSweep {
  readonly #options: NodeSweepOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** Nodes seen without a live lease at every tick since, by when they were first seen so (ms, this clock). */
  readonly #leaseless = new Map<string, number>();

  constructor(options: NodeSweepOptions) {
    this.#options = options;
    this.#schedule(this.#interval());
  }

  /** Stop the timer and wait for a tick under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** A third of the lease, ±25%. */
  #interval(): number {
    return Math.round((this.#options.leaseMs / 3) * (randomInt(750, 1251) / 1000));
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#tick().finally(() => (this.#running = undefined));
    }, delay);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    const { store, nodeId, log } = this.#options;
    let more = false;
    try {
      const dead = this.#deadAfterWatching(await store.leaselessNodes(nodeId));
      if (dead.length > 0) {
        const reports = await store.sweepDeadNodes(nodeId, RELAY_NODE_SWEEP_BATCH, dead);
        for (const report of reports) this.#report(report);
        more = reports.some((report) => report.left > 0);
      }
    } catch (err) {
      if (!this.#stopped) log.warn({ event: 'node_sweep_failed', err: describeError(err) }, 'cannot sweep the sessions of dead relay nodes; trying again at the next tick');
    }
    this.#schedule(more ? RELAY_NODE_SWEEP_CATCH_UP_MS : this.#interval());
  }

  /** Of the nodes without a live lease now, those seen so at every tick for a whole lease. */
  #deadAfterWatching(leaseless: readonly string[]): string[] {
    const now = Date.now();
    const seen = new Set(leaseless);
    for (const node of this.#leaseless.keys()) if (!seen.has(node)) this.#leaseless.delete(node);
    const dead: string[] = [];
    for (const node of leaseless) {
      const since = this.#leaseless.get(node);
      if (since === undefined) this.#leaseless.set(node, now);
      else if (now - since >= this.#options.leaseMs) dead.push(node);
    }
    return dead;
  }

  #report(report: NodeSweepReport): void {
    const { log, metrics, onEnded } = this.#options;
    metrics.sweptSides.labels('suspended').inc(report.suspended);
    metrics.sweptSides.labels('released').inc(report.released);
    metrics.sweptSides.labels('ended').inc(report.ended.length);
    for (const ended of report.ended) onEnded(ended.id, ended.reason);
    log.warn(
      { event: 'node_swept', node: report.node, suspended: report.suspended, released: report.released, ended: report.ended.length, left: report.left },
      'swept the sessions of a relay node whose lease ended',
    );
  }
}
