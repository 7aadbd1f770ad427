/**
 * Writes of a relay TLS socket without joining large pieces (issue 15, docs/performance.md
 * "Relay forwarding and memory").
 *
 * Why: while a socket's write is in flight, its Writable queues the next writes and hands them to
 * `_writev` together; Node's TLS socket joins the pieces of a writev into one new buffer before
 * encrypting (a copy of every byte). Through a TLS relay nearly every forwarded frame (payload
 * views of a read slab, frame-path.ts) went out that way.
 *
 * How: the socket's `_writev` (the Writable hook, set on the one socket) writes the queued pieces
 * in order as runs: a piece of at least RELAY_TLS_WRITE_ALONE_BYTES is written on its own (TLS
 * encrypts it where it is), and neighbouring smaller pieces together through the socket's own
 * `_writev` (a join of few bytes, and one TLS record for many small frames as before). Each run
 * starts once the previous one was handed on; the Writable's callback runs after the last, or
 * with the first error. Order and backpressure (`writableLength`, ws `bufferedAmount`) are as
 * before: the Writable still holds everything until `_writev` calls back.
 *
 * Node internals relied on: none beyond the Writable hooks `_write`/`_writev` of net.Socket.
 *
 * Untrusted input: none (only where the relay's own writes are cut).
 */
import type { Duplex } from 'node:stream';
import { RELAY_TLS_WRITE_ALONE_BYTES } from '../limits.js';

type Piece = { chunk: Buffer | string; encoding: BufferEncoding };
type Done = (err?: Error | null) => void;

interface WritableHooks {
  encrypted?: boolean;
  _write(chunk: Buffer | string, encoding: BufferEncoding, done: Done): void;
  _writev?: ((pieces: Piece[], done: Done) => void) | null;
}

/** Whether a piece is written on its own. */
function alone(piece: Piece): boolean {
  return typeof piece.chunk !== 'string' && piece.chunk.length >= RELAY_TLS_WRITE_ALONE_BYTES;
}

/** Give a TLS `socket` the writev above; false (and nothing changed) for any other socket. */
export function splitLargeTlsWrites(socket: Duplex): boolean {
  const hooks = socket as unknown as WritableHooks;
  const joined = hooks._writev;
  if (hooks.encrypted !== true || typeof joined !== 'function' || typeof hooks._write !== 'function') return false;
  hooks._writev = function writeRuns(this: WritableHooks, pieces: Piece[], done: Done): void {
    let at = 0;
    const next = (err?: Error | null): void => {
      if (err != null || at === pieces.length) {
        done(err);
        return;
      }
      const first = pieces[at] as Piece;
      if (alone(first)) {
        at++;
        this._write(first.chunk, first.encoding, next);
        return;
      }
      let end = at + 1;
      while (end < pieces.length && !alone(pieces[end] as Piece)) end++;
      const run = pieces.slice(at, end);
      at = end;
      if (run.length === 1) this._write(first.chunk, first.encoding, next);
      else joined.call(this, run, next);
    };
    next();
  };
  return true;
}
