/**
 * Running `kubepair connect`: the code comes from the argument or, when missing, from a prompt;
 * options are validated before the relay is contacted; then the client role
 * (src/client/connect.ts) pairs and runs the shell, the command, or waits.
 */
import { createInterface } from 'node:readline/promises';
import type { PairingCode } from '../channel/pairing-code.js';
import { parsePairingCode } from '../channel/pairing-code.js';
import type { ChildPlan } from '../client/child-session.js';
import { Connect } from '../client/connect.js';
import type { PortForward } from '../client/connect.js';
import { KubepairError } from '../errors/index.js';
import { assertTargetName } from '../mux/target-name.js';
import { ConnectOutput } from './connect-output.js';
import { relayEndpointFrom, signalOnTermination } from './relay-endpoint-options.js';

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

async function promptForCode(): Promise<string> {
  if (process.stdin.isTTY !== true) {
    throw new KubepairError('KP_ERR_PAIRING_CODE_MALFORMED', 'no code given; pass it as an argument, e.g. kubepair connect 42-7315-0286');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question('Pairing code: ');
  } finally {
    rl.close();
  }
}

export async function runConnect(codeArg: string | undefined, command: string[], options: Record<string, unknown>): Promise<number> {
  const code: PairingCode = parsePairingCode(codeArg ?? (await promptForCode()));
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
  const relay = await relayEndpointFrom(options);
  // With a shell or command in the foreground, Ctrl-C belongs to the child.
  const { signal, dispose } = signalOnTermination(plan.kind !== 'wait');
  try {
    return await new Connect({ relay, code, plan, port, forwards }, new ConnectOutput(noShell)).start(signal);
  } finally {
    dispose();
  }
}
