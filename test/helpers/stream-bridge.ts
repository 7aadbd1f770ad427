/**
 * A plain Duplex in front of an HTTP/2 stream, for tests that hand tunnel streams to node:http
 * servers (the agent itself reads requests with its own reader, src/agent/http1/).
 *
 * Why: on Node 20, `http.Server.emit('connection', http2Stream)` corrupts the first bytes of
 * the first response (the status line arrives as garbage of the same length) — reproduced
 * over plain TCP with no kubepair code involved; test/integration/mux/mux.test.ts keeps a
 * regression test. Writes that go through this bridge reach the HTTP/2 stream as Buffers, one
 * at a time, which avoids the bug. Backpressure and errors pass through in both directions.
 */
import { Duplex } from 'node:stream';

export function bridgeStream(inner: Duplex): Duplex {
  const outer = new Duplex({
    allowHalfOpen: true,
    write(chunk: Buffer, _encoding, callback) {
      inner.write(chunk, (err?: Error | null) => callback(err ?? null));
    },
    final(callback) {
      inner.end(() => callback());
    },
    read() {
      inner.resume();
    },
    destroy(err, callback) {
      if (!inner.destroyed) inner.destroy(err ?? undefined);
      callback(err);
    },
  });
  inner.on('data', (chunk: Buffer) => {
    if (!outer.push(chunk)) inner.pause();
  });
  inner.on('end', () => outer.push(null));
  inner.on('error', (err) => outer.destroy(err));
  inner.on('close', () => {
    if (!outer.destroyed && !outer.writableFinished) outer.destroy();
  });
  return outer;
}
