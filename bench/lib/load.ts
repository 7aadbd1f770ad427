/**
 * The benchmark's load generators (issue 6), all plain TCP clients of bench/target-server.ts
 * on 127.0.0.1: a bulk download, a minimal HTTP/1.1 keep-alive client (sequential latency and
 * many connections at once), and a reader that stops reading (head-of-line). Every wait is
 * bounded by a deadline; every buffer by the sizes in wire.ts.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { within } from '../../test/helpers/relay-process.js';
import { HTTP_REQUEST, HTTP_REQUEST_HEAD_MAX_BYTES, JSON_BODY_BYTES } from './wire.js';

/** Open a TCP connection to 127.0.0.1:`port` (Nagle off: requests are small). */
export function openSocket(port: number, timeoutMs = 15_000): Promise<Socket> {
  return within(
    timeoutMs,
    `a connection to 127.0.0.1:${port}`,
    new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    }),
  );
}

export interface DownloadResult {
  /** From sending the request to the last byte, in seconds. */
  readonly seconds: number;
  /** From sending the request to the first byte, in seconds. */
  readonly firstByteSeconds: number;
}

/** Download `bytes` bytes from the source server on `port`; rejects on a short or failed transfer. */
export async function download(port: number, bytes: number, timeoutMs: number): Promise<DownloadResult> {
  const socket = await openSocket(port);
  const transfer = new Promise<DownloadResult>((resolve, reject) => {
    let received = 0;
    let firstByte = 0n;
    const started = process.hrtime.bigint();
    socket.on('data', (chunk: Buffer) => {
      if (received === 0) firstByte = process.hrtime.bigint();
      received += chunk.length;
      if (received === bytes) {
        const now = process.hrtime.bigint();
        resolve({ seconds: Number(now - started) / 1e9, firstByteSeconds: Number(firstByte - started) / 1e9 });
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`download closed after ${received} of ${bytes} bytes`)));
    socket.write(`${bytes}\n`);
  });
  try {
    return await within(timeoutMs, `${bytes} bytes from 127.0.0.1:${port}`, transfer);
  } finally {
    socket.destroy();
  }
}

/** Several downloads at once; aggregate MB/s (10^6 bytes per second) over the slowest one. */
export async function parallelDownloads(port: number, streams: number, bytesEach: number, timeoutMs: number): Promise<number> {
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: streams }, () => download(port, bytesEach, timeoutMs)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return (streams * bytesEach) / seconds / 1e6;
}

/**
 * A download whose reader stops after the first chunk: the bytes queue up in every buffer on
 * the way (kernel, tunnel) until flow control stops the sender. `close()` ends it.
 */
export async function stalledReader(port: number, bytes: number): Promise<{ close(): void }> {
  const socket = await openSocket(port);
  await within(
    15_000,
    'the first byte of the stalled stream',
    new Promise<void>((resolve, reject) => {
      socket.once('data', () => {
        socket.pause();
        resolve();
      });
      socket.once('error', reject);
      socket.write(`${bytes}\n`);
    }),
  );
  socket.on('error', () => undefined); // reset when the benchmark ends it; nothing to report
  return { close: () => socket.destroy() };
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d{1,9})\r\n/i;

/**
 * One keep-alive HTTP/1.1 connection with at most one request in flight. Answers are parsed by
 * Content-Length; anything unexpected (a bad head, a body of the wrong size) fails the request.
 */
export class KeepAliveClient {
  readonly #socket: Socket;
  #pending: Buffer = Buffer.alloc(0);
  #waiter: { resolve: () => void; reject: (err: Error) => void } | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('the HTTP connection closed')));
  }

  static async open(port: number): Promise<KeepAliveClient> {
    return new KeepAliveClient(await openSocket(port));
  }

  /** Send the request and resolve once the whole answer arrived. */
  request(): Promise<void> {
    if (this.#waiter !== undefined) return Promise.reject(new Error('one request at a time'));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#socket.write(HTTP_REQUEST);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const headEnd = this.#pending.indexOf(HEAD_END);
    if (headEnd < 0) {
      if (this.#pending.length > HTTP_REQUEST_HEAD_MAX_BYTES) this.#fail(new Error('answer head too large'));
      return;
    }
    const head = this.#pending.toString('latin1', 0, headEnd + 2);
    const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? NaN);
    if (!head.startsWith('HTTP/1.1 200 ') || length !== JSON_BODY_BYTES) {
      this.#fail(new Error(`unexpected answer: ${head.slice(0, 80)}`));
      return;
    }
    const total = headEnd + HEAD_END.length + length;
    if (this.#pending.length < total) return;
    if (this.#pending.length > total) {
      this.#fail(new Error('more bytes than one answer'));
      return;
    }
    this.#pending = Buffer.alloc(0);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  #fail(err: Error): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(err);
    this.#socket.destroy();
  }
}

/** `count` sequential requests on one connection after `warmup` untimed ones; microseconds each. */
export async function sequentialLatencies(port: number, count: number, warmup: number, timeoutMs: number): Promise<number[]> {
  const client = await KeepAliveClient.open(port);
  try {
    return await within(
      timeoutMs,
      `${count} sequential requests`,
      (async () => {
        for (let i = 0; i < warmup; i++) await client.request();
        const samples = new Array<number>(count);
        for (let i = 0; i < count; i++) {
          const started = process.hrtime.bigint();
          await client.request();
          samples[i] = Number(process.hrtime.bigint() - started) / 1e3;
        }
        return samples;
      })(),
    );
  } finally {
    client.close();
  }
}

/** `connections` keep-alive connections, each sending `perConnection` sequential requests; requests per second. */
export async function concurrentRequests(port: number, connections: number, perConnection: number, timeoutMs: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: connections }, () => KeepAliveClient.open(port)));
  try {
    return await within(
      timeoutMs,
      `${connections} x ${perConnection} requests`,
      (async () => {
        // One untimed request per connection: a tunnel opens its stream on the first bytes.
        await Promise.all(clients.map((client) => client.request()));
        const started = process.hrtime.bigint();
        await Promise.all(
          clients.map(async (client) => {
            for (let i = 0; i < perConnection; i++) await client.request();
          }),
        );
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        return (connections * perConnection) / seconds;
      })(),
    );
  } finally {
    for (const client of clients) client.close();
  }
}

/** The `q`-quantile (0..1) of `samples` by the nearest-rank method. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}
