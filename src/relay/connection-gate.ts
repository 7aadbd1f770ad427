/**
 * ConnectionGate: at most `maxPerAddress` open TCP connections per peer address (issue 10: one
 * address holding partial request heads took every `--max-connections` slot, so `/healthz` and
 * a legitimate `share` got nothing). The other half of that fix, a bound on the time to a
 * complete request head, is the HTTP server's head timeout (http-app.ts).
 *
 * The address is the TCP peer's, never X-Forwarded-For: the connection is counted when it
 * opens, before any byte of a request, and a header is whatever the client wants it to be.
 * Connections from a trusted proxy (`--trust-proxy`) are exempt: behind a proxy every connection
 * comes from the proxy, which must bound its own clients; `--max-connections` still bounds it.
 *
 * The gate runs first among the server's 'connection' listeners and destroys a connection over
 * the cap before the HTTP or TLS layer does anything with it. In a relay cluster (`--store
 * redis://`, docs/design.md §8.2) the cap holds for all nodes together: a connection this node
 * admits is then also checked against the count shared in Redis (redis-limits.ts, leases that a
 * dead node's counts outlive by at most RELAY_CONNECTION_LEASE_MS) and closed when the cluster
 * holds the cap already; that answer comes a moment after the connection opened (one Redis round
 * trip). While Redis cannot be reached, the node's own cap still holds (fail to the node's count).
 * Memory: one counter per address with an open connection, and per connection its address in a
 * WeakMap read by the one 'close' listener all connections share (no closure per connection on a
 * single node; issue 15, docs/performance.md). Untrusted input: the peer address.
 */
import type { Server, Socket } from 'node:net';
import { addressLimitKey, normalizeAddress } from './client-address.js';

/** What the cluster-wide count answered: counted, over the cap, or unknown (Redis away). */
export type SharedAdmission = 'counted' | 'refused' | 'unknown';

/** The per-address connection count of a whole cluster (redis-limits.ts ConnectionLeases). */
export interface SharedConnectionCount {
  /** Count one more connection from `address` unless the cluster holds the cap already. */
  admit(address: string): Promise<SharedAdmission>;
  /** A connection `admit` counted has closed (never rejects). */
  release(address: string): Promise<void>;
}

export interface ConnectionGateOptions {
  readonly maxPerAddress: number;
  /** Addresses the cap does not apply to (trusted proxies). */
  readonly isExempt: (address: string) => boolean;
  /** Called for every connection refused by the cap. */
  readonly onRefused: (address: string) => void;
  /** The cluster's count (relay cluster only), given this gate's own count per address. */
  readonly shared?: ((table: () => Iterable<readonly [string, number]>) => SharedConnectionCount) | undefined;
}

export class ConnectionGate {
  readonly #options: ConnectionGateOptions;
  readonly #open = new Map<string, number>();
  readonly #shared: SharedConnectionCount | undefined;
  /** The address each open connection was counted under (single node). */
  readonly #addressOf = new WeakMap<Socket, string>();
  /** The 'close' listener of every connection counted on a single node. */
  readonly #onClose: (this: Socket) => void;

  constructor(options: ConnectionGateOptions) {
    this.#options = options;
    this.#shared = options.shared?.(() => this.#open.entries());
    const addressOf = this.#addressOf;
    const release = (address: string): void => this.#release(address);
    this.#onClose = function (this: Socket): void {
      const address = addressOf.get(this);
      if (address === undefined) return;
      addressOf.delete(this);
      release(address);
    };
  }

  /** Gate every connection `server` accepts from now on. */
  attach(server: Server): void {
    server.prependListener('connection', (socket: Socket) => this.#admit(socket));
  }

  /** Addresses with at least one open, counted connection (for tests and the memory bound). */
  get addresses(): number {
    return this.#open.size;
  }

  /** Open connections counted for `address`. */
  openFrom(address: string): number {
    return this.#open.get(addressLimitKey(normalizeAddress(address))) ?? 0;
  }

  #admit(socket: Socket): void {
    const peer = normalizeAddress(socket.remoteAddress ?? 'unknown');
    if (this.#options.isExempt(peer)) return;
    // Counted under its limit key (an IPv6 peer's /64), refused and logged by its own address.
    const address = addressLimitKey(peer);
    const open = this.#open.get(address) ?? 0;
    if (open >= this.#options.maxPerAddress) {
      socket.destroy();
      this.#options.onRefused(peer);
      return;
    }
    this.#open.set(address, open + 1);
    // `on`, not `once`: a socket closes once, and a once-wrapper per connection costs memory.
    if (this.#shared === undefined) {
      this.#addressOf.set(socket, address);
      socket.on('close', this.#onClose);
      return;
    }
    let closed = false;
    let counted = false;
    socket.on('close', () => {
      closed = true;
      this.#release(address);
      if (counted) void this.#shared?.release(address);
    });
    void this.#shared.admit(address).then((admission) => {
      if (admission === 'refused') {
        socket.destroy();
        this.#options.onRefused(peer);
      } else if (admission === 'counted') {
        if (closed) void this.#shared?.release(address);
        else counted = true;
      }
    });
  }

  /** A counted connection from `address` closed. */
  #release(address: string): void {
    const left = (this.#open.get(address) ?? 1) - 1;
    if (left <= 0) this.#open.delete(address);
    else this.#open.set(address, left);
  }
}
