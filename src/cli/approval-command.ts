/**
 * `kubepair approvals`, `kubepair approve [ID]` and `kubepair decline [ID]`: answer the requests a
 * running `share --approve` holds, through its local control socket (issue 14; docs/usage.md
 * "Live approval"). The command's options and help only; the work is in approval-run.ts.
 */
import type { Command } from 'commander';

const PID_HELP = 'the share process to ask, when several run (its pid)';

export function registerApprovalCommands(program: Command): void {
  program
    .command('approvals')
    .description('list the requests a running share --approve holds for your answer')
    .option('--pid <pid>', PID_HELP)
    .action(async (options: unknown) => {
      const { runApprovals } = await import('./approval-run.js');
      await runApprovals(options);
    });
  program
    .command('approve')
    .description('approve a request a running share --approve holds (the only one waiting, or ID)')
    .argument('[id]', 'the request, as kubepair approvals numbers it')
    .option('--for-session', 'approve it for the rest of its session: adds the --allow rule kubepair approvals shows')
    .option('--pid <pid>', PID_HELP)
    .action(async (id: string | undefined, options: unknown) => {
      const { runApprove } = await import('./approval-run.js');
      await runApprove(id, options);
    });
  program
    .command('decline')
    .description('decline a request a running share --approve holds (the only one waiting, ID, or --all)')
    .argument('[id]', 'the request, as kubepair approvals numbers it')
    .option('--all', 'decline every waiting request')
    .option('--pid <pid>', PID_HELP)
    .action(async (id: string | undefined, options: unknown) => {
      const { runDecline } = await import('./approval-run.js');
      await runDecline(id, options);
    });
}
