/**
 * Running `kubepair connect`, the front end of the client role: options go once through their
 * schema (command-options.ts) before anything else; the code comes from the argument or, when
 * missing, from a prompt on a terminal or the first line of standard input; then a ClientTunnel
 * (src/client/client-tunnel.ts) pairs and sets up, and this module runs what the tunnel is for —
 * the shell, the command (its status becomes connect's), or nothing (--no-shell: wait) — prints
 * what happens (connect-output.ts) and decides the exit code (docs/exit-codes.md; with
 * `-- CMD` every failure of connect itself is 255, like ssh). A signal at any point ends it
 * (connect-termination.ts): before the shell or command starts nothing runs, and connect exits
 * 128 + the signal's number.
 */
import { dirname } from 'node:path';
import * as z from 'zod';
import { parsePairingCode } from '../channel/pairing-code.js';
import type { PortForward, TunnelReady } from '../client/client-tunnel.js';
import { ClientTunnel } from '../client/client-tunnel.js';
import { KubepairError, isKubepairError } from '../errors/index.js';
import { PAIRING_CODE_INPUT_MAX_CHARS } from '../limits.js';
import { assertTargetName } from '../protocol/target-name.js';
import type { ChildPlan } from './child-session.js';
import { startChildSession } from './child-session.js';
import { parseCommandOptions, parsePort, relayOptionsShape, repeated } from './command-options.js';
import { ConnectOutput } from './connect-output.js';
import { registerConnectControl } from './connect-control.js';
import { ControlServer } from '../control/control-server.js';
import { toKubepairError } from '../errors/index.js';
import { ConnectTermination } from './connect-termination.js';
import { findExecutable } from './command-lookup.js';
import { COMMAND_MODE_FAILURE_EXIT_CODE, COMMAND_NOT_FOUND_EXIT_CODE } from './exit-codes.js';
import { relayEndpointFrom } from './relay-endpoint-options.js';
import { reportError } from './report-error.js';
import { applyRuntimeV8Flags } from './runtime-v8-flags.js';
import { promptLine, promptSignal, readFirstLine } from './secret-input.js';
import { markStartup } from './startup-timeline.js';

export function parseForward(spec: string): PortForward {
  const match = /^(\d{1,5}):([^:]+)$/.exec(spec);
  if (match === null) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--forward "${spec.slice(0, 80)}" must be LOCALPORT:NAME`);
  const localPort = parsePort(match[1]!, '--forward port');
  if (localPort === 0) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', '--forward needs a fixed local port');
  assertTargetName(match[2]!, '--forward target');
  return { localPort, target: match[2]! };
}

/** `kubepair connect`'s options, as commander hands them over, checked and typed in one pass. */
const ConnectOptionsSchema = z.strictObject({
  forward: repeated.transform((specs) => specs.map(parseForward)),
  port: z
    .string()
    .optional()
    .transform((text) => (text === undefined ? 0 : parsePort(text, '--port'))),
  /** `--no-shell` sets it false. */
  shell: z.boolean(),
  /** `--any-local-user`: other local users may use the local ports too. */
  anyLocalUser: z.boolean().default(false),
  ...relayOptionsShape,
});

/** `work`, or the signal's reason as soon as `signal` aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The code typed at a prompt (a terminal) or the first line of standard input (a pipe or a
 * file, so a script can keep the code out of `ps`). Nothing typed: KP_ERR_NO_CODE_ENTERED.
 */
async function readCode(termination: ConnectTermination): Promise<string> {
  const signal = termination.signal;
  let text: string;
  if (process.stdin.isTTY === true) {
    try {
      text = await promptLine(process.stdin, process.stderr, 'Pairing code: ', { echo: true, maxChars: PAIRING_CODE_INPUT_MAX_CHARS, signal, what: 'a code looks like 42-7315-0286' });
    } catch (err) {
      // Raw mode turns Ctrl-C and Ctrl-\ into bytes: treat each as the signal it stands for.
      if (isKubepairError(err, 'KP_ERR_INTERRUPTED') && !signal.aborted) termination.interrupt(promptSignal(err));
      throw err;
    }
  } else {
    process.stderr.write('kubepair: reading the pairing code from the first line of standard input\n');
    text = await readFirstLine(process.stdin, { maxBytes: PAIRING_CODE_INPUT_MAX_CHARS, signal, what: 'a code looks like 42-7315-0286' });
  }
  if (text === '') throw new KubepairError('KP_ERR_NO_CODE_ENTERED', 'pass it as an argument (kubepair connect 42-7315-0286) or type it at the prompt');
  return text;
}

/** One full turn of the event loop, so that signal handlers already due have run. */
async function letPendingSignalsArrive(): Promise<void> {
  // The first setImmediate may run before this turn's poll phase has read the signal pipe; the
  // second runs after the next poll phase, which has.
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** A setup failure whose usual cause is known gets what to check in its message (issue 11 §3). */
function withSetupHint(err: unknown): unknown {
  if (isKubepairError(err, 'KP_ERR_HANDSHAKE_TIMEOUT')) {
    return new KubepairError(
      'KP_ERR_HANDSHAKE_TIMEOUT',
      `${err.message.replace(/^[^:]*: /, '')}; the relay knew the code but the sharer's kubepair did not answer: check that "kubepair share" still runs and shows this code, that its machine is online, and that it uses the same relay`,
      { cause: err },
    );
  }
  return err;
}

/**
 * Run the plan on a ready tunnel; resolves with connect's exit code (before any signal's).
 * The last chance to cancel is right before the spawn: nothing has run yet.
 */
async function runPlan(tunnel: ClientTunnel, ready: TunnelReady, plan: ChildPlan, termination: ConnectTermination, output: ConnectOutput): Promise<number> {
  const signal = termination.signal;
  if (plan.kind !== 'wait') await letPendingSignalsArrive();
  const child = await startChildSession({ plan, kubeconfigPath: ready.kubeconfig, clusterName: ready.clusterName, scratchDir: dirname(ready.kubeconfig), signal });
  if (plan.kind === 'wait') output.exports({ kubeconfig: ready.kubeconfig, cacheDir: child.cacheDir });
  markStartup(plan.kind === 'wait' ? 'exports_printed' : 'child_started');
  // With a shell or command in the foreground, Ctrl-C belongs to the child.
  if (plan.kind !== 'wait') termination.handSigintToChild();
  try {
    const aborted = new Promise<{ kind: 'signal' }>((resolve) => {
      if (signal.aborted) resolve({ kind: 'signal' });
      signal.addEventListener('abort', () => resolve({ kind: 'signal' }), { once: true });
    });
    const outcome = await Promise.race([child.exited.then((code) => ({ kind: 'child' as const, code })), tunnel.closed.then((end) => ({ kind: 'tunnel' as const, end })), aborted]);
    if (outcome.kind === 'child') return outcome.code;
    if (outcome.kind === 'tunnel' && outcome.end.kind === 'lost') {
      // The tunnel has removed the kubeconfig already; the child's work cannot go on.
      output.tunnelClosed(outcome.end);
      child.stop();
      await child.exited;
      return plan.kind === 'command' ? COMMAND_MODE_FAILURE_EXIT_CODE : 1;
    }
    child.stop();
    const code = await child.exited;
    return plan.kind === 'wait' ? 0 : code;
  } finally {
    child.stop();
  }
}

export async function runConnect(codeArg: string | undefined, command: string[], rawOptions: unknown): Promise<number> {
  const termination = new ConnectTermination().install();
  const withCommand = command.length > 0;
  let tunnel: ClientTunnel | undefined;
  /** The control socket once it listens (undefined when it could not), never rejected. */
  let control: Promise<ControlServer | undefined> | undefined;
  try {
    const options = parseCommandOptions(ConnectOptionsSchema, rawOptions, 'connect');
    const noShell = !options.shell;
    if (noShell && command.length > 0) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', '--no-shell and a command exclude each other');
    const plan: ChildPlan =
      command.length > 0
        ? { kind: 'command', command: command[0]!, args: command.slice(1) }
        : noShell
          ? { kind: 'wait' }
          : { kind: 'shell', shell: process.env['SHELL'] ?? '/bin/sh' };
    if (plan.kind === 'command') await findExecutable(plan.command);
    const code = parsePairingCode(codeArg ?? (await readCode(termination)));
    // The keychain may wait a minute for an unlock prompt; a signal does not wait for it.
    const relay = await untilAborted(relayEndpointFrom(options), termination.signal);
    markStartup('relay_endpoint');
    tunnel = new ClientTunnel({ relay, code, port: options.port, forwards: options.forward, anyLocalUser: options.anyLocalUser });
    tunnel.on('startStep', markStartup);
    const output = new ConnectOutput();
    output.watch(tunnel);
    // The tunnel starts first, so that its pairing request is on its way before anything else
    // runs (issue 15, start-up); `starting` is awaited below, in the same turn.
    const starting = tunnel.start(termination.signal);
    // `kubepair status` on this side (read only): connect works without it. It starts listening
    // while the tunnel pairs (its file system work overlaps the relay's round trips) and is
    // closed in `finally` however start ends.
    const started = tunnel;
    control = ControlServer.listen({ role: 'connect' }).then(
      (server) => {
        registerConnectControl(server, started);
        markStartup('control_socket');
        return server;
      },
      (err: unknown) => {
        output.controlUnavailable(toKubepairError(err));
        return undefined;
      },
    );
    const ready = await starting;
    await control; // listening (or reported unavailable) before the shell, command or export line
    // Now, not at start: Node.js's modules of connect's start took their built-in code cache,
    // which a changed V8 flag would have rejected (why here and share at start: main.ts).
    applyRuntimeV8Flags();
    const status = await runPlan(tunnel, ready, plan, termination, output);
    await tunnel.close();
    if (termination.received !== undefined) {
      process.stderr.write(`kubepair: ${termination.received}: the session ended and the kubeconfig is removed\n`);
      return termination.exitCode!;
    }
    return status;
  } catch (caught) {
    await tunnel?.close();
    const err = withSetupHint(caught);
    const exitCode = termination.exitCode;
    if (isKubepairError(err, 'KP_ERR_COMMAND_NOT_FOUND')) {
      process.stderr.write(reportError(err, false).text);
      return COMMAND_NOT_FOUND_EXIT_CODE;
    }
    if (exitCode === undefined && withCommand) {
      process.stderr.write(reportError(err, process.env['KUBEPAIR_DEBUG'] === '1').text);
      return COMMAND_MODE_FAILURE_EXIT_CODE;
    }
    if (exitCode === undefined) throw err;
    // Cancelled before the session started: one line, nothing ran, 128 + the signal's number.
    const interrupted = new KubepairError('KP_ERR_INTERRUPTED', `received ${termination.received} before the session started; nothing was run`, { cause: err });
    process.stderr.write(reportError(interrupted, process.env['KUBEPAIR_DEBUG'] === '1').text);
    return exitCode;
  } finally {
    await (await control)?.close();
    termination.dispose();
  }
}
