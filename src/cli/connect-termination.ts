/**
 * How `kubepair connect` ends when it is told to (issue 10, "A cancelled connect still runs",
 * "Kubeconfig left behind"; docs/usage.md "Signals and exit codes").
 *
 * Every signal whose default action ends a process and that a process may catch — SIGINT,
 * SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and the rarer ones in TERMINATING_SIGNALS — aborts
 * the one AbortSignal connect runs under. Before the shell or command starts that cancels
 * everything (prompt, pairing, setup) and nothing runs; afterwards it stops the child. Either
 * way the kubeconfig is removed and connect exits 128 + the signal's number (130 for Ctrl-C),
 * as a shell reports a process that a signal ended. Two exceptions:
 *
 * - Once a shell or command runs in the foreground, Ctrl-C belongs to it (the terminal sends
 *   SIGINT to both); connect ignores SIGINT then, and the child's status becomes connect's.
 * - A second signal, or handles that keep the process alive SIGNAL_EXIT_GRACE_MS after the
 *   first, end the process at once; the synchronous exit hook of kubeconfig.ts still removes
 *   the kubeconfig.
 *
 * Not caught, on purpose: SIGPIPE (Node ignores it; a closed output is an EPIPE error instead),
 * SIGPROF (profilers use it), SIGCHLD, SIGWINCH and the other signals that do not end a
 * process. Catching SIGUSR1 also keeps Node from opening its inspector on 127.0.0.1:9229, where
 * any local user could attach to a process that holds cluster credentials. SIGKILL, and crash
 * signals (SIGSEGV, SIGBUS, SIGABRT, ...) after which no JavaScript runs, leave the kubeconfig
 * in its 0600 RAM-backed directory until the next connect removes it (stale-kubeconfigs.ts).
 * An uncaught error is reported in one line and ends the process with exit code 1, again
 * through the exit hook.
 */
import { constants } from 'node:os';
import { KubepairError } from '../errors/index.js';
import { SIGNAL_EXIT_GRACE_MS } from '../limits.js';
import { reportError } from './report-error.js';

/** Signals that end a process by default and can be caught, in the order they are listed. */
export const TERMINATING_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2',
  'SIGALRM', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR', 'SIGSTKFLT', 'SIGIO',
].filter((name): name is NodeJS.Signals => (constants.signals as Record<string, number | undefined>)[name] !== undefined);

/** The exit code of a process that `name` ended: 128 + the signal's number. */
export function signalExitCode(name: NodeJS.Signals): number {
  return 128 + (constants.signals as Record<string, number>)[name]!;
}

export class ConnectTermination {
  readonly #controller = new AbortController();
  #received: NodeJS.Signals | undefined;
  #sigintBelongsToChild = false;
  #installed = false;
  readonly #onSignal = (name: NodeJS.Signals): void => this.interrupt(name);
  readonly #onUncaught = (err: unknown): void => {
    process.stderr.write(reportError(err, process.env['KUBEPAIR_DEBUG'] === '1').text);
    process.exit(1); // the exit hook removes the kubeconfig
  };

  /** Aborts when connect is told to end; the reason is a KP_ERR_INTERRUPTED error. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The first signal that ended connect, if one did. */
  get received(): NodeJS.Signals | undefined {
    return this.#received;
  }

  /** The exit code for the signal received (undefined when none was). */
  get exitCode(): number | undefined {
    return this.#received === undefined ? undefined : signalExitCode(this.#received);
  }

  install(): this {
    if (this.#installed) return this;
    this.#installed = true;
    for (const name of TERMINATING_SIGNALS) process.on(name, this.#onSignal);
    process.on('uncaughtException', this.#onUncaught);
    process.on('unhandledRejection', this.#onUncaught);
    return this;
  }

  /** A shell or command now runs in the foreground: Ctrl-C is its business from here on. */
  handSigintToChild(): void {
    this.#sigintBelongsToChild = true;
  }

  /**
   * Act as if `name` had been received: abort (the first time) or, on a second signal, exit at
   * once. Also used for a Ctrl-C typed at the code prompt, where raw mode turns it into a byte.
   */
  interrupt(name: NodeJS.Signals): void {
    if (name === 'SIGINT' && this.#sigintBelongsToChild) return;
    if (this.#received !== undefined) {
      process.exit(signalExitCode(this.#received)); // asked twice: the exit hook cleans up
    }
    this.#received = name;
    // If cleanup is done but something still holds the event loop open, do not linger.
    setTimeout(() => process.exit(signalExitCode(name)), SIGNAL_EXIT_GRACE_MS).unref();
    this.#controller.abort(new KubepairError('KP_ERR_INTERRUPTED', `received ${name}`));
  }

  /** Stop listening for signals (a signal after this has its default effect). */
  dispose(): void {
    if (!this.#installed) return;
    this.#installed = false;
    for (const name of TERMINATING_SIGNALS) process.off(name, this.#onSignal);
    process.off('uncaughtException', this.#onUncaught);
    process.off('unhandledRejection', this.#onUncaught);
  }
}
