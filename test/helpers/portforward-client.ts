/**
 * A hand-written port-forward client for tests that need more control than kubectl gives: the
 * raw upgrade request (SPDY/3.1, or the KEP-4006 WebSocket, with whatever headers a test wants,
 * wrong ones included), then SPDY frames both ways through the fixture's spdy.ts, header blocks
 * compressed in one zlib context per direction as kubectl's are. Everything is bounded in time;
 * callers destroy the socket when done.
 *
 * The WebSocket side is written by hand too (RFC 6455 framing: masked client frames, unmasked
 * server frames) because ws refuses `SPDY/3.1+portforward.k8s.io` as a subprotocol name.
 */
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { KubeApiServer } from '../fixtures/kube-api-server/server.js';
import type { SpdyFrame, SpdyHeaders } from '../fixtures/kube-api-server/spdy.js';
import {
  HeaderBlockDeflater,
  HeaderBlockInflater,
  SpdyFrameReader,
  decodeHeaderBlock,
  encodeDataFrame,
  encodeHeaderBlock,
  encodeSynStream,
} from '../fixtures/kube-api-server/spdy.js';

/** Most bytes of a refused upgrade's answer kept. */
const MAX_ANSWER_BYTES = 256 * 1024;

export interface UpgradeRequest {
  readonly method: string;
  /** Path and query. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Present the fixture admin's client certificate (default true). */
  readonly authenticate?: boolean;
}

export interface UpgradeAnswer {
  readonly status: number;
  /** Response headers, names lowercased. */
  readonly headers: ReadonlyMap<string, string>;
  /** The body of a refused upgrade ('' after a 101). */
  readonly body: string;
  /** The connection, open after a 101 (destroy it when done), ended otherwise. */
  readonly socket: TLSSocket;
  /** Bytes that came right after the 101's head. */
  readonly rest: Buffer;
}

/** Send one upgrade request over TLS to the fixture and read the answer's head (and body if refused). */
export function sendUpgrade(server: KubeApiServer, request: UpgradeRequest, timeoutMs: number): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const authenticate = request.authenticate ?? true;
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: server.port,
      servername: server.tlsServerName,
      ca: server.caPem,
      ALPNProtocols: ['http/1.1'],
      ...(authenticate ? { cert: server.clientCertPem, key: server.clientKeyPem } : {}),
    });
    let received = Buffer.alloc(0);
    let head: { status: number; headers: Map<string, string>; bodyStart: number } | undefined;
    const timer = setTimeout(() => finish(new Error(`no upgrade answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      if (error !== undefined) {
        socket.destroy();
        reject(error);
        return;
      }
      if (head === undefined) return;
      const rest = received.subarray(head.bodyStart);
      if (head.status === 101) socket.pause();
      resolve({ status: head.status, headers: head.headers, body: head.status === 101 ? '' : rest.toString('utf8'), socket, rest: head.status === 101 ? rest : Buffer.alloc(0) });
    };
    const onData = (chunk: Buffer): void => {
      if (received.length + chunk.length > MAX_ANSWER_BYTES) {
        finish(new Error('the upgrade answer is too long'));
        return;
      }
      received = Buffer.concat([received, chunk]);
      if (head === undefined) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = received.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
        const headers = new Map<string, string>();
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        }
        head = { status, headers, bodyStart: end + 4 };
        if (status === 101) finish();
      }
      if (head !== undefined && head.status !== 101) {
        const length = Number(head.headers.get('content-length') ?? NaN);
        if (received.length - head.bodyStart >= length) finish();
      }
    };
    const onEnd = (): void => (head === undefined ? finish(new Error('the connection closed before an answer')) : finish());
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', (err: Error) => finish(err));
    const lines = [`${request.method} ${request.target} HTTP/1.1`, 'Host: kubernetes', ...Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`)];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

/** Headers of kubectl 1.32's SPDY port-forward upgrade (captured from kubectl). */
export const SPDY_UPGRADE_HEADERS: Readonly<Record<string, string>> = {
  Connection: 'Upgrade',
  Upgrade: 'SPDY/3.1',
  'X-Stream-Protocol-Version': 'portforward.k8s.io',
  'Content-Length': '0',
};

/** Headers of kubectl 1.32's WebSocket port-forward upgrade (captured from kubectl), with a fresh key. */
export function webSocketUpgradeHeaders(protocol = 'SPDY/3.1+portforward.k8s.io'): Record<string, string> {
  return {
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Protocol': protocol,
  };
}

// ---- The WebSocket tunnel, client side --------------------------------------------------------

export interface WebSocketTunnel {
  /** The byte stream the binary messages carry (writes become one binary message each). */
  readonly stream: Duplex;
  /** Send a text message (the tunnel forbids them). */
  sendText(text: string): void;
  /** Send one binary message of exactly these bytes. */
  sendBinary(data: Buffer): void;
  /** The server's close code once it closed (undefined before). */
  closeCode(): number | undefined;
}

function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const length = payload.length;
  const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  header[0] = 0x80 | opcode;
  if (length < 126) header[1] = 0x80 | length;
  else if (length < 65536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  const masked = Buffer.from(payload);
  for (let index = 0; index < masked.length; index++) masked[index] = (masked[index] ?? 0) ^ (mask[index % 4] ?? 0);
  return Buffer.concat([header, mask, masked]);
}

/** Speak WebSocket on a socket that just got its 101 (`rest` = bytes after the head). */
export function webSocketTunnel(socket: TLSSocket, rest: Buffer): WebSocketTunnel {
  let pending = rest;
  let code: number | undefined;
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(maskedFrame(0x2, chunk), callback);
    },
    final(callback) {
      const payload = Buffer.alloc(2);
      payload.writeUInt16BE(1000, 0);
      socket.end(maskedFrame(0x8, payload));
      callback();
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    },
  });
  const parse = (): void => {
    for (;;) {
      if (pending.length < 2) return;
      const opcode = (pending[0] ?? 0) & 0x0f;
      let length = (pending[1] ?? 0) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (pending.length < 4) return;
        length = pending.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (pending.length < 10) return;
        length = Number(pending.readBigUInt64BE(2));
        offset = 10;
      }
      if (pending.length < offset + length) return;
      const payload = pending.subarray(offset, offset + length);
      pending = pending.subarray(offset + length);
      if (opcode === 0x2 || opcode === 0x0) {
        if (!stream.push(payload)) socket.pause();
      } else if (opcode === 0x8) {
        code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        stream.push(null);
        socket.end();
      } else if (opcode === 0x9) {
        socket.write(maskedFrame(0xa, payload));
      }
    }
  };
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    parse();
  });
  socket.on('end', () => stream.push(null));
  socket.on('error', (err: Error) => stream.destroy(err));
  socket.resume();
  parse();
  return {
    stream,
    sendText: (text) => socket.write(maskedFrame(0x1, Buffer.from(text, 'utf8'))),
    sendBinary: (data) => socket.write(maskedFrame(0x2, data)),
    closeCode: () => code,
  };
}

// ---- SPDY, client side ------------------------------------------------------------------------

/** A frame the client received, with the header block inflated for SYN_REPLY and HEADERS. */
export type ReceivedFrame = SpdyFrame & { readonly headers?: SpdyHeaders };

/** kubectl's side of SPDY port-forward over any byte stream. */
export class SpdyTestClient {
  readonly #transport: Duplex;
  readonly #reader = new SpdyFrameReader({ maxDataPayloadBytes: 16 * 1024 * 1024, maxControlPayloadBytes: 1024 * 1024 });
  readonly #inflater = new HeaderBlockInflater(1024 * 1024);
  readonly #deflater = new HeaderBlockDeflater();
  readonly #received: ReceivedFrame[] = [];
  readonly #incoming: SpdyFrame[] = [];
  readonly #waiters = new Set<() => void>();
  #pumping = false;
  #ended = false;
  #failure: Error | undefined;

  constructor(transport: Duplex, initial: Buffer = Buffer.alloc(0)) {
    this.#transport = transport;
    transport.on('data', (chunk: Buffer) => this.#onBytes(chunk));
    transport.on('end', () => this.#end());
    transport.on('close', () => this.#end());
    transport.on('error', () => this.#end());
    transport.resume();
    if (initial.length > 0) this.#onBytes(initial);
  }

  #onBytes(chunk: Buffer): void {
    try {
      for (const frame of this.#reader.push(chunk)) this.#incoming.push(frame);
    } catch (err) {
      this.#failure = err as Error;
      this.#end();
      return;
    }
    void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let frame = this.#incoming.shift(); frame !== undefined; frame = this.#incoming.shift()) {
        if (frame.kind === 'synReply' || frame.kind === 'headers' || frame.kind === 'synStream') {
          const headers = decodeHeaderBlock(await this.#inflater.inflate(frame.headerBlock), 64);
          this.#received.push({ ...frame, headers });
        } else this.#received.push(frame);
        this.#notify();
      }
    } catch (err) {
      this.#failure = err as Error;
      this.#end();
    } finally {
      this.#pumping = false;
    }
  }

  #end(): void {
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Every frame received so far, oldest first. */
  frames(): readonly ReceivedFrame[] {
    return [...this.#received];
  }

  /** Whether the server closed the connection. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Resolve with the first received frame matching `predicate`; reject after `timeoutMs` or at the end. */
  waitFor(predicate: (frame: ReceivedFrame) => boolean, timeoutMs: number, what: string): Promise<ReceivedFrame> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.#received.find(predicate);
        if (found !== undefined) done(() => resolve(found));
        else if (this.#ended) done(() => reject(new Error(`the connection ended before ${what}${this.#failure === undefined ? '' : ` (${this.#failure.message})`}; frames: ${this.#describe()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${what} within ${timeoutMs} ms; frames: ${this.#describe()}`))), timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Resolve once the server closed the connection; reject after `timeoutMs`. */
  waitForEnd(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#ended) done(resolve);
      };
      const timer = setTimeout(() => done(() => reject(new Error(`the connection did not end within ${timeoutMs} ms; frames: ${this.#describe()}`))), timeoutMs);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** The payload bytes received on one stream so far, and whether it saw FIN. */
  streamData(streamId: number): { data: Buffer; fin: boolean } {
    const frames = this.#received.filter((frame): frame is Extract<ReceivedFrame, { kind: 'data' }> => frame.kind === 'data' && frame.streamId === streamId);
    return { data: Buffer.concat(frames.map((frame) => frame.data)), fin: frames.some((frame) => frame.fin) };
  }

  #describe(): string {
    return JSON.stringify(this.#received.slice(-20).map((frame) => ('data' in frame ? { ...frame, data: `${frame.data.length} bytes` } : { ...frame, headerBlock: undefined })));
  }

  /** Open a stream with these headers (compressed in this connection's context). */
  async openStream(streamId: number, headers: ReadonlyArray<readonly [string, string]>, options: { fin?: boolean; unidirectional?: boolean } = {}): Promise<void> {
    const block = await this.#deflater.deflate(encodeHeaderBlock(headers));
    this.#transport.write(encodeSynStream(streamId, block, options));
  }

  /** Compress a header block in this connection's context (for hand-made frames). */
  compress(headers: ReadonlyArray<readonly [string, string]>): Promise<Buffer> {
    return this.#deflater.deflate(encodeHeaderBlock(headers));
  }

  sendData(streamId: number, data: Buffer, fin: boolean): void {
    this.#transport.write(encodeDataFrame(streamId, data, fin));
  }

  /** Write raw bytes (hand-made or broken frames). */
  sendRaw(bytes: Buffer): void {
    this.#transport.write(bytes);
  }

  close(): void {
    this.#inflater.close();
    this.#deflater.close();
    this.#transport.destroy();
  }
}

/** The headers kubectl sends on the two streams of one forwarded connection. */
export function forwardHeaders(type: 'error' | 'data', port: number, requestId: number): Array<readonly [string, string]> {
  return [
    ['streamtype', type],
    ['port', String(port)],
    ['requestid', String(requestId)],
  ];
}
