/**
 * Commander wiring for the `kubepair` binary: the top-level program, its help text and the
 * registration of one subcommand per file. Argument parsing only; roles do the work.
 */
import { Command } from 'commander';
import { VERSION } from '../version.js';
import type * as SettingResolutionModule from './setting-resolution.js';
import { commandPath, settingsFor } from './setting-table.js';

type SettingResolution = typeof SettingResolutionModule;
/** Loaded only for a command that has settings (or for help), so other commands start fast. */
let resolution: SettingResolution | undefined;

/** Load the setting resolver (config file, schema) before help text that shows the defaults is printed. */
export async function loadSettingResolution(): Promise<void> {
  resolution ??= await import('./setting-resolution.js');
}

const OVERVIEW = `
kubepair gives a laptop kubectl access to a remote Kubernetes cluster through a public relay
that is not trusted: one short pairing code, no VPN, no inbound port, end-to-end encryption.

Roles:
  kubepair relay      the public broker; sees only ciphertext, never the code's secret
  kubepair share      next to the cluster credentials; shows a pairing code like 42-7315-0286
  kubepair connect    on the laptop; pairs with the code and gives you a kubectl shell

Errors are printed as one line; the exit code is 2 for bad input, 1 for other failures,
128 + N when signal N ended it (130 Ctrl-C); connect -- CMD: the command's status, or 255
when connect itself failed. The table: docs/exit-codes.md. KUBEPAIR_DEBUG=1 also prints the
internal error chain.`;

/** Build the program; `commands` are the subcommand registrations of the roles. */
export function buildProgram(commands: ReadonlyArray<(program: Command) => void> = []): Command {
  const program = new Command()
    .name('kubepair')
    .description('kubectl access to a remote cluster through an untrusted relay, with one pairing code')
    .version(VERSION, '-V, --version', 'print the kubepair version')
    .helpOption('-h, --help', 'show help for a command')
    .addHelpText('after', OVERVIEW)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of commands) register(program);
  // Options the command line did not give come from the environment or the config file
  // (setting-resolution.ts); --help shows the defaults in effect and where they come from.
  program.hook('preAction', async (_program, action) => {
    if (settingsFor(commandPath(action)).length === 0) return;
    await loadSettingResolution();
    resolution?.resolveDefaults(action);
  });
  const withHelp = (command: Command): void => {
    if (settingsFor(commandPath(command)).length > 0) command.addHelpText('after', () => resolution?.defaultsHelp(commandPath(command)) ?? '');
    command.commands.forEach(withHelp);
  };
  program.commands.forEach(withHelp);
  return program;
}
