/**
 * Run the kubepair CLI for an argument list and return the exit code: parse with commander,
 * run the chosen role, and turn any failure into one clear line (see report-error.ts).
 */
import { CommanderError } from 'commander';
import type { Command } from 'commander';
import { registerAuditCommand } from './audit-command.js';
import { registerCompletionCommand } from './completion-command.js';
import { registerConfigCommand } from './config-command.js';
import { registerConnectCommand } from './connect-command.js';
import { registerControlCommands } from './control-command.js';
import { COMMAND_MODE_FAILURE_EXIT_CODE } from './exit-codes.js';
import { registerDoctorCommand } from './doctor-command.js';
import { buildProgram, loadSettingResolution } from './program.js';
import { registerRelayCommand } from './relay-command.js';
import { registerShareCommand } from './share-command.js';
import { registerTokenCommand } from './token-command.js';
import { registerApprovalCommands } from './approval-command.js';
import { reportError } from './report-error.js';

/** `kubepair connect ... -- CMD`: connect's own failures exit 255 then (docs/exit-codes.md). */
function connectsWithCommand(argv: readonly string[]): boolean {
  return argv.includes('connect') && argv.indexOf('connect') < argv.indexOf('--');
}

type Register = (program: Command) => void;

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
  const asksForHelp = argv.some((arg) => arg === '--help' || arg === '-h');
  const invoked = asksForHelp || first === 'completion' ? undefined : table.find(([names]) => first !== undefined && names.includes(first));
  return invoked === undefined ? table.map(([, register]) => register) : [invoked[1]];
}

export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram(commandsFor(argv));
  if (argv.length === 0) {
    process.stderr.write(program.helpInformation());
    return 2;
  }
  try {
    // Help text ends with the defaults in effect, read from the config file only when asked for.
    if (argv.some((arg) => arg === '--help' || arg === '-h') || argv[0] === 'help') await loadSettingResolution();
    await program.parseAsync(argv, { from: 'user' });
    // A command that ends with a status of its own (connect -- CMD) sets process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (or the help / version text).
      if (err.exitCode === 0) return 0;
      return connectsWithCommand(argv) ? COMMAND_MODE_FAILURE_EXIT_CODE : 2;
    }
    const report = reportError(err, process.env['KUBEPAIR_DEBUG'] === '1');
    process.stderr.write(report.text);
    return report.exitCode;
  }
}
