/**
 * What `kubepair connect` runs once its ClientTunnel is ready (docs/design.md §1) — the front end's
 * part, which is why it lives in cli/ and not in the client role: an interactive `$SHELL` with
 * KUBECONFIG set and a visible prompt marker, one command (`-- kubectl get pods`) whose exit
 * status becomes ours, or nothing (`--no-shell`: print the export line and wait). Children get
 * an environment without secret-looking variables and are spawned from argument arrays. How each
 * shell is started so that its prompts keep the marker is prompt-marker.ts's job; its startup
 * files live in a private directory that is removed when the shell ends, whatever the path.
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
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { CHILD_STOP_GRACE_MS } from '../limits.js';
import { childEnvironment } from '../process/child-env.js';
import { sanitizeClusterName } from '../session/cluster-name.js';
import { shellStartup } from './prompt-marker.js';

export type ChildPlan =
  | { readonly kind: 'shell'; readonly shell: string }
  | { readonly kind: 'command'; readonly command: string; readonly args: readonly string[] }
  | { readonly kind: 'wait' };

export interface ChildSessionOptions {
  readonly plan: ChildPlan;
  readonly kubeconfigPath: string;
  /** Cluster name for the prompt marker and KUBEPAIR_CLUSTER (sanitized again here: untrusted). */
  readonly clusterName: string;
  /** Where the shell's startup files may be written (the kubeconfig's RAM-backed directory). */
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
  const env = childEnvironment(options.env ?? process.env, { KUBECONFIG: options.kubeconfigPath, KUBEPAIR_CLUSTER: sanitizeClusterName(options.clusterName), KUBECACHEDIR: cacheDir });
  const plan = options.plan;
  if (plan.kind === 'command') {
    try {
      throwIfAborted(options.signal);
    } catch (err) {
      await removeCache();
      throw err;
    }
    return watch(spawn(plan.command, [...plan.args], { stdio: 'inherit', env }), cacheDir, removeCache);
  }
  if (plan.kind === 'wait') {
    // Nothing runs: the user's own kubectl gets the directory from the printed export lines.
    let stop: () => void = () => undefined;
    const exited = new Promise<number>((resolve) => (stop = () => resolve(0))).finally(removeCache);
    return { cacheDir, exited, stop: () => stop() };
  }
  // The shell's startup files go in a private directory of their own (mkdtemp: 0700, a fresh
  // name), written exclusively (0600), and removed with the cache on every exit path.
  const startupDir = await mkdtemp(join(options.scratchDir, 'kubepair-shell-')).catch(async (err: unknown) => {
    await removeCache();
    throw new KubepairError('KP_ERR_KUBECONFIG_WRITE', `cannot create the shell's startup directory in ${options.scratchDir}`, { cause: err });
  });
  const cleanup = async (): Promise<void> => {
    await rm(startupDir, { recursive: true, force: true });
    await removeCache();
  };
  try {
    const startup = shellStartup(plan.shell, options.clusterName, startupDir, env);
    for (const [name, text] of startup.files) {
      const path = join(startupDir, name);
      const handle = await open(path, 'wx', 0o600).catch((err: unknown) => {
        throw new KubepairError('KP_ERR_KUBECONFIG_WRITE', `cannot create ${path}`, { cause: err });
      });
      try {
        await handle.writeFile(text);
      } finally {
        await handle.close();
      }
    }
    throwIfAborted(options.signal);
    return watch(spawn(plan.shell, [...startup.args], { stdio: 'inherit', env: { ...env, ...startup.env } }), cacheDir, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}
