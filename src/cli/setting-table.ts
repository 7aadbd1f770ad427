/**
 * The keys of the user's config file (docs/usage.md "Config file") and the options they give
 * defaults for, as plain data: this module imports nothing, because the program reads it on
 * every start to know whether a command has settings at all. The file's schema is in
 * settings.ts; which value wins, in setting-resolution.ts.
 */

/** A setting's dotted key, as `kubepair config get KEY` and the JSON file name it. */
export type SettingKey = 'relay' | 'relay-ca' | 'proxy-ca' | 'share.mode' | 'share.policy' | 'share.max-duration' | 'share.audit-log';

/** Settings by dotted key, as strings (the way flags give them). */
export type ConfigValues = Partial<Record<SettingKey, string>>;

export interface SettingSpec {
  readonly key: SettingKey;
  /** The commander option it gives a default for (attribute name) and its flag. */
  readonly option: string;
  readonly flag: string;
  /** The environment variable that beats the file, if there is one. */
  readonly env?: string;
  /** Command paths (`share`, `token set`) whose option this is. */
  readonly commands: readonly string[];
  /** What it is, for `kubepair config list`. */
  readonly help: string;
  /** The value when nothing else gives one, as the user should read it. */
  readonly builtIn: string;
}

const RELAY_COMMANDS = ['share', 'connect', 'token set', 'token delete', 'token status'];
const ENDPOINT_COMMANDS = ['share', 'connect'];

/** The settings, in the order `config list` shows them and the file is written. */
export const SETTINGS: readonly SettingSpec[] = [
  { key: 'relay', option: 'relay', flag: '--relay', env: 'KUBEPAIR_RELAY', commands: RELAY_COMMANDS, help: 'relay base URL, e.g. https://relay.example.com', builtIn: 'none' },
  { key: 'relay-ca', option: 'relayCa', flag: '--relay-ca', commands: ENDPOINT_COMMANDS, help: 'extra PEM CA to trust for the relay (absolute path)', builtIn: 'none (the system CAs)' },
  { key: 'proxy-ca', option: 'proxyCa', flag: '--proxy-ca', commands: ENDPOINT_COMMANDS, help: 'PEM CA of a TLS-intercepting proxy (absolute path)', builtIn: 'none' },
  { key: 'share.mode', option: 'mode', flag: '--mode', commands: ['share'], help: 'proxy or passthrough', builtIn: 'proxy' },
  {
    key: 'share.policy',
    option: 'policy',
    flag: '--policy',
    commands: ['share'],
    help: 'readonly, guarded, open (ignored when the mode is passthrough)',
    builtIn: 'guarded (passthrough: open)',
  },
  { key: 'share.max-duration', option: 'maxDuration', flag: '--max-duration', commands: ['share'], help: 'longest a paired session may last, e.g. 30m, 8h', builtIn: '8h' },
  { key: 'share.audit-log', option: 'auditLog', flag: '--audit-log', commands: ['share'], help: 'share\'s audit log (absolute path)', builtIn: '$XDG_STATE_HOME/kubepair/audit.jsonl' },
];

/** The command's path from the program: `share`, `token set`. */
export function commandPath(command: { name(): string; readonly parent: unknown }): string {
  const names: string[] = [];
  for (let at = command as { name(): string; readonly parent: unknown } | null; at !== null && at.parent !== null && at.parent !== undefined; at = at.parent as typeof at) names.unshift(at.name());
  return names.join(' ');
}

/** The settings that give defaults to the command at `path`. */
export function settingsFor(path: string): SettingSpec[] {
  return SETTINGS.filter((spec) => spec.commands.includes(path));
}
