/**
 * `kubepair status` and `kubepair session end|policy|extend|shorten`: the commands that talk to
 * a running share or connect through its local control socket (docs/usage.md "Session
 * control"). Options and help only; the work is in control-run.ts, loaded when one runs.
 */
import type { Command } from 'commander';
import { collect } from './command-options.js';

const SESSION_HELP = `
These talk to the "kubepair share" of this user on this machine (its control socket, 0600 in a
0700 directory of the runtime directory). With one share running and one session open, no
--pid and no --session is needed; otherwise "kubepair status" shows both.

Each change is written to the share's audit log first (a change that cannot be recorded is not
made), applies to the next request and to those still running (a watch, exec or port-forward
the new policy refuses is cut), and the client is told in one line; "session end" cuts
everything.

Examples:
  kubepair session policy --policy readonly           reads only from the next request on
  kubepair session policy --deny "delete pods"        add a --deny rule
  kubepair session policy --remove-allow "delete pods team-a/*"
  kubepair session shorten 30m                        end 30 minutes earlier
  kubepair session extend 1h                          end later, never past --max-duration
  kubepair session end                                end this session; share goes on`;

export function registerControlCommands(program: Command): void {
  program
    .command('status')
    .description('show the sessions of the running kubepair share or connect: peer, mode, policy, bytes, start and end')
    .option('--pid <pid>', 'the process to ask when several run')
    .option('--json', 'print the answer as JSON')
    .action(async (options: unknown) => {
      const { runStatus } = await import('./control-run.js');
      await runStatus(options);
    });
  const session = program.command('session').description('change a session the running kubepair share serves').helpCommand(false).addHelpText('after', SESSION_HELP);
  const target = (command: Command): Command =>
    command.option('--session <id>', 'the session (its id or the start of it, as "kubepair status" shows)').option('--pid <pid>', 'the share to ask when several run');
  target(session.command('end').description('end one session now; share goes on offering codes (unless --once)')).action(async (options: unknown) => {
    const { runSessionEnd } = await import('./control-run.js');
    await runSessionEnd(options);
  });
  target(
    session
      .command('policy')
      .description('narrow or widen the policy of a running session (proxy mode)')
      .option('--policy <mode>', 'the new mode: readonly, guarded or open (switching away from guarded drops its --allow rules)')
      .option('--allow <rule>', 'add an --allow rule (guarded only; repeatable)', collect)
      .option('--deny <rule>', 'add a --deny rule (repeatable)', collect)
      .option('--remove-allow <rule>', 'remove an --allow rule (repeatable)', collect)
      .option('--remove-deny <rule>', 'remove a --deny rule (repeatable)', collect),
  ).action(async (options: unknown) => {
    const { runSessionPolicy } = await import('./control-run.js');
    await runSessionPolicy(options);
  });
  for (const [name, sign, what] of [
    ['extend', 1, 'end the session later (never past its start plus --max-duration)'],
    ['shorten', -1, 'end the session earlier'],
  ] as const) {
    target(session.command(name).description(what).argument('<duration>', 'how much, e.g. 30m or 2h')).action(async (duration: string, options: unknown) => {
      const { runSessionExpiry } = await import('./control-run.js');
      await runSessionExpiry(duration, sign, options);
    });
  }
}
