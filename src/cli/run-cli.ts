/**
 * Run the kubepair CLI for an argument list and return the exit code: parse with commander,
 * run the chosen role, and turn any failure into one clear line (see report-error.ts).
 */
import { CommanderError } from 'commander';
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

export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram([registerShareCommand, (parent) => registerConnectCommand(parent, argv), registerRelayCommand, registerAuditCommand, registerTokenCommand, registerApprovalCommands, registerConfigCommand, registerCompletionCommand, registerDoctorCommand, registerControlCommands]);
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
