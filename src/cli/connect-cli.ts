/**
 * The CLI's entry for `kubepair connect CODE ...` (cli-entry.ts; issue 15, start-up): connect
 * registered alone, as run-cli.ts registers it for such a command line, and run the same way
 * (cli-runner.ts). A module of its own so that the package can hold connect's whole start-up
 * path as one file, dist/cli/connect-cli.js, with its lazy imports inside it (scripts/bundle.mjs):
 * loading about fifty chunk files, each resolved, read and linked by Node.js's ES module loader,
 * cost a quarter of connect's CPU to its first byte (docs/performance.md "Start to first byte,
 * sixth pass").
 */
import type { Register } from './cli-runner.js';
import { runCommands } from './cli-runner.js';
import { registerConnectCommand } from './connect-command.js';

/** The commands this entry registers for `argv`: connect alone. */
export function connectCommands(argv: readonly string[]): Register[] {
  return [(program) => registerConnectCommand(program, argv)];
}

export function runCli(argv: readonly string[]): Promise<number> {
  return runCommands(connectCommands(argv), argv);
}
