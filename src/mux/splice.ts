/**
 * Join two byte streams both ways (a tunnel stream and a local or upstream socket): each side's
 * data is piped into the other with backpressure, half-close is carried across (one side
 * ending its writes ends the other's), and the first error or close tears both down. `done`
 * runs once, with the first error if there was one. One listener of each kind per stream.
 */
import type { Duplex } from 'node:stream';

export interface SpliceCounters {
  /** Bytes that went from `a` to `b`, and from `b` to `a`. */
  aToB: number;
  bToA: number;
}

export function splice(a: Duplex, b: Duplex, done: (error: Error | undefined, counters: SpliceCounters) => void = () => undefined): SpliceCounters {
  const counters: SpliceCounters = { aToB: 0, bToA: 0 };
  let finished = false;
  const finish = (error?: Error): void => {
    if (finished) return;
    finished = true;
    a.destroy();
    b.destroy();
    done(error, counters);
  };
  a.on('data', (chunk: Buffer) => (counters.aToB += chunk.length));
  b.on('data', (chunk: Buffer) => (counters.bToA += chunk.length));
  a.pipe(b);
  b.pipe(a);
  a.once('error', finish);
  b.once('error', finish);
  // Premature closes of either side end the pair; a clean end on both sides closes both.
  a.once('close', () => finish());
  b.once('close', () => finish());
  return counters;
}
