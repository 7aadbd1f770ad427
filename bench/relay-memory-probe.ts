/**
 * Preloaded into the relay processes the relay and cluster benchmarks start (`node --expose-gc
 * --import build/bench/relay-memory-probe.js .../main.js relay ...`; bench/lib/relay-setups.ts):
 * on SIGUSR2, V8's memory-reducing full collection (`gc({ flavor: 'last-resort' })`: repeated
 * mark-compacts that also hand the pages V8 keeps pooled and the grown young generation back to
 * the system, what V8's memory reducer does by itself some ten seconds after a relay goes idle),
 * then one line on stderr, `kubepair-bench-memory N {"gc":true,"rss":...,"heapUsed":...}` (N
 * counts the probes), so the benchmark reads the memory of a relay that holds its sessions and
 * nothing else. Benchmark only: the relay itself has no such hook, and nothing here reads input.
 */
let probes = 0;

type GcWithOptions = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: GcWithOptions }).gc;
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  probes += 1;
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  process.stderr.write(`kubepair-bench-memory ${probes} ${JSON.stringify({ gc: gc !== undefined, rss, heapUsed, external, arrayBuffers })}\n`);
});
