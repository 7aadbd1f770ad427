/**
 * Node-to-node splicing (docs/design.md §8.2, plan items 3-6 as built): when a socket arrives on
 * this node while the other side of its session is attached on another node, this node does not
 * admit it to its own broker. It opens an internal WebSocket to that node
 * (`{advertise}/internal/v1/splice/{role}/{session_id}?kd=..&ad=..&tn=..`, signed with the cluster
 * key by node-auth.ts) and relays between the endpoint and that link: the other node's broker
 * admits the link as the endpoint's socket, so pairing, control frames, suspensions and ends are
 * decided in one place, and its control text frames reach the endpoint through this node.
 *
 * Frames are relayed as they are (binary stays binary, text stays text; the relay still sees only
 * ciphertext); the link's largest message is the endpoint's (--max-message-size). Backpressure is
 * the local splice's rule at this hop: above `highWaterBytes` queued towards one socket, the
 * other is not read until the queue is down to half (forwarding.ts). Close codes cross as they
 * are; the codes a close frame cannot carry (1005, 1006...) become 1000 (no code: on purpose) and
 * 1001 (a transport loss) so the far side tells the two apart as it would for a local socket.
 *
 * Untrusted input: the endpoint's frames (relayed unread) and the linked node's frames (a node is
 * trusted once its proof verified, like the store).
 */
import type { Logger } from 'pino';
import { WebSocket } from '../ws-runtime.js';
import type { RawData } from 'ws';
import { WS_SUBPROTOCOL } from '../version.js';
import type { PeerRole } from '../protocol/relay-api.js';
import type { RelayControlMessage } from '../protocol/relay-control.js';
import { signNodeRequest } from './node-auth.js';
import { NOT_WATCHED } from './liveness-sweep.js';
import type { LivenessSubject, LivenessSweep } from './liveness-sweep.js';

/** Path prefix of the internal splice link; never under /api or /ws. */
export const SPLICE_PATH_PREFIX = '/internal/v1/splice/';

/** How long opening a link to another node may take, in ms. */
export const SPLICE_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Why a link got no answer at all: `refused` when the node's host said no one listens there or
 * could not be reached (connection refused or reset, no route: the process or machine is gone),
 * `no_answer` when nothing came back within SPLICE_CONNECT_TIMEOUT_MS (a dead machine whose
 * packets are dropped, or a live node too slow to answer: the caller tells the two apart).
 */
export type Silence = 'refused' | 'no_answer';

/** Socket errors that mean nobody is there (not merely slow). */
const NOBODY_THERE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);

/** What the node at the far end needs to admit the link as the endpoint's socket. */
export interface SpliceAdmission {
  readonly role: PeerRole;
  readonly sessionId: string;
  /** Digest of the key the endpoint presented (verified here). */
  readonly keyDigest: Uint8Array;
  readonly address: string;
  readonly tokenName: string | null;
}

/** The signed path (with query) of a splice link. */
export function splicePath(admission: SpliceAdmission): string {
  const query = new URLSearchParams({ kd: Buffer.from(admission.keyDigest).toString('hex'), ad: admission.address });
  if (admission.tokenName !== null) query.set('tn', admission.tokenName);
  return `${SPLICE_PATH_PREFIX}${admission.role}/${admission.sessionId}?${query.toString()}`;
}

/** Parse a splice path (after its proof verified); undefined when malformed. */
export function parseSplicePath(url: string): SpliceAdmission | undefined {
  const match = /^\/internal\/v1\/splice\/(agent|client)\/([A-Za-z0-9_-]{22})\?([^#]*)$/.exec(url);
  if (!match) return undefined;
  const query = new URLSearchParams(match[3]);
  const kd = query.get('kd') ?? '';
  const ad = query.get('ad') ?? '';
  if (!/^[0-9a-f]{64}$/.test(kd) || ad === '' || ad.length > 256) return undefined;
  return { role: match[1] as PeerRole, sessionId: match[2] as string, keyDigest: Buffer.from(kd, 'hex'), address: ad, tokenName: query.get('tn') };
}

/** A close code the other socket can send: 1005 (none) becomes 1000, a loss (1006, 1015...) 1001. */
export function relayableCloseCode(code: number): number {
  if (code === 1005) return 1000;
  if ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)) return code;
  return 1001;
}

export interface ClusterLinkOptions {
  readonly nodeId: string;
  readonly key: Uint8Array;
  readonly maxMessageBytes: number;
  readonly highWaterBytes: number;
  readonly log: Logger;
  /** Told the bytes queued towards one socket after each send (the queued-bytes peak metric). */
  readonly onQueued?: (bytes: number) => void;
  /** Told each time a socket stops being read for backpressure. */
  readonly onPause?: () => void;
  /** Told the size of each binary frame copied, and its direction (the relayed-bytes metric). */
  readonly onRelayed?: (direction: 'agent_to_client' | 'client_to_agent', bytes: number) => void;
  /**
   * Liveness of the relayed endpoints (--ping-interval, --peer-timeout): the node's one sweep,
   * which watches its own sockets too (liveness-sweep.ts). An endpoint silent (no frame, no pong)
   * for the limit is cut, which ends its link as a transport loss so the far node suspends that side.
   */
  readonly liveness: LivenessSweep;
  /** Told when a relayed endpoint is cut for silence (the peer_silent limit's metric). */
  readonly onSilent?: () => void;
}

/**
 * An endpoint relayed now: its link, the session and side it is, and its liveness as the node's
 * sweep sees it. The far node pings only the link, which this node answers, so without this a
 * half-dead endpoint here would keep its side "connected" until TCP gave up. Time while the
 * endpoint is not read (backpressure) counts as heard: the sweep applies that rule to `paused`.
 */
class Relayed implements LivenessSubject {
  readonly endpoint: WebSocket;
  readonly link: WebSocket;
  readonly sessionId: string;
  readonly role: PeerRole;
  livenessDue = NOT_WATCHED;
  /** When the endpoint was last heard from (epoch ms); see LivenessSubject. */
  lastSeen = Date.now();
  readonly #onSilent: (relayed: Relayed) => void;

  constructor(endpoint: WebSocket, link: WebSocket, sessionId: string, role: PeerRole, onSilent: (relayed: Relayed) => void) {
    this.endpoint = endpoint;
    this.link = link;
    this.sessionId = sessionId;
    this.role = role;
    this.#onSilent = onSilent;
  }

  get open(): boolean {
    return this.endpoint.readyState === WebSocket.OPEN;
  }

  /** The endpoint is not read now (backpressure on its link). */
  get paused(): boolean {
    return this.endpoint.isPaused;
  }

  heard(): void {
    this.lastSeen = Date.now();
  }

  ping(): void {
    this.endpoint.ping();
  }

  wentSilent(): void {
    this.#onSilent(this);
  }
}

/** Opens links to other nodes and relays an endpoint's socket over them. */
export class ClusterLink {
  readonly #options: ClusterLinkOptions;
  /** Endpoints relayed now, with their links. */
  readonly #relayed = new Map<WebSocket, Relayed>();
  /** Told when no endpoint is relayed any more (drained()). */
  #onEmpty: (() => void) | undefined;
  /** Relayed endpoints by role (they are open sockets of this node too). */
  readonly #open: Record<PeerRole, number> = { agent: 0, client: 0 };
  #queued = 0;
  /** The 'pong' and 'message' listener of every relayed endpoint: it was heard from. */
  readonly #onHeard: (this: WebSocket) => void;

  constructor(options: ClusterLinkOptions) {
    this.#options = options;
    const relayed = this.#relayed;
    this.#onHeard = function (this: WebSocket): void {
      relayed.get(this)?.heard();
    };
  }

  get nodeId(): string {
    return this.#options.nodeId;
  }

  /** Endpoints relayed to other nodes right now (each over its own link). */
  get linksOut(): number {
    return this.#relayed.size;
  }

  /** Endpoints this node relays now, by role (`kubepair_relay_open_sockets` adds them). */
  openSockets(): Readonly<Record<PeerRole, number>> {
    return { ...this.#open };
  }

  /** Bytes queued towards endpoints and links right now, summed when asked (for the metrics). */
  get queuedBytes(): number {
    return this.#queued;
  }

  /**
   * Relay `endpoint` (just accepted, not yet read) to node `nodeId`. The endpoint is paused until
   * the link is open; a link that cannot be opened closes the endpoint with 1012 (the endpoint
   * reconnects, as after a relay restart). When no answer came at all (`Silence`),
   * `onUnreachable` runs first and says whether the node is presumed dead with the sockets it
   * held: then the caller has cleared the store's claim that the other side is connected there,
   * else every reconnection would be relayed to the dead node again. A node that answered (even
   * 503 while it shuts down) is alive and clears its own sockets.
   */
  relay(endpoint: WebSocket, nodeId: string, admission: SpliceAdmission, onUnreachable?: (silence: Silence) => Promise<boolean>): void {
    const { key, log, maxMessageBytes } = this.#options;
    endpoint.pause();
    const path = splicePath(admission);
    const url = `${nodeId.replace(/^http/, 'ws')}${path}`;
    const link = new WebSocket(url, [WS_SUBPROTOCOL], {
      headers: signNodeRequest(key, this.#options.nodeId, { method: 'GET', path }),
      perMessageDeflate: false,
      maxPayload: maxMessageBytes,
      handshakeTimeout: SPLICE_CONNECT_TIMEOUT_MS,
    });
    const session = admission.sessionId;
    let silence: Silence = 'no_answer';
    link.on('error', (err) => {
      if (NOBODY_THERE.has(String((err as NodeJS.ErrnoException).code))) silence = 'refused';
      log.info({ event: 'splice_link_error', session, node: nodeId, err: err.message }, 'splice link error');
    });
    endpoint.on('error', (err) => log.info({ event: 'splice_endpoint_error', session, err: err.message }, 'endpoint socket error'));
    let answered = false;
    link.once('upgrade', () => (answered = true));
    link.once('unexpected-response', (_req, res) => {
      answered = true;
      log.warn({ event: 'splice_refused', session, node: nodeId, status: res.statusCode }, 'the other node refused the splice link');
      res.resume();
      link.terminate();
    });
    link.once('open', () => {
      log.info({ event: 'splice_open', session, role: admission.role, node: nodeId }, 'spliced to another relay node');
      const outward = admission.role === 'agent' ? 'agent_to_client' : 'client_to_agent';
      this.#pipe(endpoint, link, outward);
      this.#pipe(link, endpoint, outward === 'agent_to_client' ? 'client_to_agent' : 'agent_to_client');
      endpoint.resume();
      this.#watch(relayed);
    });
    link.once('close', (code, reason) => {
      const closeEndpoint = (): void => {
        if (endpoint.readyState === WebSocket.OPEN || endpoint.readyState === WebSocket.CONNECTING) {
          endpoint.resume(); // paused until the link opened: read the answer to the close frame
          endpoint.close(link.protocol === '' && code === 1006 ? 1012 : relayableCloseCode(code), reason.toString('utf8'));
        }
      };
      if (answered || onUnreachable === undefined) {
        closeEndpoint();
        return;
      }
      onUnreachable(silence)
        .then((presumedDead) => {
          if (presumedDead) log.warn({ event: 'splice_node_unreachable', session, role: admission.role, node: nodeId, silence }, 'the node holding the other side did not answer; its socket is presumed gone');
          else log.warn({ event: 'splice_node_slow', session, role: admission.role, node: nodeId }, 'the node holding the other side did not answer in time but is alive (it holds its lease); its socket is left as it is and the endpoint reconnects');
        })
        .catch((err: unknown) => log.warn({ event: 'splice_node_unreachable_failed', session, err: (err as Error).message }, 'could not clear the unreachable node\'s socket from the store'))
        .finally(closeEndpoint);
    });
    const relayed = new Relayed(endpoint, link, session, admission.role, this.#silent);
    this.#relayed.set(endpoint, relayed);
    this.#open[admission.role]++;
    endpoint.once('close', (code, reason) => {
      this.#options.liveness.unwatch(relayed);
      this.#relayed.delete(endpoint);
      this.#open[admission.role]--;
      if (this.#relayed.size === 0) this.#onEmpty?.();
      if (link.readyState === WebSocket.OPEN) link.close(relayableCloseCode(code), reason.toString('utf8'));
      else link.terminate();
    });
  }

  /**
   * Shutdown begins (relay-server.ts): each relayed endpoint hears what a socket of this node's own
   * session would hear, so it does not wait for the end of the grace to learn this node is going.
   * This node holds none of these sessions; the node that holds one stays up. So an endpoint whose
   * session survives a restart (`survives`: established, with a resume window and durable keys) is
   * let go at once, closed with `code` (on which it resumes through another node, which relays it
   * to the same node holding the session) and its link as a transport loss; any other endpoint is
   * sent `notice` (`expiring` at the end of the grace: its session ends with this node's socket,
   * as a local one's does) and kept for the grace.
   */
  async windDown(survives: (sessionId: string) => Promise<boolean>, notice: RelayControlMessage, code: number, reason: string): Promise<void> {
    const verdicts = new Map<string, Promise<boolean>>();
    for (const { sessionId } of this.#relayed.values()) if (!verdicts.has(sessionId)) verdicts.set(sessionId, survives(sessionId));
    const text = JSON.stringify(notice);
    await Promise.all([...this.#relayed].map(async ([endpoint, relayed]) => {
      const survivesRestart = await verdicts.get(relayed.sessionId);
      if (this.#relayed.get(endpoint) !== relayed) return; // it went away meanwhile
      if (survivesRestart === true) {
        this.#options.log.info({ event: 'splice_released', session: relayed.sessionId, role: relayed.role }, 'relay node shutting down: the relayed endpoint resumes through another node');
        this.#cut(endpoint, relayed, code, reason);
      } else if (endpoint.readyState === WebSocket.OPEN) {
        endpoint.send(text);
      }
    }));
  }

  /** Resolves once no endpoint is relayed any more, or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    if (this.#relayed.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#onEmpty = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#onEmpty = done;
    });
  }

  /**
   * Shutdown: close every relayed endpoint with `code` (the relay's shutdown code, on which an
   * endpoint resumes elsewhere) and its link with 1001, a transport loss for the far node, which
   * then suspends the side rather than ending the session.
   */
  close(code: number, reason: string): void {
    for (const [endpoint, relayed] of this.#relayed) this.#cut(endpoint, relayed, code, reason);
    this.#relayed.clear();
  }

  /** Close `endpoint` with `code` and its link with 1001 (a transport loss for the far node). */
  #cut(endpoint: WebSocket, relayed: Relayed, code: number, reason: string): void {
    const { link } = relayed;
    link.removeAllListeners('close');
    if (link.readyState === WebSocket.OPEN) link.close(1001, 'relay node shutting down');
    else link.terminate();
    endpoint.close(code, reason);
  }

  /** Ping the relayed endpoint and cut it when silent (Relayed), from the time its link opened. */
  #watch(relayed: Relayed): void {
    relayed.heard();
    relayed.endpoint.on('pong', this.#onHeard);
    relayed.endpoint.on('message', this.#onHeard);
    if (relayed.open) this.#options.liveness.watch(relayed);
  }

  readonly #silent = (relayed: Relayed): void => {
    this.#options.log.info({ event: 'peer_silent', session: relayed.sessionId, role: relayed.role, relayed: true }, 'dropping a silent relayed peer');
    this.#options.onSilent?.();
    relayed.endpoint.terminate();
  };

  /** Relay `from`'s messages to `to`, not reading `from` while `to` has more than the mark queued. */
  #pipe(from: WebSocket, to: WebSocket, direction: 'agent_to_client' | 'client_to_agent'): void {
    const high = this.#options.highWaterBytes;
    const low = Math.floor(high / 2);
    let paused = false;
    let counted = 0;
    const account = (): void => {
      const now = to.readyState === WebSocket.OPEN ? to.bufferedAmount : 0;
      this.#queued += now - counted;
      counted = now;
    };
    const flushed = (err?: Error | null): void => {
      account();
      if (err != null || !paused || to.bufferedAmount > low) return;
      paused = false;
      if (from.readyState === WebSocket.OPEN) from.resume();
    };
    from.on('message', (data: RawData, isBinary: boolean) => {
      if (to.readyState !== WebSocket.OPEN) return;
      to.send(data as Buffer, { binary: isBinary }, flushed);
      if (isBinary) this.#options.onRelayed?.(direction, (data as Buffer).length);
      account();
      this.#options.onQueued?.(to.bufferedAmount);
      if (!paused && to.bufferedAmount > high) {
        paused = true;
        from.pause();
        this.#options.onPause?.();
      }
    });
    to.once('close', () => {
      this.#queued -= counted;
      counted = 0;
    });
  }
}
