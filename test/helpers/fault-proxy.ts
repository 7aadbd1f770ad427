/**
 * A fault-injecting TCP proxy for tests (issue 12, "Tests"; docs/design.md §8.1 resumption): it
 * sits between an endpoint and the relay and breaks the carrier the ways real networks do, so tests
 * can prove that sessions survive them. Plain TCP, so WebSocket, TLS and anything else pass
 * through unchanged (it never parses a byte).
 *
 *   const proxy = await startFaultProxy({ port: relayPort }); // listens on 127.0.0.1, port 0
 *   // point the endpoint at 127.0.0.1:proxy.port, then:
 *   await proxy.cut();                    // every current connection reset (RST) both ways
 *   await proxy.cut({ graceful: true });  // ... or closed with a FIN both ways
 *   await proxy.blackHole();              // nothing forwarded, nothing closed (a partition)
 *   await proxy.restore();                // held bytes flow again, in order
 *   await proxy.delay(200);               // 200 ms added to each chunk, both directions
 *   await proxy.delay(200, 'toClient');   // ... or one direction
 *   await proxy.refuseNew(true);          // new connections accepted and closed at once
 *   await proxy.refuseNew(true, 'unlisten'); // ... or the port closed (ECONNREFUSED)
 *   await proxy.refuseNew(false);         // accept and forward again (same port)
 *   proxy.setTarget(newRelayPort);        // new connections go there; current ones stay
 *   proxy.counters();                     // accepted, refused, open, bytes each way, in transit
 *   await proxy.close();                  // resolves when every socket and listener is gone
 *
 * Every control returns once it is in effect: after `blackHole()` resolves, no further byte is
 * handed to either side (`bytesToTarget` / `bytesToClient` stop moving) until `restore()`.
 *
 * Semantics, chosen to be faithful to a real network:
 * - A black hole *holds* bytes rather than dropping them: a partition that heals delivers what
 *   TCP retransmits, in order, while dropping bytes from the middle of a stream is something no
 *   network does to TCP. A FIN or a reset from one side is held too (in a partition the other
 *   side never sees it), and connections accepted during a black hole are not even connected to
 *   the target until `restore()` (their SYN would not have arrived).
 * - Holding and delaying are bounded: each direction of a connection reads at most
 *   IN_TRANSIT_LIMIT_BYTES ahead of what it forwarded, then stops reading, so the rest waits in
 *   the kernel's buffers and the sender sees backpressure, as behind a slow or dead link.
 * - A delay is "current path latency": a chunk is forwarded `delay` ms after it was read, with
 *   the delay in force when it is due, and chunks never overtake each other. Lowering the
 *   delay (to 0, say) releases what is waiting at once.
 * - A target that refuses or resets a connection resets the client's (no FIN invented).
 *
 * Nothing here is untrusted input: tests drive it. Loopback only.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { within } from './wait-until.js';

/**
 * Bytes one direction of one connection reads ahead of what it forwarded (delayed or held)
 * before it stops reading and leaves the rest to the kernel: 1 MiB.
 */
export const IN_TRANSIT_LIMIT_BYTES = 1024 * 1024;
/** How long a graceful cut waits for both peers to close after its FIN before resetting, in ms. */
const GRACEFUL_CUT_MS = 2_000;
/** Bound on waiting for sockets and listeners to close (cut, close), in ms. */
const SETTLE_MS = 20_000;

/** Where the proxy forwards to; the host defaults to 127.0.0.1. */
export interface FaultProxyTarget {
  readonly host?: string;
  readonly port: number;
}

/** One direction of the proxied traffic: from the client to the target, or back. */
export type FaultDirection = 'toTarget' | 'toClient';

/** A snapshot of what the proxy has done so far. */
export interface FaultProxyCounters {
  /** Connections accepted and forwarded (or held, during a black hole). */
  readonly accepted: number;
  /** Connections accepted and closed at once because of `refuseNew(true)`. */
  readonly refused: number;
  /** Forwarded connections with at least one socket (client or target side) still open. */
  readonly open: number;
  /** Bytes handed on to the target side (client → target). */
  readonly bytesToTarget: number;
  /** Bytes handed on to the client side (target → client). */
  readonly bytesToClient: number;
  /** Bytes read from clients and not yet handed on (delayed or held). */
  readonly inTransitToTarget: number;
  /** Bytes read from targets and not yet handed on (delayed or held). */
  readonly inTransitToClient: number;
}

export interface FaultProxy {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Destroy every current connection on both sides: a reset, or with `graceful` a FIN. Resolves with how many were cut once all their sockets are closed. */
  cut(options?: { readonly graceful?: boolean }): Promise<number>;
  /** Stop forwarding in both directions without closing anything, new connections included. */
  blackHole(): Promise<void>;
  /** End a black hole: everything held flows on, in order. */
  restore(): Promise<void>;
  /** Add `ms` of latency to each chunk in `direction` (default both). 0 removes it. */
  delay(ms: number, direction?: FaultDirection | 'both'): Promise<void>;
  /** Refuse new connections ('close': accept and close at once; 'unlisten': close the port), or accept them again. */
  refuseNew(refuse: boolean, how?: 'close' | 'unlisten'): Promise<void>;
  /** Forward connections accepted from now on to `port` (on `host`, default 127.0.0.1). */
  setTarget(port: number, host?: string): void;
  counters(): FaultProxyCounters;
  /** Stop listening, reset every connection; resolves when every socket and listener is gone. */
  close(): Promise<void>;
}

/** Start a proxy on 127.0.0.1, port 0, forwarding to `target`. */
export async function startFaultProxy(target: FaultProxyTarget): Promise<FaultProxy> {
  const proxy = new FaultInjectingProxy(target);
  await proxy.listen(0);
  return proxy;
}

/** Something that crossed the proxy in one direction and waits to be handed on. */
type InTransit =
  | { readonly kind: 'data'; readonly chunk: Buffer; readonly readAt: number }
  | { readonly kind: 'end'; readonly readAt: number }
  | { readonly kind: 'reset'; readonly readAt: number };

/** What every one-way flow reads from the proxy: whether it is held, and the current delays. */
interface PathConditions {
  readonly held: boolean;
  readonly delayMs: Readonly<Record<FaultDirection, number>>;
  forwarded(direction: FaultDirection, bytes: number): void;
}

/** Close `socket` with a reset (RST) when it has a connection, else just destroy it. */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

/** A promise for a socket's 'close' (registered at creation, so it cannot be missed). */
function closedPromise(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/**
 * One direction of one proxied connection: reads from `source`, queues what it read (data, its
 * FIN, or its reset) and hands it to `destination` when the path lets it: not held, delay
 * elapsed, destination drained.
 */
class OneWayFlow {
  private readonly queue: InTransit[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  private pausedSource = false;
  private sawEnd = false;
  private stopped = false;
  private destination: Socket | undefined;

  constructor(
    readonly direction: FaultDirection,
    private readonly source: Socket,
    private readonly path: PathConditions,
  ) {
    source.on('data', (chunk: Buffer) => this.enqueue({ kind: 'data', chunk, readAt: Date.now() }));
    source.on('end', () => {
      this.sawEnd = true;
      this.enqueue({ kind: 'end', readAt: Date.now() });
    });
    // A close without a FIN first (or with an error after it) is a reset: pass it on as one.
    source.on('close', (hadError: boolean) => {
      if (!this.sawEnd || hadError) this.enqueue({ kind: 'reset', readAt: Date.now() });
    });
  }

  get inTransitBytes(): number {
    return this.queuedBytes;
  }

  /** Start handing on to `destination` (the target side is connected late during a black hole). */
  connectTo(destination: Socket): void {
    this.destination = destination;
    destination.on('drain', () => {
      this.waitingForDrain = false;
      this.pump();
    });
    this.pump();
  }

  /** Forget everything queued and forward nothing more (the connection is being cut). */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.source.resume(); // keep reading (and discarding) so a peer's FIN can still arrive
  }

  /** The path changed (delay, black hole): look at the queue again. */
  reschedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pump();
  }

  private enqueue(item: InTransit): void {
    if (this.stopped) return;
    this.queue.push(item);
    if (item.kind === 'data') {
      this.queuedBytes += item.chunk.length;
      if (this.queuedBytes >= IN_TRANSIT_LIMIT_BYTES && !this.pausedSource) {
        this.pausedSource = true;
        this.source.pause();
      }
    }
    this.pump();
  }

  private pump(): void {
    const destination = this.destination;
    if (this.stopped || this.path.held || destination === undefined) return;
    if (this.timer !== undefined || this.waitingForDrain) return;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const wait = head.readAt + this.path.delayMs[this.direction] - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.queue.shift();
      if (head.kind === 'data') {
        this.queuedBytes -= head.chunk.length;
        if (!destination.destroyed && !destination.writableEnded) {
          this.path.forwarded(this.direction, head.chunk.length);
          if (!destination.write(head.chunk)) this.waitingForDrain = true;
        }
      } else if (head.kind === 'end') {
        if (!destination.destroyed) destination.end();
      } else {
        reset(destination);
      }
      if (this.pausedSource && this.queuedBytes < IN_TRANSIT_LIMIT_BYTES / 2) {
        this.pausedSource = false;
        this.source.resume();
      }
      if (this.waitingForDrain) return;
    }
  }
}

/** One accepted client connection and, once connected, its connection to the target. */
class ProxiedConnection {
  readonly toTarget: OneWayFlow;
  toClient: OneWayFlow | undefined;
  upstream: Socket | undefined;
  private readonly closings: Promise<void>[];

  constructor(
    readonly client: Socket,
    private readonly path: PathConditions,
    private readonly onGone: (connection: ProxiedConnection) => void,
  ) {
    this.closings = [closedPromise(client)];
    client.on('error', () => undefined); // 'close' follows, and the flow passes it on
    client.setNoDelay(true);
    this.toTarget = new OneWayFlow('toTarget', client, path);
    void this.closings[0]!.then(() => this.checkGone());
  }

  /** Open the target side of this connection and let both directions flow. */
  connectUpstream(target: Required<FaultProxyTarget>): void {
    if (this.upstream !== undefined || this.client.destroyed) return;
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    upstream.on('error', () => undefined); // refused or reset: 'close' follows, passed on as a reset
    upstream.setNoDelay(true);
    this.upstream = upstream;
    const closing = closedPromise(upstream);
    this.closings.push(closing);
    void closing.then(() => this.checkGone());
    this.toClient = new OneWayFlow('toClient', upstream, this.path);
    this.toClient.connectTo(this.client);
    this.toTarget.connectTo(upstream);
  }

  get sockets(): Socket[] {
    return this.upstream === undefined ? [this.client] : [this.client, this.upstream];
  }

  get inTransit(): Record<FaultDirection, number> {
    return { toTarget: this.toTarget.inTransitBytes, toClient: this.toClient?.inTransitBytes ?? 0 };
  }

  reschedule(): void {
    this.toTarget.reschedule();
    this.toClient?.reschedule();
  }

  /** Resolves when every socket of this connection has closed. */
  closed(): Promise<void> {
    return Promise.all(this.closings).then(() => undefined);
  }

  /** Cut: forward nothing more, then reset both sockets or close them with a FIN. */
  cut(graceful: boolean): void {
    this.toTarget.stop();
    this.toClient?.stop();
    for (const socket of this.sockets) {
      if (!graceful || socket.connecting) reset(socket);
      else socket.end();
    }
  }

  private checkGone(): void {
    if (!this.sockets.every((socket) => socket.destroyed)) return;
    // Nothing left to hand anything to: drop what waits, so no delay timer outlives the sockets.
    this.toTarget.stop();
    this.toClient?.stop();
    this.onGone(this);
  }
}

class FaultInjectingProxy implements FaultProxy, PathConditions {
  readonly host = '127.0.0.1' as const;
  port = 0;
  held = false;
  readonly delayMs: Record<FaultDirection, number> = { toTarget: 0, toClient: 0 };
  private target: Required<FaultProxyTarget>;
  private server: Server | undefined;
  private readonly serverClosings: Promise<void>[] = [];
  private refusing: 'close' | 'unlisten' | undefined;
  private readonly connections = new Set<ProxiedConnection>();
  private accepted = 0;
  private refused = 0;
  private readonly bytes: Record<FaultDirection, number> = { toTarget: 0, toClient: 0 };
  private closing: Promise<void> | undefined;

  constructor(target: FaultProxyTarget) {
    this.target = { host: target.host ?? '127.0.0.1', port: target.port };
  }

  /** Listen on 127.0.0.1:`port` (0 the first time, the same port when listening again). */
  async listen(port: number): Promise<void> {
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.serverClosings.push(new Promise((resolve) => server.once('close', () => resolve())));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  forwarded(direction: FaultDirection, bytes: number): void {
    this.bytes[direction] += bytes;
  }

  async cut(options: { readonly graceful?: boolean } = {}): Promise<number> {
    const graceful = options.graceful === true;
    const cutting = [...this.connections];
    for (const connection of cutting) connection.cut(graceful);
    const allClosed = Promise.all(cutting.map((connection) => connection.closed()));
    // A peer that does not answer a FIN with its own is reset after GRACEFUL_CUT_MS.
    const fallback = graceful
      ? setTimeout(() => cutting.forEach((connection) => connection.sockets.forEach(reset)), GRACEFUL_CUT_MS)
      : undefined;
    try {
      await within(SETTLE_MS, `${cutting.length} cut connection(s) to close`, allClosed);
    } finally {
      clearTimeout(fallback);
    }
    return cutting.length;
  }

  blackHole(): Promise<void> {
    this.held = true;
    return Promise.resolve();
  }

  restore(): Promise<void> {
    this.held = false;
    for (const connection of this.connections) {
      connection.connectUpstream(this.target);
      connection.reschedule();
    }
    return Promise.resolve();
  }

  delay(ms: number, direction: FaultDirection | 'both' = 'both'): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be a finite number of ms >= 0, not ${ms}`);
    if (direction !== 'toClient') this.delayMs.toTarget = ms;
    if (direction !== 'toTarget') this.delayMs.toClient = ms;
    for (const connection of this.connections) connection.reschedule();
    return Promise.resolve();
  }

  async refuseNew(refuse: boolean, how: 'close' | 'unlisten' = 'close'): Promise<void> {
    if (this.closing !== undefined) throw new Error('the fault proxy is closed');
    this.refusing = refuse ? how : undefined;
    if (refuse && how === 'unlisten') this.stopListening();
    else if (this.server === undefined) await this.listen(this.port); // 'close' needs the port open
    // Stopping listening closes the port at once; one turn of the loop lets its handle go.
    await new Promise((resolve) => setImmediate(resolve));
  }

  setTarget(port: number, host = '127.0.0.1'): void {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RangeError(`not a TCP port: ${port}`);
    this.target = { host, port };
  }

  counters(): FaultProxyCounters {
    let inTransitToTarget = 0;
    let inTransitToClient = 0;
    for (const connection of this.connections) {
      const inTransit = connection.inTransit;
      inTransitToTarget += inTransit.toTarget;
      inTransitToClient += inTransit.toClient;
    }
    return {
      accepted: this.accepted,
      refused: this.refused,
      open: this.connections.size,
      bytesToTarget: this.bytes.toTarget,
      bytesToClient: this.bytes.toClient,
      inTransitToTarget,
      inTransitToClient,
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.refusing = 'unlisten';
      this.stopListening();
      await this.cut();
      await within(SETTLE_MS, 'the fault proxy to stop listening', Promise.all(this.serverClosings));
    })();
    return this.closing;
  }

  private stopListening(): void {
    this.server?.close();
    this.server = undefined;
  }

  private accept(client: Socket): void {
    if (this.refusing !== undefined) {
      this.refused++;
      client.on('error', () => undefined);
      client.destroy();
      return;
    }
    this.accepted++;
    const connection = new ProxiedConnection(client, this, (gone) => this.connections.delete(gone));
    this.connections.add(connection);
    if (!this.held) connection.connectUpstream(this.target);
  }
}
