/**
 * A child process under test control: spawned from an argument array, output collected (bounded),
 * every wait bounded in time with a message that names the process, and always stopped by its pid.
 *
 * Three ways a test used to hang for good, closed here:
 * - A process that cannot be started (ENOENT, EAGAIN under load) emits 'error' and never 'exit':
 *   it counts as exited at once (code null), with the reason in `startError` and stderr(), so
 *   `waitFor`, `exited` and `stop` settle instead of waiting for an event that never comes.
 * - `stop` is bounded even after SIGKILL, and `exitedWithin` bounds a wait for a process that
 *   should end by itself (killing it when the time is up).
 * - A process the test did not stop (a failed `before` hook, a forgotten `stop`) would keep the
 *   test file's event loop alive forever. Every process started here is tracked until it exits:
 *   when the test file's process ends (test/helpers/exit-guard.ts, loaded by npm test into every
 *   test file's process, ends it when it is still alive a few seconds after its tests and hooks
 *   are done, listing runningProcesses(); the runner's --test-timeout sends SIGTERM) the ones
 *   still running are killed with SIGKILL by pid and named on stderr; at a normal end the exit
 *   code becomes 1 (an exit code already saying failure, such as the guard's, is kept).
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { within } from './wait-until.js';

const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;
/** How long `stop` waits for the exit after SIGKILL before it gives up with an error. */
const EXIT_AFTER_SIGKILL_MS = 10_000;

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** The command and its arguments, shortened, for messages. */
  readonly label: string;
  /** Why the process could not be started (spawn 'error'), if it could not. */
  startError(): NodeJS.ErrnoException | undefined;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` on stdout or stderr; rejects after `timeoutMs` or on exit. */
  waitFor(pattern: RegExp, timeoutMs: number, stream?: 'stdout' | 'stderr' | 'any'): Promise<RegExpExecArray>;
  /** Resolves with the exit code (null when killed by a signal or never started). Prefer `exitedWithin`. */
  readonly exited: Promise<ProcessExit>;
  /** The exit of a process expected to end by itself; after `timeoutMs` it is killed and this rejects, naming it. */
  exitedWithin(timeoutMs: number): Promise<ProcessExit>;
  /** Send a signal and wait for exit, with SIGKILL after `graceMs`; rejects if even SIGKILL is not followed by an exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ProcessExit>;
}

/** Processes started here that have not exited yet, by pid. */
const running = new Map<number, { readonly label: string; kill(): void }>();
let reaperInstalled = false;

/** Labels and pids of the processes started by this module that are still running. */
export function runningProcesses(): Array<{ pid: number; label: string }> {
  return [...running].map(([pid, entry]) => ({ pid, label: entry.label }));
}

function killLeftovers(reason: string): void {
  for (const [pid, entry] of running) {
    process.stderr.write(`managed-process: ${entry.label} (pid ${pid}) was still running ${reason}; killed with SIGKILL\n`);
    entry.kill();
  }
  running.clear();
}

/** Kill leftovers when this process ends, whichever way it ends short of SIGKILL. */
function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  process.on('exit', () => {
    if (running.size === 0) return;
    killLeftovers('when the process that started it ended (nothing stopped it)');
    // A leak is a failure, but an exit code already saying so is kept.
    if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = 1;
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killLeftovers(`when the process that started it got ${signal}`);
      // Without other listeners, the signal's default action ends this process as it would have.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function labelOf(command: string, args: readonly string[]): string {
  const text = [command, ...args].join(' ');
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

export function startProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv, stdin?: string): ManagedProcess {
  installReaper();
  const label = labelOf(command, args);
  const child = spawn(command, [...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let spawnError: NodeJS.ErrnoException | undefined;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    if (out.length < MAX_OUTPUT_CHARS) out += chunk;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    if (err.length < MAX_OUTPUT_CHARS) err += chunk;
    notify();
  });
  // A process that exits before reading its input must not crash the test with EPIPE.
  child.stdin.on('error', () => undefined);
  if (stdin !== undefined) child.stdin.end(stdin);
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      // Let the last output arrive before anyone reads it.
      setImmediate(() => {
        notify();
        resolve({ code, signal });
      });
    });
    child.on('error', (error) => {
      // 'error' also reports a failed kill(); only a failed spawn (no pid) means no 'exit' will come.
      if (child.pid !== undefined) return;
      spawnError = error;
      err += `could not start ${command}: ${error.message}\n`;
      resolve({ code: null, signal: null });
    });
  });
  if (child.pid !== undefined) {
    const pid = child.pid;
    running.set(pid, { label, kill: () => child.kill('SIGKILL') });
    void exited.then(() => running.delete(pid));
  }
  let done = false;
  void exited.then(() => {
    done = true;
    notify();
  });
  const tail = (): string => `\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`;
  const killAndWait = async (): Promise<void> => {
    child.kill('SIGKILL');
    await within(EXIT_AFTER_SIGKILL_MS, `${label} (pid ${child.pid}) to exit after SIGKILL`, exited);
  };
  return {
    child,
    label,
    startError: () => spawnError,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs, stream = 'any') {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const text = stream === 'stdout' ? out : stream === 'stderr' ? err : `${out}\n${err}`;
          const match = pattern.exec(text);
          if (match !== null) {
            cleanup();
            resolve(match);
          } else if (done) {
            cleanup();
            const why = spawnError !== undefined ? `could not be started (${spawnError.message})` : 'exited';
            reject(new Error(`${label} ${why} before ${pattern} appeared${tail()}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} from ${label}${tail()}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async exitedWithin(timeoutMs) {
      try {
        return await within(timeoutMs, `${label} (pid ${child.pid}) to exit`, exited);
      } catch (error) {
        await killAndWait();
        throw new Error(`${(error as Error).message} (killed it with SIGKILL)${tail()}`, { cause: error });
      }
    },
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (done) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await within(graceMs + EXIT_AFTER_SIGKILL_MS, `${label} (pid ${child.pid}) to exit after ${signal}, then SIGKILL`, exited);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
