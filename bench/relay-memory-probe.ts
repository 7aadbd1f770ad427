/**
 * Preloaded into the relay processes the cluster benchmark starts (`node --expose-gc --import
 * build/bench/relay-memory-probe.js .../main.js relay ...`; bench/lib/relay-setups.ts): on SIGUSR2,
 * two full garbage collections, then one line on stderr,
 * `kubepair-bench-memory N {"gc":true,"rss":...,"heapUsed":...}` (N counts the probes), so the
 * benchmark reads the memory of a relay with no garbage left in its heap. Benchmark only: the
 * relay itself has no such hook, and nothing here reads input.
 */
let probes = 0;

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  probes += 1;
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  process.stderr.write(`kubepair-bench-memory ${probes} ${JSON.stringify({ gc: gc !== undefined, rss, heapUsed, external, arrayBuffers })}\n`);
});
