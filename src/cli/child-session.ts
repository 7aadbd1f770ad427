/**
 * What `kubepair connect` runs once its ClientTunnel is ready (docs/design.md §1) — the front end's
 * part, which is why it lives in cli/ and not in the client role: an interactive `$SHELL` with
 * KUBECONFIG set and a visible prompt marker, one command (`-- kubectl get pods`) whose exit
 * status becomes ours, or nothing (`--no-shell`: print the export line and wait). Children get
 * an environment without secret-looking variables and are spawned from argument arrays.
 *
 * A cancelled connect runs nothing: `signal` is checked synchronously right before the spawn.
 * Should connect exit without stopping the child (a second Ctrl-C forces the exit), an exit
 * hook sends the child SIGTERM, so it does not outlive the kubeconfig it was given.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { CHILD_STOP_GRACE_MS } from '../limits.js';
import { childEnvironment } from '../process/child-env.js';

export type ChildPlan =
  | { readonly kind: 'shell'; readonly shell: string }
  | { readonly kind: 'command'; readonly command: string; readonly args: readonly string[] }
  | { readonly kind: 'wait' };

export interface ChildSessionOptions {
  readonly plan: ChildPlan;
  readonly kubeconfigPath: string;
  /** Sanitized cluster name for the prompt marker. */
  readonly clusterName: string;
  /** Where the shell's rc file may be written (the kubeconfig's RAM-backed directory). */
  readonly scratchDir: string;
  readonly env?: NodeJS.ProcessEnv;
  /** When aborted before the spawn, nothing is spawned and the reason is thrown. */
  readonly signal?: AbortSignal;
}

export interface RunningChild {
  /**
   * kubectl's cache directory for this session (KUBECACHEDIR): in the child's environment, or,
   * with `--no-shell`, for the front end to print. Removed when the child ends, and by an exit
   * hook if connect exits without waiting for that.
   */
  readonly cacheDir: string;
  /** Resolves with the exit code (128 + signal number when killed); never rejects. */
  readonly exited: Promise<number>;
  /** Ask the child to stop (SIGTERM, then SIGKILL after CHILD_STOP_GRACE_MS). */
  stop(): void;
}

function signalNumber(name: NodeJS.Signals | null): number {
  return (name !== null ? (constants.signals as Record<string, number | undefined>)[name] : undefined) ?? 1;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw toKubepairError(signal.reason, 'KP_ERR_ABORTED');
}

function watch(child: ChildProcess, cacheDir: string, cleanup: () => Promise<void>): RunningChild {
  const stopOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  process.on('exit', stopOnExit);
  const exited = new Promise<number>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(`kubepair: cannot run the command: ${err.code ?? err.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
  }).finally(() => {
    process.off('exit', stopOnExit);
    return cleanup();
  });
  return {
    cacheDir,
    exited,
    stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), CHILD_STOP_GRACE_MS).unref();
    },
  };
}

/** Start the child the plan asks for. */
export async function startChildSession(options: ChildSessionOptions): Promise<RunningChild> {
  const prompt = `[kubepair:${options.clusterName}] `;
  // kubectl's discovery and HTTP cache for this session's 127.0.0.1:PORT goes next to the
  // kubeconfig and is removed with the child, not left in ~/.kube/cache for every session.
  const cacheDir = join(options.scratchDir, `kubepair-kubectl-cache-${randomBytes(8).toString('hex')}`);
  // Last resort for an exit that does not wait for the child (a second signal, process.exit()).
  const removeCacheOnExit = (): void => rmSync(cacheDir, { recursive: true, force: true });
  process.on('exit', removeCacheOnExit);
  const removeCache = async (): Promise<void> => {
    process.off('exit', removeCacheOnExit);
    await rm(cacheDir, { recursive: true, force: true });
  };
  const env = childEnvironment(options.env ?? process.env, { KUBECONFIG: options.kubeconfigPath, KUBEPAIR_CLUSTER: options.clusterName, KUBECACHEDIR: cacheDir });
  const plan = options.plan;
  try {
    return await startPlan(plan, options, cacheDir, env, prompt, removeCache);
  } catch (err) {
    await removeCache();
    throw err;
  }
}

async function startPlan(
  plan: ChildPlan,
  options: ChildSessionOptions,
  cacheDir: string,
  env: NodeJS.ProcessEnv,
  prompt: string,
  removeCache: () => Promise<void>,
): Promise<RunningChild> {
  if (plan.kind === 'command') {
    throwIfAborted(options.signal);
    return watch(spawn(plan.command, [...plan.args], { stdio: 'inherit', env }), cacheDir, removeCache);
  }
  if (plan.kind === 'wait') {
    // Nothing runs: the user's own kubectl gets the directory from the printed export lines.
    let stop: () => void = () => undefined;
    const exited = new Promise<number>((resolve) => (stop = () => resolve(0))).finally(removeCache);
    return { cacheDir, exited, stop: () => stop() };
  }
  if (basename(plan.shell) === 'bash') {
    // bash ignores PS1 from the environment when its rc file sets one, so give it an rc file
    // that loads the user's and then marks the prompt. The cluster name is sanitized
    // ([a-zA-Z0-9._-]), so it is inert inside double quotes.
    const rcPath = join(options.scratchDir, `kubepair-bashrc-${randomBytes(8).toString('hex')}`);
    const handle = await open(rcPath, 'wx', 0o600).catch((err: unknown) => {
      throw new KubepairError('KP_ERR_KUBECONFIG_WRITE', `cannot create ${rcPath}`, { cause: err });
    });
    await handle.writeFile(`[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\nPS1="${prompt}$PS1"\n`);
    await handle.close();
    if (options.signal?.aborted === true) {
      await rm(rcPath, { force: true });
      throwIfAborted(options.signal);
    }
    const child = spawn(plan.shell, ['--rcfile', rcPath, '-i'], { stdio: 'inherit', env });
    return watch(child, cacheDir, async () => {
      await rm(rcPath, { force: true });
      await removeCache();
    });
  }
  throwIfAborted(options.signal);
  const child = spawn(plan.shell, ['-i'], { stdio: 'inherit', env: { ...env, PS1: `${prompt}${env['PS1'] ?? '$ '}`, PROMPT: `${prompt}${env['PROMPT'] ?? '%# '}` } });
  return watch(child, cacheDir, removeCache);
}
