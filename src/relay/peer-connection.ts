/**
 * One accepted WebSocket of a session (docs/design.md §3): its role, identity for the audit log,
 * liveness and a bounded close.
 *
 * Liveness (seeds/003 "deadlines"): the node's LivenessSweep (liveness-sweep.ts) pings the peer
 * every `pingIntervalMs` and reports it silent when nothing (no frame, no pong) arrived for
 * `silenceMs`. Time during which the relay itself stopped reading the peer (backpressure) does
 * not count as silence: this class says when it last heard the peer (`lastSeen`) and whether it
 * reads it (`paused`); the sweep applies that rule.
 * Closing: a close frame is sent and the socket is cut if the peer does not answer within
 * RELAY_CLOSE_HANDSHAKE_TIMEOUT_MS, so shutdown is bounded. Frames from the peer are
 * untrusted and handled by the broker; this class never parses them.
 *
 * Memory (issue 15, docs/performance.md "Relay forwarding and memory"): a relay holds two of these
 * per idle session, so the socket's events go to one `PeerEvents` object shared by every peer of
 * the node, with the peer as an argument, the listeners are the same functions for every socket
 * (the socket's peer is looked up): no closures per socket, and no timer per socket but while a
 * close handshake runs (the node's one liveness sweep watches every peer).
 *
 * Binary frames (issue 15): once the peer joins a session, its socket is read by a FrameReader
 * (frame-path.ts), which hands the broker each binary frame as slices of the socket's read
 * buffers; every other frame still goes through ws (this class is the reader's FrameTarget).
 */
import type { RawData } from 'ws';
import type { Duplex } from 'node:stream';
import { newAttachmentTag } from './attachment-tag.js';
import { FrameReader, socketOf } from './frame-path.js';
import type { FrameTarget } from './frame-path.js';
import { installSlabReads } from './read-slabs.js';
import { splitLargeTlsWrites } from './tls-writes.js';
import type { ReadSlab } from './read-slabs.js';
import { WebSocket } from '../ws-runtime.js';
import type { SessionLink } from './session-link.js';
import { NOT_WATCHED } from './liveness-sweep.js';
import type { LivenessSubject, LivenessSweep } from './liveness-sweep.js';
import { RELAY_CLOSE_HANDSHAKE_TIMEOUT_MS } from '../limits.js';
import type { PeerRole } from '../protocol/relay-api.js';
import type { RelayControlMessage } from '../protocol/relay-control.js';

export interface PeerIdentity {
  readonly role: PeerRole;
  readonly sessionId: string;
  readonly address: string;
  readonly tokenName: string | null;
  /** The client's key digest (its claim); undefined for the agent. */
  readonly clientKeyDigest: Uint8Array | undefined;
}

/** What the broker does with a peer's socket events: one object for all peers of a node. */
export interface PeerEvents {
  /** A frame arrived through ws; delivered only once `listen` was called. */
  message(peer: PeerConnection, data: RawData, isBinary: boolean): void;
  /** A binary frame arrived through the relay's own reader (frame-path.ts): its payload as slices (views of `slab`, if given: FrameTarget). */
  binaryFrame(peer: PeerConnection, slices: Buffer[], length: number, slab: ReadSlab | undefined, headerRoom: number): void;
  /** The socket closed (after the peer's own timers were cleared). */
  closed(peer: PeerConnection, code: number): void;
  error(peer: PeerConnection, err: Error): void;
  /** Nothing arrived from the peer for the silence timeout. */
  silent(peer: PeerConnection): void;
}

/** A close reason must fit a control frame: at most 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason, 'utf8') > 123) reason = reason.slice(0, -1);
  return reason;
}

export class PeerConnection implements LivenessSubject, FrameTarget {
  readonly ws: WebSocket;
  readonly identity: PeerIdentity;
  readonly connectedAt = Date.now();
  /**
   * This socket's attachment tag in the session store: a `suspend` or `detach` for it is ignored
   * once a newer socket of the same side attached, on this node or another (session-store.ts).
   */
  readonly attachment: string;
  bytesIn = 0;
  bytesOut = 0;
  /** Counted among the broker's open sockets (until its close is handled). */
  counted = false;
  /** The relay closed it for breaking the protocol: its end ends the session, never suspends it. */
  endsSession = false;
  /** A newer socket of the same side took over (docs/design.md §8.1); its end changes nothing. */
  replaced = false;
  /** Set when this socket is a cluster link from another node (docs/design.md §8.2): that node's id. */
  viaNode: string | undefined;
  /** The session this socket joined (`listen`); undefined before, and for a socket relayed elsewhere. */
  link: SessionLink | undefined;
  /** Managed by the liveness sweep watching this peer (liveness-sweep.ts). */
  livenessDue = NOT_WATCHED;
  /** When the peer was last heard from (epoch ms); see LivenessSubject. */
  lastSeen = Date.now();
  readonly #events: PeerEvents;
  #pausedByRelay = false;
  /** The relay's reader of this socket's binary frames, once it joined a session (`listen`). */
  #reader: FrameReader | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #sweep: LivenessSweep | undefined;

  /**
   * `events` hears errors and the close from now on (a socket error must never crash the
   * process), frames only after `listen`. `nodeId`: this node's --advertise URL in a cluster,
   * written into the attachment tag (attachment-tag.ts).
   */
  constructor(ws: WebSocket, identity: PeerIdentity, events: PeerEvents, nodeId?: string) {
    this.ws = ws;
    this.identity = identity;
    this.#events = events;
    this.attachment = newAttachmentTag(nodeId);
    PeerConnection.#bySocket.set(ws, this);
    ws.on('pong', PeerConnection.#onHeard);
    ws.on('ping', PeerConnection.#onHeard);
    ws.on('error', PeerConnection.#onError);
    ws.on('close', PeerConnection.#onClose);
  }

  /**
   * Deliver this socket's frames to the broker, as part of `link`; binary frames of at most
   * `maxMessageBytes` through the relay's own reader. Called before ws was written any byte of
   * the socket (the broker keeps the socket paused until then), which FrameReader.install needs.
   */
  listen(link: SessionLink, maxMessageBytes: number): void {
    this.link = link;
    this.ws.on('message', PeerConnection.#onMessage);
    const reader = FrameReader.install(this.ws, this, maxMessageBytes);
    this.#reader = reader;
    const socket = this.socket;
    if (reader !== undefined && socket !== undefined) installSlabReads(socket, reader);
    if (socket !== undefined) splitLargeTlsWrites(socket);
  }

  /** The socket under the WebSocket, where forwarded frames are written (frame-path.ts). */
  get socket(): Duplex | undefined {
    return socketOf(this.ws);
  }

  /** FrameTarget: a binary frame read by the relay's reader. */
  binaryFrame(slices: Buffer[], length: number, slab: ReadSlab | undefined, headerRoom: number): void {
    this.#events.binaryFrame(this, slices, length, slab, headerRoom);
  }

  /** FrameTarget: a frame the reader leaves to ws. */
  passToWs(bytes: Buffer): void {
    FrameReader.passToReceiver(this.ws, bytes);
  }

  /** FrameTarget: the relay stopped reading this peer; the reader holds the rest of a read. */
  holding(): boolean {
    return this.#pausedByRelay;
  }

  /** FrameTarget: whether the reader forwards, ws reads everything, or nobody reads. */
  readState(): 'open' | 'closing' | 'stopped' {
    if (this.ws.readyState === WebSocket.OPEN) return 'open';
    return FrameReader.receiverReading(this.ws) ? 'closing' : 'stopped';
  }

  /** Each socket's peer, for the listeners below, which are the same functions for every socket. */
  static readonly #bySocket = new WeakMap<WebSocket, PeerConnection>();

  static #onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const peer = PeerConnection.#bySocket.get(this);
    if (peer !== undefined) peer.#events.message(peer, data, isBinary);
  }

  static #onError(this: WebSocket, err: Error): void {
    const peer = PeerConnection.#bySocket.get(this);
    if (peer !== undefined) peer.#events.error(peer, err);
  }

  static #onClose(this: WebSocket, code: number): void {
    const peer = PeerConnection.#bySocket.get(this);
    if (peer === undefined) return;
    peer.dispose();
    peer.#events.closed(peer, code);
  }

  /** A ping or pong proves the peer alive. */
  static #onHeard(this: WebSocket): void {
    const peer = PeerConnection.#bySocket.get(this);
    if (peer !== undefined) peer.lastSeen = Date.now();
  }

  get role(): PeerRole {
    return this.identity.role;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Any frame from the peer proves it is alive. */
  markSeen(): void {
    this.lastSeen = Date.now();
  }

  /** Be pinged and watched for silence by `sweep`, the node's, until the socket closes. */
  startLiveness(sweep: LivenessSweep): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = sweep;
    sweep.watch(this);
  }

  /** LivenessSubject: the relay stopped reading this peer (pauseReading). */
  get paused(): boolean {
    return this.#pausedByRelay;
  }

  ping(): void {
    this.ws.ping();
  }

  wentSilent(): void {
    this.#events.silent(this);
  }

  /** Stop reading this peer (the other side is slow); see forwarding.ts. */
  pauseReading(): void {
    if (this.#pausedByRelay) return;
    this.#pausedByRelay = true;
    this.ws.pause();
  }

  resumeReading(): void {
    if (!this.#pausedByRelay) return;
    this.#pausedByRelay = false;
    this.lastSeen = Date.now();
    // What the reader held back goes first; it may stop reading the peer again.
    this.#reader?.resumeHeld();
    if (this.#pausedByRelay) return;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.resume();
  }

  /** Send one relay control message as a text frame (never forwarded to the other side). */
  sendControl(message: RelayControlMessage): void {
    if (this.open) this.ws.send(JSON.stringify(message));
  }

  /** Close with `code` and `reason`; cut the socket if the close handshake does not finish in time. */
  close(code: number, reason: string): void {
    const state = this.ws.readyState;
    if (state === WebSocket.CLOSED) return;
    if (state === WebSocket.OPEN) this.ws.close(code, closeReason(reason));
    if (this.#closeTimer === undefined) {
      this.#closeTimer = setTimeout(() => {
        this.#closeTimer = undefined;
        this.ws.terminate();
      }, RELAY_CLOSE_HANDSHAKE_TIMEOUT_MS);
    }
  }

  /** Drop the connection without a close handshake (a silent peer would not answer one). */
  terminate(): void {
    this.ws.terminate();
  }

  /** Clear the close timer and leave the liveness sweep; called once the socket is closed. */
  dispose(): void {
    clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    this.#sweep?.unwatch(this);
  }
}
