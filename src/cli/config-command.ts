/**
 * `kubepair config get|set|unset|list|path`: the user's config file (config-file.ts) of
 * defaults for share, connect, token and doctor (settings.ts; docs/usage.md "Config file").
 * `set` checks the value as the file's schema does before writing, and every write replaces the
 * file atomically with mode 0600. `list` shows every setting with the value the commands would
 * use now and where it comes from.
 */
import type { Command } from 'commander';
import { configFilePath, readConfigFile, writeConfigFile } from './config-file.js';
import { formatSetting, resolveSetting } from './setting-resolution.js';
import { SETTINGS, checkSettingValue, settingSpec } from './settings.js';

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

export interface ConfigCommandIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const processIo = (): ConfigCommandIo => ({ env: process.env, stdout: process.stdout, stderr: process.stderr });

/** `config get KEY`: the file's value on stdout; exit 1 (and a note on stderr) when the file has none. */
export function runConfigGet(key: string, io: ConfigCommandIo = processIo()): number {
  const spec = settingSpec(key);
  const file = readConfigFile(configFilePath(io.env));
  const value = file.values[spec.key];
  if (value === undefined) {
    io.stderr.write(`kubepair: ${spec.key} is not set in ${file.path} (built-in default: ${spec.builtIn})\n`);
    return 1;
  }
  io.stdout.write(`${value}\n`);
  return 0;
}

export function runConfigSet(key: string, value: string, io: ConfigCommandIo = processIo()): number {
  const spec = settingSpec(key);
  checkSettingValue(spec.key, value);
  const file = readConfigFile(configFilePath(io.env));
  writeConfigFile(file.path, { ...file.values, [spec.key]: value });
  io.stdout.write(`${spec.key} = ${value} (in ${file.path})\n`);
  if (spec.env !== undefined && io.env[spec.env] !== undefined && io.env[spec.env] !== '') {
    io.stderr.write(`kubepair: note: ${spec.env} is set here and beats the file\n`);
  }
  return 0;
}

export function runConfigUnset(key: string, io: ConfigCommandIo = processIo()): number {
  const spec = settingSpec(key);
  const file = readConfigFile(configFilePath(io.env));
  if (file.values[spec.key] === undefined) {
    io.stdout.write(`${spec.key} was not set in ${file.path}\n`);
    return 0;
  }
  const rest = { ...file.values };
  delete rest[spec.key];
  writeConfigFile(file.path, rest);
  io.stdout.write(`${spec.key} removed from ${file.path}\n`);
  return 0;
}

export function runConfigList(io: ConfigCommandIo = processIo()): number {
  const file = readConfigFile(configFilePath(io.env));
  io.stdout.write(`config file: ${file.path}${file.exists ? '' : ' (not created yet)'}\n`);
  for (const spec of SETTINGS) io.stdout.write(`${formatSetting(resolveSetting(spec, undefined, { env: io.env, file }))}\n    ${spec.help}\n`);
  return 0;
}

export function registerConfigCommand(program: Command): void {
  const config = program
    .command('config')
    .description('defaults for share, connect, token and doctor in a config file (get, set, unset, list, path)')
    .helpCommand(false)
    .addHelpText('after', EXAMPLES);
  const keys = SETTINGS.map((spec) => spec.key).join(', ');
  config
    .command('get')
    .description('print the value the config file has for KEY (exit 1 when it has none)')
    .argument('<key>', keys)
    .action((key: string) => {
      process.exitCode = runConfigGet(key);
    });
  config
    .command('set')
    .description('check VALUE and store it under KEY in the config file')
    .argument('<key>', keys)
    .argument('<value>', 'the value, as you would give it to the flag')
    .action((key: string, value: string) => {
      process.exitCode = runConfigSet(key, value);
    });
  config
    .command('unset')
    .description('remove KEY from the config file')
    .argument('<key>', keys)
    .action((key: string) => {
      process.exitCode = runConfigUnset(key);
    });
  config
    .command('list')
    .description('every setting: the value share/connect would use now and where it comes from')
    .action(() => {
      process.exitCode = runConfigList();
    });
  config
    .command('path')
    .description('print where the config file is (it may not exist yet)')
    .action(() => {
      process.stdout.write(`${configFilePath()}\n`);
    });
}
