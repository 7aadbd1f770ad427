/**
 * A raw HTTP/1.1 connection over TLS for tests that must control every byte a server reads
 * (pipelining, bodies without framing, `Connection: Upgrade` on ordinary requests) and see
 * every response on that one connection. Requests are written as given; responses are parsed
 * one at a time by their framing (Content-Length, chunked, or none for 1xx/204/304 and bodies
 * delimited by close). Every wait is bounded by a timeout.
 *
 * The server certificate is verified against `caPem` by `servername`; ALPN offers only
 * `http/1.1` unless told otherwise.
 */
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';

export interface RawHttp1Options {
  readonly port: number;
  readonly caPem: string;
  readonly servername: string;
  readonly certPem?: string;
  readonly keyPem?: string;
  /** ALPN protocols to offer (default ['http/1.1']; [] offers none). */
  readonly alpn?: readonly string[];
}

export interface RawHttp1Response {
  readonly status: number;
  /** Header names lowercased; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** Default bound on one wait, in ms. */
const WAIT_MS = 10_000;
/** Most bytes buffered from the server. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export class RawHttp1Connection {
  readonly #socket: TLSSocket;
  #buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  private constructor(socket: TLSSocket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (this.#buffer.length + chunk.length > MAX_BUFFERED_BYTES) {
        socket.destroy(new Error('the server sent more than the test buffers'));
        return;
      }
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    const ended = (): void => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on('end', ended);
    socket.on('close', ended);
    socket.on('error', ended);
  }

  static open(options: RawHttp1Options): Promise<RawHttp1Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port: options.port,
        ca: options.caPem,
        servername: options.servername,
        ALPNProtocols: [...(options.alpn ?? ['http/1.1'])],
        ...(options.certPem === undefined ? {} : { cert: options.certPem, key: options.keyPem }),
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('TLS handshake timed out'));
      }, WAIT_MS);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(new RawHttp1Connection(socket));
      });
      socket.once('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** The protocol ALPN chose (false when none). */
  get alpnProtocol(): string | false | null {
    return this.#socket.alpnProtocol;
  }

  /** True once the server closed the connection (or it failed). */
  get closed(): boolean {
    return this.#ended && this.#buffer.length === 0;
  }

  write(bytes: string | Buffer): void {
    this.#socket.write(bytes);
  }

  /** Wait until `parse` finds what it wants in the buffer, or the connection ends, or the time is up. */
  async #until<T>(parse: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = parse();
      if (found !== undefined) return found;
      if (this.#ended) throw new Error(`the connection ended before ${what}; unread: ${JSON.stringify(this.#buffer.toString('latin1'))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; unread: ${JSON.stringify(this.#buffer.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Read the next complete response. */
  readResponse(timeoutMs = WAIT_MS): Promise<RawHttp1Response> {
    return this.#until(() => this.#takeResponse(), timeoutMs, 'a complete response');
  }

  /** Wait for the server to close the connection; true if it did within the time. */
  async waitForClose(timeoutMs = WAIT_MS): Promise<boolean> {
    try {
      await this.#until(() => (this.#ended ? true : undefined), timeoutMs, 'the close');
      return true;
    } catch {
      return false;
    }
  }

  #takeResponse(): RawHttp1Response | undefined {
    const headEnd = this.#buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) return undefined;
    const [statusLine = '', ...lines] = this.#buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!match) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(statusLine)}`);
    const status = Number(match[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const start = headEnd + 4;
    let body: Buffer;
    let end: number;
    if ((status >= 100 && status < 200) || status === 204 || status === 304) {
      body = Buffer.alloc(0);
      end = start;
    } else if ((headers['transfer-encoding'] ?? '').toLowerCase() === 'chunked') {
      const chunks: Buffer[] = [];
      let at = start;
      for (;;) {
        const lineEnd = this.#buffer.indexOf('\r\n', at);
        if (lineEnd < 0) return undefined;
        const size = Number.parseInt(this.#buffer.subarray(at, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
        if (!Number.isFinite(size)) throw new Error('malformed chunk size');
        if (size === 0) {
          // The last chunk: trailers (if any), then an empty line.
          const trailerEnd = this.#buffer.indexOf('\r\n\r\n', lineEnd);
          if (trailerEnd < 0) return undefined;
          end = trailerEnd + 4;
          break;
        }
        if (this.#buffer.length < lineEnd + 2 + size + 2) return undefined;
        chunks.push(this.#buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(chunks);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (this.#buffer.length < start + length) return undefined;
      body = Buffer.from(this.#buffer.subarray(start, start + length));
      end = start + length;
    } else {
      // Delimited by the close.
      if (!this.#ended) return undefined;
      body = Buffer.from(this.#buffer.subarray(start));
      end = this.#buffer.length;
    }
    this.#buffer = Buffer.from(this.#buffer.subarray(end));
    return { status, headers, body };
  }

  /** Close the connection (idempotent). */
  close(): void {
    this.#socket.destroy();
  }
}
