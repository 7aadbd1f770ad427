/**
 * The hang protection of `npm test`, loaded into every test file's process by the runner
 * (`node --test --import ./build/test/helpers/exit-guard.js`: node --test passes --import on to
 * the process it starts for each file; loaded in the runner's own process too, where it does
 * nothing, since only a file's process has NODE_TEST_CONTEXT).
 *
 * A test file that leaves something open (a process, a server, an interval) keeps its process
 * alive after its tests are done, and `npm test` would wait for it for good. `--test-force-exit`
 * used to end such a process, but it ends every file's process as soon as its tests are done,
 * before all of the reporter's events have reached the runner (nodejs/node#64833, open: the
 * child's results go to the runner through a pipe, and process.exit() drops what is still
 * buffered in it; here a file of 128 tests reported 96-128 of them), so a failure's name and
 * message could be lost.
 *
 * Instead, this lets every file's process end by itself and only steps in when it does not:
 * - It registers a root-level `after` hook (the first one: it is loaded before the file), which
 *   arms a timer of GRACE_MS once the file's tests and describe-level hooks are done. The timer
 *   is unref'd: a process with nothing left open ends before it fires, as it does without this.
 * - The file's own root-level `after` hooks run after that one; while any of them (or a test that
 *   starts late, after a top-level await) is still running when the timer fires, it waits another
 *   GRACE_MS, so a slow but honest clean-up is never taken for a leak.
 * - When it fires with nothing of the file's running, the process is alive only because of what
 *   was left open: it writes to stderr what keeps it alive (process.getActiveResourcesInfo(), and
 *   each process started with managed-process.ts still running, by label and pid) and exits with
 *   LEAK_EXIT_CODE; managed-process.ts's exit handler kills those processes with SIGKILL by pid.
 *   The runner reports the file as failed and shows these stderr lines.
 *
 * The price of wrapping `after`: node:test names a failing hook by where it was registered, and
 * for an `after` hook that is now this module (exit-guard.js), not the test file; the error's own
 * message and stack are unchanged. Hooks taking node:test's `done` callback keep working (the
 * wrapper declares one when the hook does). A file's afterEach that throws makes node:test skip
 * the guard's afterEach, so a test can stay counted as running: the count is cleared when the
 * root after hooks start, and a count stuck for BUSY_LIMIT_MS no longer holds the guard back.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { runningProcesses } from './managed-process.js';
import { pendingTimers, traceTimers } from './timer-trace.js';

/** Set to 1 to have the report say where each pending timer was set (test/helpers/timer-trace.ts). */
const TRACE_TIMERS_VARIABLE = 'KUBEPAIR_TEST_TRACE_TIMERS';

/**
 * How long a test file's process may stay alive after its tests and hooks are done, in ms. Its
 * last reporter events are written to the runner's pipe within milliseconds of the last hook;
 * 5 s leaves room for a loaded machine and costs a leaking file only 5 s.
 */
export const GRACE_MS = 5000;
/**
 * The exit code of a file's process ended by this guard: not 1 (a failed test) nor any code
 * Node.js itself exits with (3 is documented as unused), so exit code 3 means "left something
 * open" and nothing else; the runner fails the file for any non-zero code.
 */
export const LEAK_EXIT_CODE = 3;

/**
 * How long a test or hook may seem to be running without anything else happening before the
 * guard stops waiting for it, in ms: npm test's --test-timeout, what the runner allows one.
 */
const BUSY_LIMIT_MS = 600_000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- node:test hands hooks a context and maybe a callback
type HookFn = (...args: any[]) => unknown;
type Hook = (fn: HookFn, options?: object) => void;

/** Describe what keeps this process alive, kill nothing yet (the exit does that). */
function leakReport(): string {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  const resources = [...counts].map(([type, count]) => `${type} x${count}`).join(', ') || 'none listed';
  const processes = runningProcesses().map(({ pid, label }) => `\n  process ${label} (pid ${pid})`).join('');
  const timers =
    process.env[TRACE_TIMERS_VARIABLE] === '1'
      ? pendingTimers().map((where) => `\n  ${where}`).join('') || '\n  (no pending timer set with the global setTimeout or setInterval)'
      : '';
  return (
    `exit-guard: this test file's process was still alive ${GRACE_MS} ms after its tests and hooks ended: ` +
    `something it opened was not closed. Active resources: ${resources} (two PipeWraps are this process's stdout and stderr).` +
    (processes === '' ? '' : ` Processes it started that are still running (killed now):${processes}`) +
    (counts.has('Timeout') && timers === '' ? ` To see where each Timeout was set, run the file again with ${TRACE_TIMERS_VARIABLE}=1.` : '') +
    (timers === '' ? '' : ` Timers pending:${timers}`) +
    `\nexit-guard: ending it with exit code ${LEAK_EXIT_CODE}\n`
  );
}

function install(): void {
  // node:test's CJS exports are its ESM named exports once synced: wrap `after`, so that the
  // file's root-level after hooks (registered after this module's) are seen while they run.
  const nodeTest = createRequire(import.meta.url)('node:test') as { after: Hook; beforeEach: Hook; afterEach: Hook };
  const register = nodeTest.after;
  /** After hooks running (exact: counted down in a finally). */
  let hooksRunning = 0;
  /** Tests running, counted by root-level beforeEach and afterEach (an afterEach of the file's that throws skips ours). */
  let testsRunning = 0;
  /** Anything of the file's began or ended: a counter, and when it last changed. */
  let activity = 0;
  let lastActivity = Date.now();
  const note = (hooks: number, tests: number): void => {
    hooksRunning += hooks;
    testsRunning += tests;
    activity++;
    lastActivity = Date.now();
  };
  const tracked = (fn: HookFn): HookFn => {
    if (typeof fn !== 'function') return fn;
    // node:test passes a `done` callback only to a function that declares one (its length).
    if (fn.length >= 2) {
      return function (this: unknown, context: unknown, done: (error?: unknown) => void): unknown {
        note(1, 0);
        let ended = false;
        const end = (): void => {
          if (!ended) note(-1, 0);
          ended = true;
        };
        try {
          return fn.call(this, context, (error?: unknown) => {
            end();
            done(error);
          });
        } catch (error) {
          end();
          throw error;
        }
      };
    }
    return async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      note(1, 0);
      try {
        return await fn.apply(this, args);
      } finally {
        note(-1, 0);
      }
    };
  };
  nodeTest.after = (fn, options) => register(tracked(fn), options);
  syncBuiltinESMExports();
  // Every test inherits root-level hooks: count the tests running, for a file whose root after
  // hooks ran while a top-level await still had tests to declare.
  nodeTest.beforeEach(() => note(0, 1));
  nodeTest.afterEach(() => note(0, -1));

  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    const seen = activity;
    timer = setTimeout(() => {
      const busy = hooksRunning > 0 || testsRunning > 0;
      // Still busy, or busy a moment ago: wait again, unless a count has been stuck for as long as
      // npm test's --test-timeout would let a test or hook run.
      if ((busy && Date.now() - lastActivity < BUSY_LIMIT_MS) || activity !== seen) {
        arm();
        return;
      }
      process.stderr.write(leakReport());
      process.exit(LEAK_EXIT_CODE);
    }, GRACE_MS).unref();
  };
  register(() => {
    // Every test so far has ended (that is when root after hooks run): a count an afterEach of the
    // file's left behind by throwing is cleared here.
    testsRunning = 0;
    arm();
  });
}

if (process.env['NODE_TEST_CONTEXT'] !== undefined) {
  if (process.env[TRACE_TIMERS_VARIABLE] === '1') traceTimers();
  install();
}
