/**
 * The work of `kubepair config get|set|unset|list` (config-command.ts has the options and
 * help): `set` checks the value as the file's schema does before writing, and every write
 * replaces the file atomically with mode 0600 (config-file.ts). `list` shows every setting with
 * the value the commands would use now and where it comes from. Loaded only when a config
 * command runs, with the schema library.
 */
import { configFilePath, readConfigFile, writeConfigFile } from './config-file.js';
import { formatSetting, resolveSetting } from './setting-resolution.js';
import { SETTINGS, checkSettingValue, settingSpec } from './settings.js';

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

