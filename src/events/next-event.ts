/**
 * Waiting for the next event of interest, bounded: the one place that settles a promise once,
 * from whichever comes first — an event the caller watches, a deadline, or an AbortSignal — and
 * then removes every listener and timer it added. The agent waits for the relay's
 * `peer_connected` with it, the client for the agent's session description; each names only
 * the events it cares about, and none can leak a listener or settle twice.
 */

/** How a watcher ends the wait. */
export interface EventOutcome<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

export interface NextEventOptions {
  /** Ends the wait with `abortError(signal)`; checked before anything is watched. */
  readonly signal?: AbortSignal | undefined;
  readonly abortError: (signal: AbortSignal) => Error;
  /** Ends the wait with `timeoutError()` after this many milliseconds. */
  readonly timeoutMs?: number | undefined;
  readonly timeoutError?: () => Error;
}

/**
 * Resolve or reject with the first outcome. `watch` adds the caller's listeners, may settle
 * through `outcome` at any time (even synchronously), and returns the function that removes them.
 */
export function nextEvent<T>(watch: (outcome: EventOutcome<T>) => () => void, options: NextEventOptions): Promise<T> {
  const { signal } = options;
  if (signal?.aborted === true) return Promise.reject(options.abortError(signal));
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let unwatch: (() => void) | undefined = undefined;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => finish(() => reject(options.abortError(signal!)));
    function finish(settle: () => void): void {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      unwatch?.();
      settle();
    }
    const outcome: EventOutcome<T> = {
      resolve: (value) => finish(() => resolve(value)),
      reject: (error) => finish(() => reject(error)),
    };
    const remove = watch(outcome);
    if (settled) {
      remove();
      return;
    }
    unwatch = remove;
    signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      const timeoutError = options.timeoutError ?? (() => new Error(`nothing happened within ${options.timeoutMs} ms`));
      timer = setTimeout(() => finish(() => reject(timeoutError())), options.timeoutMs);
    }
  });
}
