/**
 * The client's local listener on 127.0.0.1 (docs/design.md §1, §6). Every accepted connection
 * becomes one CONNECT stream through the tunnel to a target the agent offered.
 *
 * - `tls-token` (proxy mode, the API server): TLS with the per-session throw-away CA's
 *   certificate; the first request head (at most 32 KiB, within a deadline) must carry the
 *   session's bearer token, compared in constant time, before any stream opens. A wrong or
 *   missing token gets a Kubernetes Status 401 and the connection closes: other local users
 *   cannot use the tunnel without the 0600 kubeconfig. Connections that have not shown the token
 *   yet are bounded (`LOCAL_UNAUTHENTICATED_CONNECTIONS_MAX`; one more closes the oldest) and
 *   timed (TLS handshake `LOCAL_TLS_HANDSHAKE_TIMEOUT_MS`, head `LOCAL_REQUEST_HEAD_TIMEOUT_MS`),
 *   so another local user cannot use up connect's file descriptors with connections held open.
 * - `plain` (passthrough mode, `--forward` targets): bytes are piped as they are; TLS and
 *   authentication are end to end with the target.
 *
 * Every connection, of either kind, is checked for the local user who opened it (Linux: the
 * owner of the peer socket in the kernel's socket tables, loopback-peer-uid.ts; by default
 * connect's own user and root, who can read connect's files anyway); another user's connection
 * is closed. A plain listener opens no stream before the answer, so another user gets no byte
 * through a forwarded port or the passthrough listener; the token-checked one authenticates by
 * the token and uses the answer to close other users' connections early and to close unknown
 * owners' connections first at its bound. Where the tables cannot be read (not Linux), any local
 * user may connect, as to `ssh -L`.
 *
 * Only loopback addresses may be bound. Accepted connections have Nagle's algorithm off
 * (TCP_NODELAY), as Node's HTTP servers and kubectl's own connections do: with it on, the first
 * answer on a kubectl connection waited behind the TLS session tickets sent just before it until
 * kubectl's delayed ACK came, 25-35 ms into every kubectl run (docs/performance.md "kubectl get
 * through proxy mode").
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createTcpServer, isIPv4 } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { KubepairError } from '../errors/index.js';
import { LOCAL_REQUEST_HEAD_TIMEOUT_MS, LOCAL_TLS_HANDSHAKE_TIMEOUT_MS, LOCAL_UNAUTHENTICATED_CONNECTIONS_MAX } from '../limits.js';
import { splice } from '../mux/splice.js';
import { KUBE_STATUS_HEADERS, REFUSAL_TEXT_HEADERS, REFUSAL_TEXT_STATUS, kubeStatusBody, reasonPhrase } from '../protocol/kube-status.js';
import { LoopbackPeerUids } from './loopback-peer-uid.js';
import { REQUEST_HEAD_MAX_BYTES, bearerToken, findHeadEnd, parseRequestHead } from './request-head.js';

export type LocalListenerSecurity =
  | { readonly kind: 'tls-token'; readonly certPem: string; readonly keyPem: string; readonly token: string }
  | { readonly kind: 'plain' };

/** Which local users may use a listener: those uids (checked in the kernel's socket tables), or anyone. */
export type LocalPeerPolicy = { readonly kind: 'uids'; readonly uids: ReadonlySet<number>; readonly lookup: LoopbackPeerUids } | { readonly kind: 'any' };

/** The default: this process's user and root where the socket tables can be read (Linux), else anyone. */
export function defaultLocalPeerPolicy(): LocalPeerPolicy {
  if (process.platform !== 'linux' || typeof process.getuid !== 'function' || !existsSync('/proc/self/net/tcp')) return { kind: 'any' };
  return { kind: 'uids', uids: new Set([process.getuid(), 0]), lookup: new LoopbackPeerUids() };
}

/** A tunnel stream whose CONNECT has left: `answered` resolves on the agent's 200, rejects on a refusal or failure. */
export interface OpeningStream {
  readonly stream: Duplex;
  readonly answered: Promise<void>;
}

export interface LocalListenerOptions {
  /** Loopback address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 0: a free one). */
  readonly port?: number;
  readonly security: LocalListenerSecurity;
  /** The tunnel target each connection goes to. */
  readonly target: string;
  /**
   * Sends the CONNECT for a tunnel stream to a target and hands the stream back before its
   * answer (MuxClient.beginStream); may first wait (for a tunnel link that is down), and rejects
   * when no CONNECT could be sent.
   */
  readonly beginStream: (target: string) => Promise<OpeningStream>;
  /** Time a client has to send its first request head (default `LOCAL_REQUEST_HEAD_TIMEOUT_MS`). */
  readonly headTimeoutMs?: number;
  /** Time a client has to finish the TLS handshake (default `LOCAL_TLS_HANDSHAKE_TIMEOUT_MS`). */
  readonly handshakeTimeoutMs?: number;
  /** Most connections held that have not shown the token (default `LOCAL_UNAUTHENTICATED_CONNECTIONS_MAX`). */
  readonly maxUnauthenticated?: number;
  /** Which local users may connect (default `defaultLocalPeerPolicy()`). */
  readonly peers?: LocalPeerPolicy;
}

export interface LocalListenerEvents {
  /** A connection was refused before a stream opened; `reason` is safe to log. */
  refused: [reason: string];
  /**
   * A tunnel stream could not be opened (`open`: the agent refused it — a target it does not
   * offer, or it cannot audit it — or the tunnel failed; the local connection was answered or
   * closed), or failed while carrying bytes (`transfer`).
   */
  streamError: [error: KubepairError, phase: 'open' | 'transfer'];
  /** A connection from another local user (owning uids `uids`) was closed without a byte. */
  foreignUser: [uids: readonly number[]];
}

/** One whole HTTP/1.1 answer that closes the connection: status line, headers, body. */
function closingAnswer(code: number, headers: ReadonlyArray<readonly [string, string]>, body: string): string {
  const fields = [...headers, ['content-length', String(Buffer.byteLength(body))], ['connection', 'close']].map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${code} ${reasonPhrase(code)}\r\n${fields.join('\r\n')}\r\n\r\n${body}`;
}

/** A refused connection: a Kubernetes Status (protocol/kube-status.ts), so kubectl prints why. */
function statusAnswer(code: number, message: string): string {
  return closingAnswer(code, KUBE_STATUS_HEADERS, kubeStatusBody(code, message));
}

/**
 * The answer when no tunnel stream could be opened for an authenticated request (the agent
 * refused it — it cannot write its audit log — or the tunnel failed): the text refusal of
 * protocol/kube-status.ts, which kubectl shows word for word, as the agent's kube proxy answers
 * its own fail-closed refusals.
 */
function streamFailedAnswer(message: string): string {
  return closingAnswer(REFUSAL_TEXT_STATUS, REFUSAL_TEXT_HEADERS, message);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A connection's peer address and port: the same for the TCP socket and the TLS socket on it. */
function peerKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`;
}

export class LocalListener extends EventEmitter<LocalListenerEvents> {
  readonly #options: LocalListenerOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #tokenDigest: Buffer | undefined;
  /** TCP connections of the token-checked listener that have not shown the token, oldest first. */
  readonly #unauthenticated = new Map<string, Socket>();
  readonly #peers: LocalPeerPolicy;
  /** Whether each open connection's local user may use the listener, by peer address and port. */
  readonly #peerVerdicts = new Map<string, Promise<boolean>>();
  /** Open connections whose user is known to be allowed (their verdict came back yes). */
  readonly #allowedPeers = new Set<string>();

  constructor(options: LocalListenerOptions) {
    super();
    const host = options.host ?? '127.0.0.1';
    if (!(isIPv4(host) && host.startsWith('127.')) && host !== '::1') {
      throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `the local listener binds loopback only, not ${host}`);
    }
    this.#options = { ...options, host };
    this.#peers = options.peers ?? defaultLocalPeerPolicy();
    const security = options.security;
    if (security.kind === 'tls-token') {
      this.#tokenDigest = digest(security.token);
      this.#server = createTlsServer(
        {
          cert: security.certPem,
          key: security.keyPem,
          ALPNProtocols: ['http/1.1'],
          minVersion: 'TLSv1.2',
          noDelay: true,
          handshakeTimeout: options.handshakeTimeoutMs ?? LOCAL_TLS_HANDSHAKE_TIMEOUT_MS,
        },
        (socket) => this.#track(socket, () => this.#authenticate(socket)),
      );
      // Counted from the TCP accept, before TLS: a handshake held open counts too.
      this.#server.on('connection', (socket: Socket) => {
        this.#checkPeer(socket);
        this.#admitUnauthenticated(socket);
      });
      // A TLS handshake failure (for example a client that distrusts the CA, or one that never
      // finishes the handshake) ends that socket only. With a listener for this event Node leaves
      // the socket open (it destroys it only when nobody listens): close it here.
      this.#server.on('tlsClientError', (err: Error, socket: Socket) => {
        socket.destroy();
        this.emit('refused', `TLS handshake failed: ${err.message}`);
      });
    } else {
      this.#tokenDigest = undefined;
      this.#server = createTcpServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
        this.#checkPeer(socket);
        this.#track(socket, () => void this.#splice(socket, []));
      });
    }
  }

  /** Start listening; resolves with the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new KubepairError('KP_ERR_LOCAL_LISTEN', `${this.#options.host}:${this.#options.port ?? 0}: ${err.code ?? err.message}`, { cause: err }));
      };
      this.#server.once('error', onError);
      this.#server.listen(this.#options.port ?? 0, this.#options.host, () => {
        this.#server.off('error', onError);
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
  }

  /** Stop accepting and end every open connection. */
  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  get connectionCount(): number {
    return this.#sockets.size;
  }

  #track(socket: Socket, start: () => void): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    start();
  }

  /**
   * Count a new connection that has not shown the token; at the bound, close the oldest such one
   * whose user is not known to be allowed yet (another user's flood cannot push out kubectl's
   * connection once its owner is known), else the oldest.
   */
  #admitUnauthenticated(socket: Socket): void {
    const max = this.#options.maxUnauthenticated ?? LOCAL_UNAUTHENTICATED_CONNECTIONS_MAX;
    while (this.#unauthenticated.size >= max) {
      let victim = this.#unauthenticated.entries().next().value as [string, Socket];
      for (const entry of this.#unauthenticated) {
        if (!this.#allowedPeers.has(entry[0])) {
          victim = entry;
          break;
        }
      }
      const [key, oldest] = victim;
      this.#unauthenticated.delete(key);
      oldest.destroy();
      this.emit('refused', `more than ${max} local connections without the token: closed the oldest`);
    }
    const key = peerKey(socket);
    this.#unauthenticated.set(key, socket);
    socket.once('close', () => {
      if (this.#unauthenticated.get(key) === socket) this.#unauthenticated.delete(key);
    });
  }

  /**
   * Start finding out whether the local user who opened `socket` may use the listener; one who
   * may not, or cannot be told, is closed without a byte. Streams open only after a yes.
   */
  #checkPeer(socket: Socket): void {
    const key = peerKey(socket);
    const verdict = this.#peerVerdict(socket).then((allowed) => {
      if (!allowed) socket.destroy();
      else if (this.#peerVerdicts.get(key) === verdict) this.#allowedPeers.add(key);
      return allowed;
    });
    this.#peerVerdicts.set(key, verdict);
    socket.once('close', () => {
      if (this.#peerVerdicts.get(key) !== verdict) return;
      this.#peerVerdicts.delete(key);
      this.#allowedPeers.delete(key);
    });
  }

  async #peerVerdict(socket: Socket): Promise<boolean> {
    const peers = this.#peers;
    if (peers.kind === 'any') return true;
    const own = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    const peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    let uids: Set<number>;
    try {
      uids = await peers.lookup.uidsOf(own, peer);
    } catch (err) {
      this.emit('refused', `cannot tell which local user opened a connection (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): closed it`);
      return false;
    }
    if (socket.destroyed) return false;
    if (uids.size === 0) {
      this.emit('refused', 'cannot tell which local user opened a connection (not in the socket tables): closed it');
      return false;
    }
    const refused = [...uids].filter((uid) => !peers.uids.has(uid));
    if (refused.length > 0) {
      this.emit('foreignUser', refused);
      this.emit('refused', `a connection from another local user (uid ${refused.join(', ')}) was closed: only uid ${[...peers.uids].join(' and ')} may use this listener`);
      return false;
    }
    return true;
  }

  #authenticate(socket: Socket): void {
    const chunks: Buffer[] = [];
    let length = 0;
    const timer = setTimeout(() => refuse(408, 'no request within the deadline'), this.#options.headTimeoutMs ?? LOCAL_REQUEST_HEAD_TIMEOUT_MS);
    const refuse = (code: number, why: string): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      this.emit('refused', why);
      socket.end(statusAnswer(code, `kubepair: ${why}`));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      const buffered = Buffer.concat(chunks, length);
      const end = findHeadEnd(buffered);
      if (end < 0) {
        if (length > REQUEST_HEAD_MAX_BYTES) refuse(431, 'request head too large');
        return;
      }
      const head = end <= REQUEST_HEAD_MAX_BYTES ? parseRequestHead(buffered.subarray(0, end)) : undefined;
      if (head === undefined) {
        refuse(400, 'not an HTTP/1.1 request');
        return;
      }
      const token = bearerToken(head);
      // Constant time: compare fixed-length digests, so neither content nor length leaks.
      if (token === undefined || !timingSafeEqual(digest(token), this.#tokenDigest!)) {
        refuse(401, 'this tunnel needs the bearer token from its kubeconfig');
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      this.#unauthenticated.delete(peerKey(socket));
      void this.#splice(socket, [buffered]);
    };
    socket.on('data', onData);
    // A connection that closes before its head is done takes its deadline with it.
    socket.once('close', () => clearTimeout(timer));
  }

  /**
   * Open the connection's tunnel stream and join the two. The first bytes leave with the
   * CONNECT, without waiting for the agent's 200 (docs/design.md §5, "A stream's first bytes"):
   * the token-checked head here, and on a plain listener whatever the client sends while the
   * agent decides. Nothing from the stream reaches the socket before the 200, and a refusal is
   * answered as before: kubectl gets the refusal's text, a plain client the close.
   */
  async #splice(socket: Socket, head: Buffer[]): Promise<void> {
    socket.pause();
    // A plain listener has nothing but the owner to go by, so it waits for the verdict (no
    // verdict, which cannot happen, counts as a no). The token-checked one has just seen the
    // token, which only a reader of the 0600 kubeconfig holds; its owner check closes other
    // users' connections as soon as it is in, and decides which connections the bound closes.
    if (this.#options.security.kind === 'plain' && !(await (this.#peerVerdicts.get(peerKey(socket)) ?? Promise.resolve(false)))) {
      socket.destroy();
      return;
    }
    if (socket.destroyed) return;
    let opening: OpeningStream;
    try {
      opening = await this.#options.beginStream(this.#options.target);
    } catch (err) {
      this.#openFailed(socket, err);
      return;
    }
    const { stream, answered } = opening;
    if (socket.destroyed) {
      // The client left while the link came back: nothing to send or answer.
      answered.catch(() => undefined);
      stream.destroy();
      return;
    }
    for (const chunk of head) stream.write(chunk);
    if (this.#options.security.kind === 'plain') {
      // Joined at once: the client's bytes follow the CONNECT as they come (bounded by the
      // stream's window and the splice's write buffer), while the stream can carry nothing back
      // before the 200. A refusal destroys the stream, which closes the socket.
      let open = false;
      // A client that leaves before the answer takes its stream with it: no refusal to report.
      // (Listening before the splice does: its handlers destroy the stream on the socket's end.)
      let left = false;
      const leaving = (): void => void (left ||= !stream.destroyed);
      socket.once('error', leaving);
      socket.once('close', leaving);
      this.#join(socket, stream, () => open);
      try {
        await answered;
        open = true;
      } catch (err) {
        if (!left) this.#openFailed(socket, err);
      }
      return;
    }
    try {
      await answered;
    } catch (err) {
      this.#openFailed(socket, err);
      return;
    }
    this.#join(socket, stream, () => true);
  }

  /** Splice `socket` and `stream`; a failure once the stream is `open` is reported as a transfer error. */
  #join(socket: Socket, stream: Duplex, open: () => boolean): void {
    splice(socket, stream, (err) => {
      if (err !== undefined && open() && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        this.emit('streamError', new KubepairError('KP_ERR_MUX_STREAM_FAILED', err.message, { cause: err }), 'transfer');
      }
    });
  }

  /** No stream: say why, and answer (token-checked) or close (plain) the local connection. */
  #openFailed(socket: Socket, err: unknown): void {
    const error = err instanceof KubepairError ? err : new KubepairError('KP_ERR_MUX_STREAM_FAILED', undefined, { cause: err });
    this.emit('streamError', error, 'open');
    // kubectl shows the message; a plain client can only see its connection close (the
    // listener's owner prints why, e.g. "the agent cannot write its audit log ...").
    if (this.#options.security.kind === 'tls-token') socket.end(streamFailedAnswer(`kubepair: ${error.message}`));
    else socket.destroy();
  }
}
