/**
 * Connections straight to the relay (no proxy tunnel) for its WebSocket (relay-socket.ts), and
 * one such connection opened ahead, while the pairing request runs (issue 15, start-up).
 *
 * - `connectWithFrameReads` / `connectTlsWithFrameReads` are `ws`'s `createConnection`: the
 *   socket reads through RelayFrameReads (frame-reads.ts). The TLS options are `ws`'s, handled
 *   as `ws`'s own TLS connect does (no `path`; SNI the host name, none for an IP address), so
 *   the certificate checks (`ca`, host name) are exactly those `ws` would make.
 * - `PreopenedConnection`: the client knows where its WebSocket will go before `POST /pair`
 *   answers, only not the path and key. Opening its TCP connection (and TLS handshake) beside the
 *   request takes them out of the time to the first byte: one round trip on plain TCP, two on
 *   TLS 1.3. The connection is made by the same functions with the same options `ws` would pass
 *   (host, port, `ca`), and handed to `ws` only when `ws` asks for exactly that host, port and
 *   `ca`, the connection is still open, and it has not waited longer than
 *   RELAY_CLIENT_PREOPENED_IDLE_MAX_MS since it connected (a relay closes connections that send
 *   no request head within its --head-timeout, 10 s by default). Otherwise `ws` gets a new
 *   connection, as without it: an error on the early connection (refused, a certificate that
 *   does not verify) is not reported from it but met again, and reported, on the new one. Not
 *   through a proxy (relay-connection.ts: those connections are the proxy agent's).
 *
 * Input: everything the relay (untrusted) sends, read by the HTTP client and `ws`, never here.
 */
import { isIP, connect as netConnect } from 'node:net';
import type { NetConnectOpts, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions as TlsConnectionOptions, TLSSocket } from 'node:tls';
import { RELAY_CLIENT_PREOPENED_IDLE_MAX_MS } from '../limits.js';
import { RelayFrameReads } from './frame-reads.js';
import { usesRelayProxy } from './relay-connection.js';
import { resolveRelay } from './relay-endpoint.js';
import type { RelayEndpoint } from './relay-endpoint.js';

/**
 * ws's `createConnection` for a relay reached straight (no proxy tunnel): the socket reads
 * through RelayFrameReads (`onread`, which ends `data` events), whose chunks are then emitted as
 * the socket's `data` events, where the HTTP client and then ws read them. Pausing the socket
 * stops its reads.
 */
export function connectWithFrameReads(options: NetConnectOpts): Socket {
  const reads = new RelayFrameReads();
  const socket = netConnect({ ...options, onread: reads.onread });
  reads.attach((chunk) => socket.emit('data', chunk));
  return socket;
}

/**
 * The same over TLS (an https:// relay): `tls.connect` takes `onread` too, and the TLS layer
 * then decrypts straight into the slab (Node decrypts 16 KiB at a time, so without it ws got a
 * 256 KiB frame in 16 pieces and copied them into a new buffer). The options are ws's, handled
 * as ws's own TLS connect does (no `path`; SNI the host name, none for an IP address), so the
 * certificate checks (`ca`, host name) are exactly those ws would make.
 */
export function connectTlsWithFrameReads(options: TlsConnectionOptions): TLSSocket {
  const reads = new RelayFrameReads();
  const host = options.host ?? '';
  const servername = options.servername ?? (isIP(host) !== 0 ? '' : host);
  const socket = tlsConnect({ ...options, path: undefined, servername, onread: reads.onread } as TlsConnectionOptions);
  reads.attach((chunk) => socket.emit('data', chunk));
  return socket;
}

/** What `ws` gives `createConnection` and a preopened connection is matched against. */
type ConnectionRequest = Pick<TlsConnectionOptions, 'host' | 'port' | 'ca'>;

/** A connection to the relay opened before its WebSocket is; see the file header. */
export class PreopenedConnection {
  readonly #socket: Socket;
  readonly #host: string;
  readonly #port: number;
  readonly #ca: RelayEndpoint['ca'];
  /** performance.now() when it connected (TLS: when the handshake finished); undefined while connecting. */
  #connectedAt: number | undefined;
  /** Failed or closed before it was taken: never handed on. */
  #unusable = false;
  #taken = false;
  /** Until taken, an error is this object's to swallow (the new connection meets it again). */
  readonly #onError = (): void => {
    this.#unusable = true;
  };

  private constructor(secure: boolean, host: string, port: number, ca: RelayEndpoint['ca']) {
    this.#host = host;
    this.#port = port;
    this.#ca = ca;
    const options = { host, port, ...(ca !== undefined && { ca }) };
    this.#socket = secure ? connectTlsWithFrameReads(options) : connectWithFrameReads(options);
    this.#socket.once(secure ? 'secureConnect' : 'connect', () => (this.#connectedAt = performance.now()));
    this.#socket.on('error', this.#onError);
    this.#socket.once('close', () => (this.#unusable = true));
  }

  /**
   * Open the connection the WebSocket of `endpoint` will use; undefined when the endpoint goes
   * through a proxy (then nothing is opened ahead).
   */
  static open(endpoint: Pick<RelayEndpoint, 'url' | 'insecure' | 'ca' | 'proxy'>): PreopenedConnection | undefined {
    const relay = resolveRelay(endpoint);
    if (usesRelayProxy(endpoint, relay)) return undefined;
    const url = new URL(relay.wsBase);
    // As ws reads its URL: the port or the scheme's, the host name without IPv6 brackets.
    const port = url.port === '' ? (relay.secure ? 443 : 80) : Number(url.port);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return new PreopenedConnection(relay.secure, host, port, endpoint.ca);
  }

  /**
   * The socket, for `ws`'s `createConnection` with `request`, once: when it is for the same host,
   * port and `ca`, still open and not idle too long; else undefined (and it is closed).
   */
  take(request: ConnectionRequest): Socket | undefined {
    if (this.#taken) return undefined;
    this.#taken = true;
    const idleMs = this.#connectedAt === undefined ? 0 : performance.now() - this.#connectedAt;
    const same = request.host === this.#host && Number(request.port) === this.#port && request.ca === this.#ca;
    if (!same || this.#unusable || this.#socket.destroyed || idleMs > RELAY_CLIENT_PREOPENED_IDLE_MAX_MS) {
      this.#socket.destroy();
      return undefined;
    }
    // From here its errors are the HTTP client's and ws's to report, as on a new connection.
    this.#socket.off('error', this.#onError);
    return this.#socket;
  }

  /** Close it unless it was handed on (idempotent). */
  close(): void {
    if (this.#taken) return;
    this.#taken = true;
    this.#socket.destroy();
  }
}
