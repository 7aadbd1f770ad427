/**
 * What shell completion knows about kubepair, read from the commander program itself
 * (docs/usage.md "Shell completion"), so a new command or option completes without anyone
 * editing a script: every command path with its subcommands, its options (long and short
 * names, whether they take a value) and the values an option or a positional argument
 * accepts — commander's `choices`, a few enumerations the commands check themselves
 * (`--policy`, `--scope`, ...), files for `<file>` values, and config keys.
 *
 * Every word that goes into a script is checked against a plain character set here, so the
 * generated scripts never need quoting beyond single quotes.
 */
import type { Argument, Command, Option } from 'commander';
import { RELAY_LOG_LEVELS } from '../relay/relay-options.js';
import { TOKEN_SCOPES } from '../relay/token-file.js';
import { POLICY_MODES } from '../protocol/policy-shape.js';
import { SETTINGS } from './settings.js';

/** Values an option or argument completes to: fixed words, or file names. */
export type ValueHint = { readonly kind: 'words'; readonly words: readonly string[] } | { readonly kind: 'files' };

export interface CompletionOption {
  readonly long?: string | undefined;
  readonly short?: string | undefined;
  readonly description: string;
  readonly takesValue: boolean;
  readonly values?: ValueHint | undefined;
}

export interface CompletionCommand {
  /** `kubepair`, `kubepair token set`. */
  readonly path: string;
  readonly subcommands: ReadonlyArray<{ readonly name: string; readonly description: string }>;
  readonly options: readonly CompletionOption[];
  /** What the next positional argument completes to, if anything. */
  readonly args?: ValueHint | undefined;
  /** True when words after `--` are a command to run (connect -- CMD). */
  readonly runsCommand: boolean;
}

/** Option values the commands check themselves (no commander `choices`), by long flag. */
const OPTION_VALUES: Readonly<Record<string, readonly string[]>> = {
  '--policy': POLICY_MODES,
  '--scope': TOKEN_SCOPES,
  '--log-level': RELAY_LOG_LEVELS,
  '--auth': ['tokens', 'none'],
};

/** Positional arguments by name. */
const ARGUMENT_VALUES: Readonly<Record<string, ValueHint>> = {
  key: { kind: 'words', words: SETTINGS.map((spec) => spec.key) },
  file: { kind: 'files' },
};

const WORD = /^[A-Za-z0-9@._:/=,+-]+$/;

function checkedWords(words: readonly string[], where: string): ValueHint {
  for (const word of words) if (!WORD.test(word)) throw new Error(`completion: ${where}: ${JSON.stringify(word)} is not a plain word`);
  return { kind: 'words', words };
}

function optionValues(option: Option): ValueHint | undefined {
  if (!option.required && !option.optional) return undefined;
  if (option.argChoices !== undefined) return checkedWords(option.argChoices, option.flags);
  const known = option.long === undefined ? undefined : OPTION_VALUES[option.long];
  if (known !== undefined) return checkedWords(known, option.flags);
  return /<file>|\[file\]/.test(option.flags) ? { kind: 'files' } : undefined;
}

function argumentValues(argument: Argument | undefined, path: string): ValueHint | undefined {
  if (argument === undefined) return undefined;
  if (argument.argChoices !== undefined) return checkedWords(argument.argChoices, path);
  return ARGUMENT_VALUES[argument.name()];
}

/** One line of description: commander's, without newlines or quotes a script would need to escape. */
function plain(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/['"`$\\]/g, '').slice(0, 100);
}

function describeOption(option: Option): CompletionOption {
  for (const name of [option.long, option.short]) if (name !== undefined && !WORD.test(name)) throw new Error(`completion: option ${name}`);
  return { long: option.long, short: option.short, description: plain(option.description), takesValue: option.required || option.optional, values: optionValues(option) };
}

/** Every command path of `program`, depth first, the program itself first. */
export function completionTree(program: Command): CompletionCommand[] {
  const found: CompletionCommand[] = [];
  const visit = (command: Command, path: string): void => {
    const subcommands = command.commands.map((sub) => ({ name: sub.name(), description: plain(sub.description()) }));
    for (const sub of subcommands) if (!WORD.test(sub.name)) throw new Error(`completion: command ${sub.name}`);
    const options = [...command.options.filter((option) => !option.hidden).map(describeOption), { long: '--help', short: '-h', description: 'show help for a command', takesValue: false }];
    const args = command.registeredArguments;
    found.push({
      path,
      subcommands,
      options: dedupe(options),
      args: argumentValues(args[0], path),
      runsCommand: args.some((argument) => argument.variadic && argument.name() === 'command'),
    });
    for (const sub of command.commands) visit(sub, `${path} ${sub.name()}`);
  };
  visit(program, program.name());
  return found;
}

function dedupe(options: CompletionOption[]): CompletionOption[] {
  const seen = new Set<string>();
  return options.filter((option) => {
    const key = option.long ?? option.short ?? '';
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
