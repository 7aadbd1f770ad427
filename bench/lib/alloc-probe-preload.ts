/**
 * Preload (`node --import`) of bench/alloc-per-request.ts: on SIGURG, the process writes one line
 * `kubepair-alloc-probe <n> <bytes>` to stderr, `bytes` being V8's total_allocated_bytes so far
 * and `n` counting the signals. SIGURG ends no process by default and kubepair does not use it.
 */
import { getHeapStatistics } from 'node:v8';

let signals = 0;
process.on('SIGURG', () => {
  signals += 1;
  // total_allocated_bytes: in V8's statistics since Node.js 22, not yet in @types/node's HeapInfo.
  const bytes = (getHeapStatistics() as unknown as { total_allocated_bytes: number }).total_allocated_bytes;
  process.stderr.write(`kubepair-alloc-probe ${signals} ${bytes}\n`);
});
