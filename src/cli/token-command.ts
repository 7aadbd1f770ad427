/**
 * `kubepair token set|delete|status`: the relay token of this machine's user, kept in the OS
 * keychain (docs/design.md §7), for `share` and `connect`. The command's options and help only; the
 * work is in token-run.ts, loaded (with the keychain's native module) only when it runs.
 */
import type { Command } from 'commander';
import { RELAY_OPTION_HELP } from './relay-endpoint-options.js';

const EXAMPLES = `
Examples:
  kubepair token set --relay https://relay.example.com       prompts for the token (not echoed)
  pass show kubepair/relay | kubepair token set --relay https://relay.example.com
  kubepair token status --relay https://relay.example.com    where share/connect get a token from
  kubepair token delete --relay https://relay.example.com

Tokens (kprt_..., from "kubepair relay token create" on the relay) are stored in the OS
keychain: macOS Keychain, Windows Credential Manager, or on Linux the Secret Service
(gnome-keyring, KWallet, KeePassXC) under service "kubepair", one per relay origin. share and
connect use KUBEPAIR_TOKEN when it is set, else the keychain's token for the relay, else none.
Without a keychain (servers, CI, containers) put the token in KUBEPAIR_TOKEN instead; it is
never written to a file.`;

function addRelayOption(command: Command): Command {
  return command.option('--relay <url>', RELAY_OPTION_HELP);
}

export function registerTokenCommand(program: Command): void {
  const token = program
    .command('token')
    .description('keep the relay token for share and connect in the OS keychain (set, delete, status)')
    .addHelpText('after', EXAMPLES);
  addRelayOption(
    token
      .command('set')
      .description('store a relay token for a relay: read from standard input, or prompted for without echo on a terminal'),
  ).action(async (options: unknown) => {
    const { runTokenSet } = await import('./token-run.js');
    await runTokenSet(options);
  });
  addRelayOption(token.command('delete').description('remove the stored relay token of a relay from the OS keychain')).action(
    async (options: unknown) => {
      const { runTokenDelete } = await import('./token-run.js');
      await runTokenDelete(options);
    },
  );
  addRelayOption(
    token.command('status').description('say whether a token is stored for a relay and which token share and connect would use (never prints a token)'),
  ).action(async (options: unknown) => {
    const { runTokenStatus } = await import('./token-run.js');
    await runTokenStatus(options);
  });
}
