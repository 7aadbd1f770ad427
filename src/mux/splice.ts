/**
 * Join two byte streams both ways (a tunnel stream and a local or upstream socket): each side's
 * data is written into the other with backpressure, half-close is carried across (one side
 * ending its writes ends the other's), and the first error or premature close tears both
 * down; after a clean end both ways each side closes once it has written all it holds. `done`
 * runs once, with the first error if there was one. One listener of each kind per stream.
 *
 * Writes are batched per event-loop turn: the chunks one side delivers in one turn (HTTP/2
 * hands over a MUX record as 16 KiB DATA payloads, one after the other) are corked and leave
 * in one `writev` when the turn ends, instead of one system call per chunk. A plain TCP socket
 * hands over one chunk per read, each in a turn of its own (Node drains the tick queue after
 * every read callback), so its chunks are written at once, uncorked, unless more of them wait
 * in its buffer (a socket resumed after a pause): a cork and a tick per chunk batch nothing
 * (docs/performance.md "Added latency, sixth pass"). Backpressure: a
 * side is paused once the other's write buffer holds SPLICE_WRITE_BUFFER_BYTES (or its own
 * high-water mark, if larger) and resumed at its `drain`. Chunks are handed on as they came,
 * never copied or kept here.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SPLICE_WRITE_BUFFER_BYTES } from '../limits.js';
import type { SocketReads } from './socket-reads.js';
import { turnBatch } from './turn-batch.js';

export interface SpliceCounters {
  /** Bytes that went from `a` to `b`, and from `b` to `a`. */
  aToB: number;
  bToA: number;
}

export interface SpliceOptions {
  /** Bytes waiting in a side's write buffer before the other side is paused (default SPLICE_WRITE_BUFFER_BYTES). */
  readonly writeBufferBytes?: number;
  /** A side that is a socket made with SocketReads' `onread`: its chunks come from there, not `data` events. */
  readonly reads?: { readonly a?: SocketReads; readonly b?: SocketReads };
}

export function splice(
  a: Duplex,
  b: Duplex,
  done: (error: Error | undefined, counters: SpliceCounters) => void = () => undefined,
  options: SpliceOptions = {},
): SpliceCounters {
  const counters: SpliceCounters = { aToB: 0, bToA: 0 };
  let finished = false;
  const finish = (error?: Error): void => {
    if (finished) return;
    finished = true;
    a.destroy();
    b.destroy();
    done(error, counters);
  };
  const bound = options.writeBufferBytes ?? SPLICE_WRITE_BUFFER_BYTES;
  carry(a, b, bound, options.reads?.a, (bytes) => (counters.aToB += bytes));
  carry(b, a, bound, options.reads?.b, (bytes) => (counters.bToA += bytes));
  a.once('error', finish);
  b.once('error', finish);
  // The pair is done when the second side closes, or at once when one closes prematurely.
  a.once('close', () => {
    if (!finishedBothWays(a, b) || b.closed) finish();
  });
  b.once('close', () => {
    if (!finishedBothWays(b, a) || a.closed) finish();
  });
  return counters;
}

/**
 * A side that closed after everything crossed both ways: it read to its end and finished its
 * writes, and the other side's reads ended too. The other side was then ended (its end carried
 * across) and closes by itself once it has written what it still holds; its own close (or
 * error) then finishes the pair. Destroying it at the first close dropped that tail: an HTTP/2
 * stream then ends with RST_STREAM NO_ERROR, which its peer takes for a clean end, so the
 * transfer arrived truncated and nobody was told. Any other close (a reset, a destroy) ends
 * the pair at once.
 */
function finishedBothWays(side: Duplex, other: Duplex): boolean {
  return side.readableEnded && side.writableFinished && other.readableEnded;
}

/**
 * Write everything `from` delivers into `to`, corked until the end of the turn. The pause
 * bound is at least `to`'s high-water mark, so whenever `from` is paused the write that crossed
 * it returned false and `to` owes a `drain`, which resumes `from`.
 */
function carry(from: Duplex, to: Duplex, bound: number, reads: SocketReads | undefined, count: (bytes: number) => void): void {
  const pauseAt = Math.max(bound, to.writableHighWaterMark);
  const batch = turnBatch(to);
  const onePerTurn = reads !== undefined || isPlainSocket(from);
  const onChunk = (chunk: Buffer): void => {
    count(chunk.length);
    if (to.destroyed || to.writableEnded) return;
    // A lone chunk goes out at once; one with more behind it (or after it, in a batch already
    // corked) waits for the end of the turn with the rest.
    if (!onePerTurn || from.readableLength > 0 || to.writableCorked > 0) batch();
    to.write(chunk);
    if (to.writableLength >= pauseAt) from.pause();
  };
  if (reads === undefined) from.on('data', onChunk);
  else reads.attach(onChunk);
  to.on('drain', () => from.resume());
  from.once('end', () => {
    if (!to.destroyed && !to.writableEnded) to.end();
  });
  // A 'data' listener alone does not start a stream its owner paused (the local listener
  // pauses its socket while the tunnel stream opens): start it, as pipe() does.
  from.resume();
}

/**
 * A TCP (or Unix) socket without TLS: each read reaches JavaScript through a callback of its own,
 * after which Node runs the tick queue, so a chunk it emits is alone in its turn unless it came
 * out of the socket's buffer with others (then `readableLength` counts those still to come). A
 * TLS socket may emit several records' plaintext in one callback, so it is batched as any stream.
 */
function isPlainSocket(stream: Duplex): boolean {
  return stream instanceof Socket && (stream as Socket & { encrypted?: boolean }).encrypted !== true;
}
