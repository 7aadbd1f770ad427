/**
 * Run the compiled kubepair CLI as a real process (argument array, bounded time): by default
 * this Node.js with build/src/cli/main.js; `program` runs another kubepair executable instead
 * (an installed package's `bin/kubepair`, test/e2e/installed-package).
 */
import { spawn } from 'node:child_process';
import { repoPath } from './paths.js';

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the run was killed (SIGKILL) because it outlived `timeoutMs`. */
  readonly timedOut: boolean;
}

/** The compiled entry point the tests run (built by `npm test`'s pretest step). */
export const CLI_PATH = repoPath('build/src/cli/main.js');

/** How long the output may take to close after SIGKILL (a grandchild could hold it open), in ms. */
const CLOSE_AFTER_SIGKILL_MS = 10_000;

export function runKubepair(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; program?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, commandArgs] = options.program === undefined ? [process.execPath, [CLI_PATH, ...args]] : [options.program, [...args]];
    const child = spawn(command, commandArgs, {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const timeoutMs = options.timeoutMs ?? 30_000;
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let closeTimer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.on('error', () => undefined); // the CLI may exit before reading its input
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      closeTimer = setTimeout(() => {
        reject(new Error(`kubepair ${args.join(' ')}: output still open ${CLOSE_AFTER_SIGKILL_MS} ms after SIGKILL (killed after ${timeoutMs} ms)`));
      }, CLOSE_AFTER_SIGKILL_MS);
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      clearTimeout(closeTimer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(closeTimer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    child.stdin.end(options.input ?? '');
  });
}
