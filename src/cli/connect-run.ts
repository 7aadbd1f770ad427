/**
 * Running `kubepair connect`: the code comes from the argument or, when missing, from a prompt
 * on a terminal or the first line of standard input; options are validated before the relay is
 * contacted; then the client role (src/client/connect.ts) pairs and runs the shell, the command,
 * or waits. A signal at any point ends it (connect-termination.ts): before the shell or command
 * starts nothing runs, and connect exits 128 + the signal's number.
 */
import type { PairingCode } from '../channel/pairing-code.js';
import { parsePairingCode } from '../channel/pairing-code.js';
import type { ChildPlan } from '../client/child-session.js';
import { Connect } from '../client/connect.js';
import type { PortForward } from '../client/connect.js';
import { KubepairError, isKubepairError } from '../errors/index.js';
import { PAIRING_CODE_INPUT_MAX_CHARS } from '../limits.js';
import { assertTargetName } from '../protocol/target-name.js';
import { ConnectOutput } from './connect-output.js';
import { ConnectTermination } from './connect-termination.js';
import { relayEndpointFrom } from './relay-endpoint-options.js';
import { reportError } from './report-error.js';
import { promptLine, readFirstLine } from './secret-input.js';

function parsePort(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `${what} "${text}" is not a port (0-65535)`);
  return Number(text);
}

export function parseForward(spec: string): PortForward {
  const match = /^(\d{1,5}):([^:]+)$/.exec(spec);
  if (match === null) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--forward "${spec.slice(0, 80)}" must be LOCALPORT:NAME`);
  const localPort = parsePort(match[1]!, '--forward port');
  if (localPort === 0) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', '--forward needs a fixed local port');
  assertTargetName(match[2]!, '--forward target');
  return { localPort, target: match[2]! };
}

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
      // Raw mode turns Ctrl-C into a byte: treat it as the SIGINT it stands for.
      if (isKubepairError(err, 'KP_ERR_INTERRUPTED') && !signal.aborted) termination.interrupt('SIGINT');
      throw err;
    }
  } else {
    process.stderr.write('kubepair: reading the pairing code from the first line of standard input\n');
    text = await readFirstLine(process.stdin, { maxBytes: PAIRING_CODE_INPUT_MAX_CHARS, signal, what: 'a code looks like 42-7315-0286' });
  }
  if (text === '') throw new KubepairError('KP_ERR_NO_CODE_ENTERED', 'pass it as an argument (kubepair connect 42-7315-0286) or type it at the prompt');
  return text;
}

export async function runConnect(codeArg: string | undefined, command: string[], options: Record<string, unknown>): Promise<number> {
  const termination = new ConnectTermination().install();
  try {
    const forwards = ((options['forward'] as string[] | undefined) ?? []).map(parseForward);
    const port = options['port'] === undefined ? 0 : parsePort(options['port'] as string, '--port');
    const noShell = options['shell'] === false;
    if (noShell && command.length > 0) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', '--no-shell and a command exclude each other');
    const plan: ChildPlan =
      command.length > 0
        ? { kind: 'command', command: command[0]!, args: command.slice(1) }
        : noShell
          ? { kind: 'wait' }
          : { kind: 'shell', shell: process.env['SHELL'] ?? '/bin/sh' };
    const code: PairingCode = parsePairingCode(codeArg ?? (await readCode(termination)));
    // The keychain may wait a minute for an unlock prompt; a signal does not wait for it.
    const relay = await untilAborted(relayEndpointFrom(options), termination.signal);
    const status = await new Connect(
      {
        relay,
        code,
        plan,
        port,
        forwards,
        // With a shell or command in the foreground, Ctrl-C belongs to the child.
        ...(plan.kind !== 'wait' && { onChildStarted: () => termination.handSigintToChild() }),
      },
      new ConnectOutput(noShell),
    ).start(termination.signal);
    if (termination.received !== undefined) {
      process.stderr.write(`kubepair: ${termination.received}: the session ended and the kubeconfig is removed\n`);
      return termination.exitCode!;
    }
    return status;
  } catch (err) {
    const exitCode = termination.exitCode;
    if (exitCode === undefined) throw err;
    // Cancelled before the session started: one line, nothing ran, 128 + the signal's number.
    const interrupted = new KubepairError('KP_ERR_INTERRUPTED', `received ${termination.received} before the session started; nothing was run`, { cause: err });
    process.stderr.write(reportError(interrupted, process.env['KUBEPAIR_DEBUG'] === '1').text);
    return exitCode;
  } finally {
    termination.dispose();
  }
}
