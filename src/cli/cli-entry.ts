/**
 * Which of the CLI's two entry modules runs a command line (issue 15, start-up; docs/performance.md
 * "Start to first byte, sixth pass"). `kubepair connect CODE ...` loads connect-cli.js, which in
 * the package is one file holding connect's whole start-up path (scripts/bundle.mjs); every
 * other command line loads run-cli.js with its command table. main.ts decides with this, before
 * either is loaded, so it must stay small and import nothing. A connect that asks for help
 * goes to run-cli.js, which registers every command for help (run-cli.ts `commandsFor`):
 * connect-cli.js registers connect alone, which is exactly what run-cli.js registers for the
 * command lines sent to it. Input: argv (the user's own).
 */

/** Whether the command line asks for help anywhere (`--help`, `-h`): help registers every command. */
export function asksForHelp(argv: readonly string[]): boolean {
  return argv.some((arg) => arg === '--help' || arg === '-h');
}

/** The entry module for `argv` (the arguments after `kubepair`). */
export function cliEntryFor(argv: readonly string[]): 'connect-cli' | 'run-cli' {
  return argv[0] === 'connect' && !asksForHelp(argv) ? 'connect-cli' : 'run-cli';
}
