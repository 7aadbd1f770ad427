/**
 * What `kubepair connect` runs once the tunnel is up (DESIGN §1): an interactive `$SHELL` with
 * KUBECONFIG set and a visible prompt marker, one command (`-- kubectl get pods`) whose exit
 * status becomes ours, or nothing (`--no-shell`: print the export line and wait). Children get
 * an environment without secret-looking variables and are spawned from argument arrays.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { KubepairError } from '../errors/index.js';
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
}

export interface RunningChild {
  /** Resolves with the exit code (128 + signal number when killed); never rejects. */
  readonly exited: Promise<number>;
  /** Ask the child to stop (SIGTERM, then SIGKILL after 5 s). */
  stop(): void;
}

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

function watch(child: ChildProcess, cleanup: () => Promise<void>): RunningChild {
  const exited = new Promise<number>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(`kubepair: cannot run the command: ${err.code ?? err.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 1)));
  }).finally(() => cleanup());
  return {
    exited,
    stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    },
  };
}

/** Start the child the plan asks for. */
export async function startChildSession(options: ChildSessionOptions): Promise<RunningChild> {
  const prompt = `[kubepair:${options.clusterName}] `;
  const env = childEnvironment(options.env ?? process.env, { KUBECONFIG: options.kubeconfigPath, KUBEPAIR_CLUSTER: options.clusterName });
  const plan = options.plan;
  if (plan.kind === 'command') {
    return watch(spawn(plan.command, [...plan.args], { stdio: 'inherit', env }), () => Promise.resolve());
  }
  if (plan.kind === 'wait') {
    let stop: () => void = () => undefined;
    const exited = new Promise<number>((resolve) => (stop = () => resolve(0)));
    return { exited, stop: () => stop() };
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
    const child = spawn(plan.shell, ['--rcfile', rcPath, '-i'], { stdio: 'inherit', env });
    return watch(child, () => rm(rcPath, { force: true }));
  }
  const child = spawn(plan.shell, ['-i'], { stdio: 'inherit', env: { ...env, PS1: `${prompt}${env['PS1'] ?? '$ '}`, PROMPT: `${prompt}${env['PROMPT'] ?? '%# '}` } });
  return watch(child, () => Promise.resolve());
}
