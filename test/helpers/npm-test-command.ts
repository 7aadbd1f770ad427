/**
 * `npm test`'s own node --test command line (package.json's "test" script, one source), for tests
 * that run a fixture test file the way the suite runs its files: the harness's promises (nothing
 * hangs, nothing is lost from the report) are only worth checking under the flags really used.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { repoPath } from './paths.js';

/**
 * The node options of the "test" script (those before the file list), `--test-concurrency`
 * aside, with the path of a `--import` made absolute (npm runs the script in the repository root).
 */
export function npmTestNodeOptions(): string[] {
  const scripts = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const words = (scripts['test'] ?? '').split(/\s+/);
  if (words[0] !== 'node' || words[1] !== '--test') throw new Error(`package.json's test script does not start with "node --test": ${scripts['test']}`);
  const options: string[] = [];
  for (let i = 2; i < words.length && words[i]!.startsWith('--'); i++) {
    const word = words[i]!;
    if (word.startsWith('--test-concurrency')) continue;
    if (word === '--import' && i + 1 < words.length) {
      const module = words[++i]!;
      options.push(word, isAbsolute(module) ? module : repoPath(module));
    } else {
      options.push(word);
    }
  }
  return options;
}

export interface NodeRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** stdout and stderr, interleaved as they came. */
  readonly output: string;
  readonly durationMs: number;
}

/**
 * Run `node --test <options> <files>` (bounded: SIGKILL after `boundMs`, then the result says
 * signal SIGKILL). NODE_TEST_CONTEXT, which the runner sets around the calling test file, is left
 * out: with it the inner runner would report to this file's runner instead of running as npm test.
 */
export function runNodeTest(options: readonly string[], files: readonly string[], env: NodeJS.ProcessEnv, boundMs: number): Promise<NodeRun> {
  const { NODE_TEST_CONTEXT: _context, ...rest } = env;
  const started = Date.now();
  const child = spawn(process.execPath, ['--test', ...options, ...files], { env: rest, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, durationMs: Date.now() - started });
    });
  });
}
