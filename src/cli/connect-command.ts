/**
 * `kubepair connect [CODE] [-- CMD ARGS...]`: the command's options and help. The work is in
 * connect-run.ts, loaded only when the command runs, so other commands start fast.
 */
import type { Command } from 'commander';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import { collect } from './command-options.js';
import { addRelayOptions } from './relay-endpoint-options.js';
import { markStartup } from './startup-timeline.js';

const EXAMPLES = `
Examples:
  kubepair connect 42-7315-0286                  pair and open a shell where kubectl works
  kubepair connect 42-7315-0286 -- kubectl get pods -A
  kubepair connect --no-shell 42-7315-0286       print "export KUBECONFIG=..." (and KUBECACHEDIR) and wait
  kubepair connect --forward 6379:redis 42-7315-0286
  echo 42-7315-0286 | kubepair connect --no-shell   the code from standard input, not from ps

The code is typed as shown by "kubepair share"; spaces and dashes after the nameplate are
ignored. The kubeconfig is written to a RAM-backed directory when there is one, readable by
you only, and removed when connect exits, however it exits. Ended by a signal, connect exits
128 + its number (130 for Ctrl-C); cancelled before the shell or command starts, it runs
nothing.

The relay: --relay URL, else KUBEPAIR_RELAY, else "kubepair config set relay URL" (once).
The relay token (kprt_..., from whoever runs the relay) is never a flag, so it stays out of ps
and shell history: store it once with "kubepair token set --relay URL" (OS keychain, prompted
without echo), or put it in KUBEPAIR_TOKEN where there is no keychain. Check the setup with
"kubepair doctor".

Exit codes: with -- CMD, the command's own status, 127 when CMD is not on PATH (checked
before pairing), 255 when connect itself failed (like ssh); otherwise 0, 1 a failure, 2 bad
input. The table: docs/exit-codes.md.`;

/**
 * Turn off zod's compiled fast path for this process (issue 15, start-up). For each object
 * schema zod builds a validator with `new Function` on its first parse: worth it for a schema
 * parsed thousands of times, a loss for connect, which parses each of its schemas a few times
 * (its options, the relay's answers, the handshake, the session description) and then moves
 * bytes without zod. Measured on the connect path (docs/performance.md "Start-up"). It applies
 * to schemas built after the call: connect calls it before it loads connect-run.js. Validation
 * is the same either way.
 */
export function useInterpretedValidation(): void {
  z.config({ jitless: true });
}

/** Whether the command line has `--` after `connect` (what follows it is the command). */
function afterDoubleDash(argv: readonly string[]): boolean {
  const connectAt = argv.indexOf('connect');
  return connectAt >= 0 && argv.indexOf('--', connectAt) > connectAt;
}

/** Register `connect`; `argv` is the whole command line, to tell a command after `--` from one without. */
export function registerConnectCommand(program: Command, argv: readonly string[] = []): void {
  const connect = program
    .command('connect')
    .description('pair with a code from "kubepair share" and use the shared cluster with kubectl')
    .argument('[code]', 'the pairing code, e.g. 42-7315-0286 (prompted for, or read from standard input, when missing)')
    .argument('[command...]', 'after --: a command to run instead of a shell; connect exits with its status')
    .option('--port <port>', 'local port for the API server (default: any free port)')
    .option('--no-shell', 'do not start a shell: print the KUBECONFIG export line and wait')
    .option('--forward <localport:name>', 'forward 127.0.0.1:LOCALPORT to a target the agent exposes (repeatable)', collect)
    .option('--any-local-user', 'let other local users use the local ports too, as ssh -L does (default on Linux: only you and root; others are closed)')
    .addHelpText('after', EXAMPLES);
  addRelayOptions(connect).action(async (code: string | undefined, command: string[], options: unknown) => {
    if (command.length > 0 && !afterDoubleDash(argv)) {
      const example = `kubepair connect ${code ?? 'CODE'} -- ${command.join(' ')}`.slice(0, 120);
      throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `a command after the code needs "--" before it: ${example}`);
    }
    markStartup('connect_parsed');
    useInterpretedValidation();
    const { runConnect } = await import('./connect-run.js');
    markStartup('connect_loaded');
    process.exitCode = await runConnect(code, command, options);
  });
}

