/**
 * Where the timers still pending were set: a debugging aid for test/helpers/exit-guard.ts, whose
 * report can only count them (process.getActiveResourcesInfo() says "Timeout", not whose).
 * Installed only when asked for (KUBEPAIR_TEST_TRACE_TIMERS=1, see the guard's message): it
 * replaces the global setTimeout and setInterval with wrappers that remember the caller's stack
 * until the timer fires or is cleared, which costs a stack trace per timer.
 */

const STACK_FRAMES = 5;

const pending = new Map<NodeJS.Timeout, string>();

function caller(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(3, 3 + STACK_FRAMES);
  return lines.map((line) => line.trim()).join(' | ');
}

/** Start remembering where each timer is set. */
export function traceTimers(): void {
  const { setTimeout: set, setInterval: setEvery, clearTimeout: clear, clearInterval: clearEvery } = globalThis;
  const traced = (kind: string, start: typeof set) =>
    function (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): NodeJS.Timeout {
      const where = `${kind} of ${ms ?? 0} ms set at ${caller()}`;
      const timer = start(
        function (this: unknown, ...callArgs: unknown[]) {
          if (kind === 'setTimeout') pending.delete(timer);
          callback.apply(this, callArgs);
        },
        ms,
        ...args,
      );
      pending.set(timer, where);
      return timer;
    };
  // The originals' own properties too (util.promisify.custom).
  globalThis.setTimeout = Object.defineProperties(traced('setTimeout', set), Object.getOwnPropertyDescriptors(set)) as unknown as typeof set;
  globalThis.setInterval = Object.defineProperties(traced('setInterval', setEvery as unknown as typeof set), Object.getOwnPropertyDescriptors(setEvery)) as unknown as typeof setEvery;
  globalThis.clearTimeout = (timer) => {
    if (typeof timer === 'object' && timer !== null) pending.delete(timer);
    clear(timer);
  };
  globalThis.clearInterval = (timer) => {
    if (typeof timer === 'object' && timer !== null) pending.delete(timer);
    clearEvery(timer);
  };
}

/** The timers set since traceTimers() that are pending and keep the process alive, where they were set. */
export function pendingTimers(): string[] {
  return [...pending].filter(([timer]) => timer.hasRef()).map(([, where]) => where);
}
