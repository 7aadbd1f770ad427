/**
 * `kubepair doctor [--relay URL]`: the options and help of the setup check (docs/usage.md
 * "kubepair doctor"). The work is in doctor-run.ts, loaded (with the Kubernetes client and the
 * keychain) only when doctor runs, so other commands start fast.
 */
import type { Command } from 'commander';
import type { DoctorOptions } from './doctor-run.js';
import { RELAY_OPTION_HELP } from './relay-endpoint-options.js';

const EXAMPLES = `
Checks, each OK, WARN or FAIL with the fix: the config file; the relay URL and where it came
from; the relay's /healthz (reachable); TLS (trusted certificate, https:// to a plain-HTTP
relay, http:// to a TLS port); the clock against the relay's; the relay token (KUBEPAIR_TOKEN
or the OS keychain; whether the relay accepts it is not checked); the keychain; kubectl; and
the kubeconfig context share would use. Exit 0 when nothing FAILs, 1 otherwise.`;

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check the relay, TLS, token, keychain, kubectl, kubeconfig and clock, and say what to fix')
    .option('--relay <url>', RELAY_OPTION_HELP)
    .option('--relay-ca <file>', 'extra PEM CA certificate to trust for the relay')
    .option('--proxy-ca <file>', 'extra PEM CA certificate of a TLS-intercepting proxy')
    .option('--insecure', 'allow http:// to a relay that is not on this machine')
    .option('--kubeconfig <file>', 'kubeconfig to check (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to check (default: the current context)')
    .addHelpText('after', EXAMPLES)
    .action(async (options: DoctorOptions, command: Command) => {
      const { runDoctor } = await import('./doctor-run.js');
      await runDoctor(options, command);
    });
}
