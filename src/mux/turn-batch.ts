/**
 * Batch the writes of one event-loop turn into one: the returned function corks `to` (once per
 * turn) and uncorks it when the turn ends, so the chunks written meanwhile leave in one `writev`
 * (one record, one system call) instead of one each. Used by splice.ts and the agent's kube
 * proxy, whose sources hand over many 16 KiB pieces in one turn (docs/performance.md).
 */
import type { Writable } from 'node:stream';

export function turnBatch(to: Writable): () => void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    to.uncork();
  };
  return () => {
    if (corked) return;
    corked = true;
    to.cork();
    process.nextTick(uncork);
  };
}
