/**
 * `kubepair config get|set|unset|list|path`: the options and help of the user's config file of
 * defaults for share, connect and token (docs/usage.md "Config file"). The work is in
 * config-run.ts, loaded only when a config command runs, so other commands start fast.
 */
import type { Command } from 'commander';
import type * as ConfigRun from './config-run.js';
import { SETTINGS } from './setting-table.js';

const EXAMPLES = `
Examples:
  kubepair config set relay https://relay.example.com
  kubepair config set share.policy readonly
  kubepair config get relay
  kubepair config unset share.policy
  kubepair config list                 every setting, its value now, and where it comes from

A value on the command line beats an environment variable (KUBEPAIR_RELAY), which beats the
file, which beats the built-in default. The file never holds a relay token: use
"kubepair token set" (OS keychain) or KUBEPAIR_TOKEN.`;

export function registerConfigCommand(program: Command): void {
  const config = program
    .command('config')
    .description('defaults for share, connect, token and doctor in a config file (get, set, unset, list, path)')
    .helpCommand(false)
    .addHelpText('after', EXAMPLES);
  const keys = SETTINGS.map((spec) => spec.key).join(', ');
  const run = (): Promise<typeof ConfigRun> => import('./config-run.js');
  config
    .command('get')
    .description('print the value the config file has for KEY (exit 1 when it has none)')
    .argument('<key>', keys)
    .action(async (key: string) => {
      process.exitCode = (await run()).runConfigGet(key);
    });
  config
    .command('set')
    .description('check VALUE and store it under KEY in the config file')
    .argument('<key>', keys)
    .argument('<value>', 'the value, as you would give it to the flag')
    .action(async (key: string, value: string) => {
      process.exitCode = (await run()).runConfigSet(key, value);
    });
  config
    .command('unset')
    .description('remove KEY from the config file')
    .argument('<key>', keys)
    .action(async (key: string) => {
      process.exitCode = (await run()).runConfigUnset(key);
    });
  config
    .command('list')
    .description('every setting: the value share/connect would use now and where it comes from')
    .action(async () => {
      process.exitCode = (await run()).runConfigList();
    });
  config
    .command('path')
    .description('print where the config file is (it may not exist yet)')
    .action(async () => {
      const { configFilePath } = await import('./config-file.js');
      process.stdout.write(`${configFilePath()}\n`);
    });
}
