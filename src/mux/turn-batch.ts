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

/**
 * Hold what is written to `to` from now until `release` runs or this event-loop iteration ends
 * (its check phase, setImmediate), whichever comes first; `release` may be called any number of
 * times. The agent holds a response head so that it leaves with the body's pieces that arrive
 * in the same iteration (they come from the API server a callback or two behind the head): one
 * record instead of two (docs/performance.md "kubectl, fifth look"). A head
 * whose body comes later (a watch, a slow answer) waits for the iteration's end only.
 */
export function holdWrites(to: Writable): () => void {
  to.cork();
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    clearImmediate(timer);
    to.uncork();
  };
  const timer = setImmediate(release);
  return release;
}
