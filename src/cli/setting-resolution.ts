/**
 * The one place that decides each setting's value and where it came from
 * (docs/usage.md "Config file"):
 *
 *   command-line flag  >  environment variable  >  config file  >  built-in default
 *
 * `resolveDefaults(command)` fills the options of a parsed command that its command line did not
 * give from the environment or the file, with commander's value source set to `env` or
 * `config`; the program calls it before every action (program.ts), so the commands' own code
 * reads its options as before. `describeSettings()` says where each value comes from, for
 * `--help`, `kubepair config list` and `kubepair doctor`.
 *
 * Untrusted input: the environment and the config file (checked by config-file.ts).
 */
import type { Command } from 'commander';
import { configFilePath, readConfigFile } from './config-file.js';
import type { ConfigFile } from './config-file.js';
import { commandPath, settingsFor } from './setting-table.js';
import type { SettingSpec } from './setting-table.js';

export { commandPath, settingsFor };

/** Where a value came from. */
export type SettingSource = 'flag' | 'environment' | 'config file' | 'default';

export interface ResolvedSetting {
  readonly spec: SettingSpec;
  /** Undefined when nothing gives one (the built-in default then applies, or none exists). */
  readonly value: string | undefined;
  readonly source: SettingSource;
  /** `--relay`, `KUBEPAIR_RELAY`, the file's path, or the built-in default's text. */
  readonly origin: string;
}

export interface SettingInputs {
  readonly env: NodeJS.ProcessEnv;
  readonly file: ConfigFile;
}

/** Resolve one setting: `flagValue` (from the command line) > environment > file > built-in. */
export function resolveSetting(spec: SettingSpec, flagValue: string | undefined, inputs: SettingInputs): ResolvedSetting {
  if (flagValue !== undefined) return { spec, value: flagValue, source: 'flag', origin: spec.flag };
  const fromEnv = spec.env === undefined ? undefined : inputs.env[spec.env];
  if (spec.env !== undefined && fromEnv !== undefined && fromEnv !== '') return { spec, value: fromEnv, source: 'environment', origin: spec.env };
  const fromFile = inputs.file.values[spec.key];
  if (fromFile !== undefined) return { spec, value: fromFile, source: 'config file', origin: inputs.file.path };
  return { spec, value: undefined, source: 'default', origin: spec.builtIn };
}


/** The config file and environment to resolve from (defaults: this process's). */
export function settingInputs(env: NodeJS.ProcessEnv = process.env): SettingInputs {
  return { env, file: readConfigFile(configFilePath(env)) };
}

/**
 * Fill the options of `command` (a parsed commander command) that its command line did not
 * give, from the environment or the config file, and record where each came from (commander's
 * value source `env` / `config`). A command without settings does not read the file. Throws
 * KP_ERR_CONFIG_INVALID / KP_ERR_CONFIG_INSECURE for a file that cannot be used.
 */
export function resolveDefaults(command: Command, inputs?: SettingInputs): void {
  const specs = settingsFor(commandPath(command));
  if (specs.length === 0) return;
  const sources = inputs ?? settingInputs();
  for (const spec of specs) {
    const given = command.getOptionValueSource(spec.option) === 'cli' ? (command.getOptionValue(spec.option) as string | undefined) : undefined;
    // A policy from the file is a default for proxy mode; passthrough cannot enforce one.
    if (spec.key === 'share.policy' && given === undefined && command.getOptionValue('mode') === 'passthrough') continue;
    const resolved = resolveSetting(spec, given, sources);
    if (resolved.source === 'environment') command.setOptionValueWithSource(spec.option, resolved.value, 'env');
    if (resolved.source === 'config file') command.setOptionValueWithSource(spec.option, resolved.value, 'config');
  }
}

/** Each setting of the command at `path` with its value and origin (no flags: as --help sees them). */
export function describeSettings(path: string, inputs: SettingInputs): ResolvedSetting[] {
  return settingsFor(path).map((spec) => resolveSetting(spec, undefined, inputs));
}

/** One line for a resolved setting: `relay: https://... (from config file /path)`. */
export function formatSetting(setting: ResolvedSetting): string {
  const where =
    setting.source === 'flag' ? `from ${setting.origin}` : setting.source === 'environment' ? `from ${setting.origin}` : setting.source === 'config file' ? `from config file ${setting.origin}` : 'built-in default';
  return `${setting.spec.key}: ${setting.value ?? setting.spec.builtIn} (${where})`;
}

/**
 * Help text for the command at `path`: the defaults now in effect and where they come from. A
 * config file that cannot be used is reported here instead of failing `--help`.
 */
export function defaultsHelp(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (settingsFor(path).length === 0) return '';
  let lines: string[];
  try {
    lines = describeSettings(path, settingInputs(env)).map(formatSetting);
  } catch (err) {
    lines = [err instanceof Error ? err.message : 'the config file cannot be read'];
  }
  return `\nDefaults in effect (flags beat environment beat ${configFilePath(env)}):\n${lines.map((line) => `  ${line}`).join('\n')}\n`;
}
