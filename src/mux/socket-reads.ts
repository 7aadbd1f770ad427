/**
 * SocketReads: larger reads from a TCP socket on the tunnel's byte path (issue 15), through
 * `net`'s `onread` option. Node reads 64 KiB at a time into a fresh buffer; a bulk download from
 * a target then became MUX records, WebSocket frames and relay frames of 64 KiB. Here each read
 * takes up to SOCKET_READ_BYTES, and buffers are handled so that no byte handed on can change:
 * - a read that filled at least half the buffer hands the buffer on as it is (no copy), and the
 *   next read goes into a new one: the bytes handed on are never written again;
 * - a smaller read (a request, an answer, the tail of a transfer) is copied out into a buffer of
 *   its own size, and the read buffer is used again for the next read. So a 40-byte answer does
 *   not keep a 255 KiB buffer alive while it waits in HTTP/2, nor cost its allocation.
 * What is handed on may be kept by the reader for as long as it likes (HTTP/2 queues it, a
 * retained record is sealed from it), exactly like a chunk of a `data` event.
 *
 * The socket emits no `data` events with `onread`; `attach` names the one function that gets
 * each chunk instead. `pause()` and `resume()` on the socket stop and restart its reads as usual,
 * and its end (`end` event) is unchanged. Input: whatever the peer of the socket sends.
 */
import type { OnReadOpts } from 'node:net';
import { SOCKET_READ_BYTES } from '../limits.js';

export class SocketReads {
  /** Pass as `onread` to `net.connect` (or a `new Socket`). */
  readonly onread: OnReadOpts;
  readonly #readBytes: number;
  #buffer: Buffer;
  #deliver: ((chunk: Buffer) => void) | undefined;

  constructor(readBytes: number = SOCKET_READ_BYTES) {
    this.#readBytes = readBytes;
    this.#buffer = Buffer.allocUnsafe(readBytes);
    this.onread = {
      buffer: () => this.#buffer,
      callback: (bytes) => {
        this.#deliver?.(this.#take(bytes));
        return true;
      },
    };
  }

  /** Give every chunk read from now on to `deliver` (one receiver; a later call replaces it). */
  attach(deliver: (chunk: Buffer) => void): void {
    this.#deliver = deliver;
  }

  /** The `bytes` just read into the current buffer, as a chunk nobody will write into again. */
  #take(bytes: number): Buffer {
    if (bytes * 2 >= this.#readBytes) {
      const chunk = this.#buffer.subarray(0, bytes);
      this.#buffer = Buffer.allocUnsafe(this.#readBytes);
      return chunk;
    }
    return Buffer.from(this.#buffer.subarray(0, bytes));
  }
}
