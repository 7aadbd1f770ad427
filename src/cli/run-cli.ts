/**
 * The CLI's entry for every command line but `kubepair connect CODE ...` (cli-entry.ts): the
 * whole command table, of which each command line registers what it needs (commandsFor); the
 * parsing, running and error reporting are cli-runner.ts's.
 */
import { registerAuditCommand } from './audit-command.js';
import { asksForHelp } from './cli-entry.js';
import type { Register } from './cli-runner.js';
import { runCommands } from './cli-runner.js';
import { registerCompletionCommand } from './completion-command.js';
import { registerConfigCommand } from './config-command.js';
import { registerConnectCommand } from './connect-command.js';
import { registerControlCommands } from './control-command.js';
import { registerDoctorCommand } from './doctor-command.js';
import { registerRelayCommand } from './relay-command.js';
import { registerShareCommand } from './share-command.js';
import { registerTokenCommand } from './token-command.js';
import { registerApprovalCommands } from './approval-command.js';

/** Every command, in the order `kubepair --help` lists them, with the top-level names each registers. */
function commandTable(argv: readonly string[]): ReadonlyArray<readonly [names: readonly string[], register: Register]> {
  return [
    [['share'], registerShareCommand],
    [['connect'], (parent) => registerConnectCommand(parent, argv)],
    [['relay'], registerRelayCommand],
    [['audit'], registerAuditCommand],
    [['token'], registerTokenCommand],
    [['approvals', 'approve', 'decline'], registerApprovalCommands],
    [['config'], registerConfigCommand],
    [['completion'], registerCompletionCommand],
    [['doctor'], registerDoctorCommand],
    [['status', 'session'], registerControlCommands],
  ];
}

/**
 * The commands to register for `argv` (issue 15, start-up): when the first argument names a
 * command, only that command's, so that `kubepair connect` does not build the options of the
 * nine others before it starts; all of them for help (which lists them), `completion` (which
 * walks the whole tree), or anything else (commander's "unknown command" and its suggestions).
 */
export function commandsFor(argv: readonly string[]): Register[] {
  const table = commandTable(argv);
  const first = argv[0];
  const invoked = asksForHelp(argv) || first === 'completion' ? undefined : table.find(([names]) => first !== undefined && names.includes(first));
  return invoked === undefined ? table.map(([, register]) => register) : [invoked[1]];
}

export function runCli(argv: readonly string[]): Promise<number> {
  return runCommands(commandsFor(argv), argv);
}
