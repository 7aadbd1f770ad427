/**
 * Running the real `kubectl` binary from tests: always with an argument array (no shell),
 * a minimal environment (PATH, HOME in a temporary directory so the discovery cache is private,
 * KUBECONFIG), a hard timeout after which the process is killed, and bounded output.
 *
 * `runKubectl` waits for exit; `startKubectl` is for long-running commands (`logs -f`,
 * `get --watch`): it collects stdout lines and resolves `waitForLines` when enough arrived or
 * rejects when the time is up, then the test kills it. `startKubectlInTerminal` runs kubectl
 * on a pseudo-terminal (util-linux `script`), for `exec -it` and `attach -it`: the test types
 * into it and reads what the terminal shows.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { within } from './wait-until.js';

/** The kubectl the tests use. */
export const KUBECTL = process.env['KUBEPAIR_TEST_KUBECTL'] ?? 'kubectl';
/** Default bound for one kubectl call. */
export const KUBECTL_TIMEOUT_MS = 20_000;
/** How long the output may stay open after SIGKILL before a wait gives up, in ms. */
const CLOSE_AFTER_SIGKILL_MS = 10_000;
/** Most output bytes kept per stream. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface KubectlResult {
  /** Exit code, or null when killed by a signal (e.g. the timeout). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface KubectlOptions {
  readonly kubeconfig: string;
  /** Private HOME (kubectl writes its discovery cache there). */
  readonly home: string;
  readonly timeoutMs?: number;
  /** Bytes written to stdin, which is then closed; stdin is closed at once when absent. */
  readonly stdin?: string | Buffer;
  readonly env?: Readonly<Record<string, string>>;
}

function environment(options: KubectlOptions): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: options.home, KUBECONFIG: options.kubeconfig, ...options.env };
}

function collect(stream: NodeJS.ReadableStream, sink: Buffer[], counter: { bytes: number }): void {
  stream.on('data', (chunk: Buffer) => {
    if (counter.bytes + chunk.length > MAX_OUTPUT_BYTES) return;
    counter.bytes += chunk.length;
    sink.push(chunk);
  });
}

/** Run kubectl to completion (or until the timeout kills it). */
export function runKubectl(args: readonly string[], options: KubectlOptions): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, [...args], { env: environment(options), stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    collect(child.stdout, stdout, { bytes: 0 });
    collect(child.stderr, stderr, { bytes: 0 });
    let timedOut = false;
    let closeTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      // 'close' waits for the output to close, which a process kubectl started could hold open.
      closeTimer = setTimeout(
        () => reject(new Error(`kubectl ${args.join(' ')}: killed after ${options.timeoutMs ?? KUBECTL_TIMEOUT_MS} ms, output still open ${CLOSE_AFTER_SIGKILL_MS} ms later`)),
        CLOSE_AFTER_SIGKILL_MS,
      );
    }, options.timeoutMs ?? KUBECTL_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      clearTimeout(closeTimer);
      reject(err);
    });
    child.stdin.on('error', () => undefined); // kubectl may exit before reading all of stdin
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(closeTimer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
      });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

/** A kubectl that keeps running: its stdout lines so far, and a way to wait for more. */
export interface RunningKubectl {
  readonly child: ChildProcessWithoutNullStreams;
  lines(): string[];
  stderr(): string;
  /** Resolves with the lines once `predicate` holds for them; rejects after `timeoutMs` or on exit. */
  waitFor(predicate: (lines: readonly string[]) => boolean, timeoutMs: number): Promise<string[]>;
  /** Resolves with its exit code (null when a signal ended it) once it exited; rejects after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<number | null>;
  /** Kill it (SIGKILL) and wait for the exit. */
  stop(): Promise<void>;
}

/** Start a long-running kubectl (logs -f, get --watch). */
export function startKubectl(args: readonly string[], options: KubectlOptions): RunningKubectl {
  const child = spawn(KUBECTL, [...args], { env: environment(options), stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined); // kubectl may exit before reading all of stdin
  child.stdin.end(options.stdin ?? '');
  let startError = '';
  // A kubectl that cannot be started emits 'error' (then 'close'): say so instead of crashing the test.
  child.on('error', (err) => (startError = `could not start ${KUBECTL}: ${err.message}\n`));
  let pending = '';
  const lines: string[] = [];
  const stderr: Buffer[] = [];
  collect(child.stderr, stderr, { bytes: 0 });
  const waiters = new Set<() => void>();
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let done = false;
  child.on('close', () => {
    done = true;
    for (const wake of waiters) wake();
  });
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) if (lines.length < 100_000) lines.push(line);
    for (const wake of waiters) wake();
  });
  return {
    child,
    lines: () => [...lines],
    stderr: () => Buffer.concat(stderr).toString('utf8'),
    waitFor(predicate, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (predicate(lines)) finish(() => resolve([...lines]));
          else if (done) finish(() => reject(new Error(`${startError}kubectl exited before the expected output; stdout: ${JSON.stringify(lines)} stderr: ${Buffer.concat(stderr).toString('utf8')}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out after ${timeoutMs} ms; stdout so far: ${JSON.stringify(lines)}`))),
          timeoutMs,
        );
        const finish = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async waitForExit(timeoutMs) {
      await within(timeoutMs, `kubectl ${args.join(' ')} (pid ${child.pid}) to exit`, exited);
      return child.exitCode;
    },
    async stop() {
      if (!done) child.kill('SIGKILL');
      await within(CLOSE_AFTER_SIGKILL_MS, `kubectl ${args.join(' ')} (pid ${child.pid}) to exit after SIGKILL`, exited);
    },
  };
}

/** A temporary directory for one test file: HOME for kubectl and a place for kubeconfigs. */
export async function kubectlSandbox(prefix: string): Promise<{
  readonly dir: string;
  writeKubeconfig(name: string, text: string): Promise<string>;
  remove(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return {
    dir,
    async writeKubeconfig(name, text) {
      const path = join(dir, name);
      await writeFile(path, text, { mode: 0o600, flag: 'wx' });
      return path;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Quote one argument for `sh -c` (single quotes; embedded ones closed, escaped, reopened). */
function shellQuote(argument: string): string {
  return `'${argument.replace(/'/g, "'\\''")}'`;
}

/** A kubectl on a pseudo-terminal: what the terminal showed, keys to type, its exit. */
export interface TerminalKubectl {
  /** Everything the terminal showed so far (kubectl's stdout and stderr, and the terminal's echo). */
  output(): string;
  /** Resolves with the output once `predicate` holds; rejects after `timeoutMs` or on exit. */
  waitForOutput(predicate: (output: string) => boolean, timeoutMs: number): Promise<string>;
  /** Type bytes into the terminal (raw: `\r` is Enter, `\x04` Ctrl-D, `\x03` Ctrl-C). */
  type(keys: string): void;
  /** Wait for kubectl to exit; its exit code, or null when it did not within `timeoutMs` (then it is killed). */
  waitForExit(timeoutMs: number): Promise<number | null>;
  /** Kill it (SIGKILL) and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Start kubectl on a pseudo-terminal, as a person at a terminal would run `kubectl exec -it`
 * or `kubectl attach -it`: util-linux `script -qfec COMMAND /dev/null` gives it a pty (so
 * kubectl's stdin is a terminal and it switches it to raw mode) and relays our stdin to it.
 * The command line is built from quoted arguments for script's `sh -c`; nothing else is
 * interpreted. Output is bounded like runKubectl's.
 */
export function startKubectlInTerminal(args: readonly string[], options: KubectlOptions): TerminalKubectl {
  const command = [KUBECTL, ...args].map(shellQuote).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...environment(options), SHELL: '/bin/sh' }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined);
  const output: Buffer[] = [];
  const counter = { bytes: 0 };
  collect(child.stdout, output, counter);
  collect(child.stderr, output, counter);
  let code: number | null = null;
  let done = false;
  const waiters = new Set<() => void>();
  const exited = new Promise<void>((resolve) =>
    child.on('close', (exitCode) => {
      code = exitCode;
      done = true;
      for (const wake of waiters) wake();
      resolve();
    }),
  );
  child.stdout.on('data', () => {
    for (const wake of waiters) wake();
  });
  const text = (): string => Buffer.concat(output).toString('utf8');
  return {
    output: text,
    waitForOutput(predicate, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (predicate(text())) finish(() => resolve(text()));
          else if (done) finish(() => reject(new Error(`kubectl exited before the expected output; terminal: ${JSON.stringify(text())}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms; terminal: ${JSON.stringify(text())}`))), timeoutMs);
        const finish = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    type(keys) {
      child.stdin.write(keys);
    },
    async waitForExit(timeoutMs) {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
      return code;
    },
    async stop() {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
  };
}
