/**
 * The two ends of a hashed bulk transfer through a tunnel, for the end-to-end tests that cut,
 * kill and restart things under a transfer (durable sessions, the relay cluster):
 * - `BulkTarget`, an exposed TCP target (`share --expose`): its one connection gets `total`
 *   deterministic bytes, never more than the test allowed so far, hashed as they are made
 *   (backpressure honoured: nothing is buffered beyond the socket's own queue), and what it
 *   receives is hashed too;
 * - `HashingSink`, connect's `--forward` port: hashes and counts what arrives, and can send
 *   bytes of its own.
 * Every chunk starts with its offset, so no two chunks are alike and a repeated or lost chunk
 * changes the hash.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { AddressInfo, Server, Socket } from 'node:net';
import { connect as connectTcp, createServer } from 'node:net';
import { within } from './wait-until.js';

/** One write: a 64 KiB chunk whose first 8 bytes are its offset. */
export const BULK_CHUNK_BYTES = 64 * 1024;

export interface BulkEndOptions {
  /**
   * Half-open TCP: the far end's FIN (it finished sending) does not end what this side still
   * sends. Needed when both directions carry a transfer.
   */
  readonly halfOpen?: boolean;
}

export class BulkTarget {
  readonly server: Server;
  readonly sentHash: Hash = createHash('sha256');
  readonly receivedHash: Hash = createHash('sha256');
  received = 0;
  connections = 0;
  #base = randomBytes(BULK_CHUNK_BYTES);
  #allowed = 0;
  #sent = 0;
  #socket: Socket | undefined;

  constructor(
    readonly total: number,
    options: BulkEndOptions = {},
  ) {
    this.server = createServer({ allowHalfOpen: options.halfOpen === true }, (socket) => {
      this.connections += 1;
      if (this.#socket !== undefined) {
        socket.destroy(); // one transfer only: a second connection would be a second stream
        return;
      }
      this.#socket = socket;
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        this.receivedHash.update(chunk);
        this.received += chunk.length;
      });
      socket.on('drain', () => this.#pump());
      this.#pump();
    });
  }

  get sent(): number {
    return this.#sent;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  /** Let `bytes` more flow (capped at the transfer's size). */
  allow(bytes: number): void {
    this.#allowed = Math.min(this.total, this.#allowed + bytes);
    this.#pump();
  }

  #pump(): void {
    const socket = this.#socket;
    if (socket === undefined || socket.destroyed) return;
    while (this.#sent < this.#allowed) {
      const size = Math.min(BULK_CHUNK_BYTES, this.#allowed - this.#sent);
      const chunk = Buffer.from(this.#base.subarray(0, size));
      chunk.writeBigUInt64BE(BigInt(this.#sent), 0);
      this.sentHash.update(chunk);
      this.#sent += size;
      const more = socket.write(chunk);
      if (this.#sent === this.total) {
        socket.end();
        return;
      }
      if (!more) return;
    }
  }

  close(): Promise<void> {
    this.#socket?.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export class HashingSink {
  readonly hash: Hash = createHash('sha256');
  readonly sentHash: Hash = createHash('sha256');
  received = 0;
  ended = false;
  error: Error | undefined;
  readonly socket: Socket;

  constructor(port: number, options: BulkEndOptions = {}) {
    this.socket = connectTcp({ host: '127.0.0.1', port, allowHalfOpen: options.halfOpen === true });
    this.socket.on('data', (chunk: Buffer) => {
      this.hash.update(chunk);
      this.received += chunk.length;
    });
    this.socket.on('end', () => (this.ended = true));
    this.socket.on('error', (err) => (this.error = err));
  }

  /** Send `bytes` random bytes (hashed), waiting at most `drainMs` for each drain, then half-close. */
  async sendAndEnd(bytes: number, drainMs: number): Promise<void> {
    for (let sent = 0; sent < bytes; sent += BULK_CHUNK_BYTES) {
      const chunk = randomBytes(Math.min(BULK_CHUNK_BYTES, bytes - sent));
      this.sentHash.update(chunk);
      if (!this.socket.write(chunk)) await within(drainMs, 'the forward port to drain', new Promise((resolve) => this.socket.once('drain', resolve)));
    }
    this.socket.end();
  }
}
