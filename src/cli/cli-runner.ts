/**
 * Run the kubepair CLI for an argument list with the given commands registered and return the
 * exit code: parse with commander, run the chosen role, and turn any failure into one clear
 * line (see report-error.ts). Both entry modules (run-cli.ts, connect-cli.ts; cli-entry.ts)
 * run their command lines through this.
 */
import { CommanderError } from 'commander';
import type { Command } from 'commander';
import { asksForHelp } from './cli-entry.js';
import { COMMAND_MODE_FAILURE_EXIT_CODE } from './exit-codes.js';
import { buildProgram, loadSettingResolution } from './program.js';
import { reportError } from './report-error.js';

/** Registers one command (or a few related ones) on the program. */
export type Register = (program: Command) => void;

/** `kubepair connect ... -- CMD`: connect's own failures exit 255 then (docs/exit-codes.md). */
function connectsWithCommand(argv: readonly string[]): boolean {
  return argv.includes('connect') && argv.indexOf('connect') < argv.indexOf('--');
}

export async function runCommands(commands: readonly Register[], argv: readonly string[]): Promise<number> {
  const program = buildProgram(commands);
  if (argv.length === 0) {
    process.stderr.write(program.helpInformation());
    return 2;
  }
  try {
    // Help text ends with the defaults in effect, read from the config file only when asked for.
    if (asksForHelp(argv) || argv[0] === 'help') await loadSettingResolution();
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
