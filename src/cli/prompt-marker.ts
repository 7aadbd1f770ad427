/**
 * The `[kubepair:CLUSTER]` prompt marker of `kubepair connect`'s shell (docs/design.md §1,
 * docs/usage.md "The prompt marker", issue 11 §3): how each shell is started so the marker shows
 * on every prompt, even when a prompt theme rebuilds the prompt before each one.
 *
 * - bash: an rc file that sources ~/.bashrc, then appends to PROMPT_COMMAND (an array from
 *   bash 5.1, a string before) a function that puts the marker back in front of PS1 when the
 *   theme's own PROMPT_COMMAND (starship, bash-git-prompt, liquidprompt) rebuilt PS1 without it.
 * - zsh: ZDOTDIR points at a private directory whose .zshenv and .zshrc source the user's own
 *   (from the user's ZDOTDIR, or HOME, as zsh would), give ZDOTDIR back its value and export
 *   state before the user's .zshrc runs (so nested shells read the user's files), and then add a
 *   `precmd` hook, kept last in precmd_functions, that does what the bash function does for
 *   PROMPT (oh-my-zsh themes, powerlevel10k, a `precmd` that sets PROMPT).
 * - fish: `--init-command` (run after config.fish) copies fish_prompt to a kept name and
 *   defines a fish_prompt that prints the marker, then calls the user's.
 * - any other shell: PS1 and PROMPT in its environment start with the marker; like every
 *   child, it also gets KUBEPAIR_CLUSTER for users who draw their own prompt.
 *
 * The cluster name comes from the agent and is untrusted: it is reduced to `[a-zA-Z0-9._-]`
 * here (again: the caller sanitized it already), so the marker holds nothing that bash's PS1
 * decoding (`\`, `$`, backquotes), zsh's prompt expansion (`%`, `$`) or fish's quoting reads.
 * The marker is never doubled: the hooks add it only when the prompt lacks it.
 */
import { basename } from 'node:path';
import { sanitizeClusterName } from '../session/cluster-name.js';

/** How to start the shell: its arguments, variables to add, and startup files to write first. */
export interface ShellStartup {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** File name → content, written (0600, exclusively) in the private directory `dir`. */
  readonly files: ReadonlyMap<string, string>;
}

/** The text every prompt starts with. */
export function promptMarker(clusterName: string): string {
  return `[kubepair:${sanitizeClusterName(clusterName)}] `;
}

function bashRc(marker: string): string {
  return `# kubepair connect: your ~/.bashrc, then the prompt marker, kept by PROMPT_COMMAND.
[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
__kubepair_marker='${marker}'
__kubepair_mark_prompt() {
  local last_status=$?
  case "$PS1" in
    *"$__kubepair_marker"*) ;;
    *) PS1="$__kubepair_marker$PS1" ;;
  esac
  return $last_status
}
if [ "\${BASH_VERSINFO[0]}" -gt 5 ] || { [ "\${BASH_VERSINFO[0]}" -eq 5 ] && [ "\${BASH_VERSINFO[1]}" -ge 1 ]; }; then
  PROMPT_COMMAND+=(__kubepair_mark_prompt)
else
  PROMPT_COMMAND="\${PROMPT_COMMAND:+$PROMPT_COMMAND
}__kubepair_mark_prompt"
fi
__kubepair_mark_prompt
`;
}

/** Read by zsh first: the user's .zshenv with the user's ZDOTDIR; ours stays set for .zshrc. */
const ZSHENV = `# kubepair connect: your .zshenv as zsh would read it.
typeset -g __kubepair_zdotdir=$ZDOTDIR
if (( \${+KUBEPAIR_USER_ZDOTDIR} )); then export ZDOTDIR=$KUBEPAIR_USER_ZDOTDIR; else unset ZDOTDIR; fi
unset KUBEPAIR_USER_ZDOTDIR
[[ -f "\${ZDOTDIR:-$HOME}/.zshenv" ]] && source "\${ZDOTDIR:-$HOME}/.zshenv"
typeset -g __kubepair_user_zdotdir_type=\${(t)ZDOTDIR} __kubepair_user_zdotdir=\${ZDOTDIR-}
ZDOTDIR=$__kubepair_zdotdir
`;

function zshRc(marker: string): string {
  return `# kubepair connect: your ZDOTDIR back, your .zshrc, then the prompt marker, kept by a precmd hook.
if [[ -z $__kubepair_user_zdotdir_type ]]; then
  unset ZDOTDIR
else
  ZDOTDIR=$__kubepair_user_zdotdir
  if [[ $__kubepair_user_zdotdir_type == *export* ]]; then export ZDOTDIR; else typeset +x ZDOTDIR; fi
fi
unset __kubepair_zdotdir __kubepair_user_zdotdir __kubepair_user_zdotdir_type
[[ -f "\${ZDOTDIR:-$HOME}/.zshrc" ]] && source "\${ZDOTDIR:-$HOME}/.zshrc"
typeset -g __kubepair_marker='${marker}'
__kubepair_mark_prompt() {
  integer last_status=$?
  emulate -L zsh
  [[ $PROMPT == *"$__kubepair_marker"* ]] || PROMPT="$__kubepair_marker$PROMPT"
  # Hooks a theme adds later run after ours: move ours to the end for the next prompt.
  [[ \${precmd_functions[-1]} == __kubepair_mark_prompt ]] || precmd_functions=(\${precmd_functions:#__kubepair_mark_prompt} __kubepair_mark_prompt)
  return $last_status
}
autoload -Uz add-zsh-hook
add-zsh-hook precmd __kubepair_mark_prompt
__kubepair_mark_prompt
`;
}

function fishInit(marker: string): string {
  return [
    'if not functions -q __kubepair_user_fish_prompt',
    '  if functions -q fish_prompt; functions --copy fish_prompt __kubepair_user_fish_prompt',
    "  else; function __kubepair_user_fish_prompt; printf '> '; end; end",
    '  function __kubepair_return_status; return $argv[1]; end',
    `  function fish_prompt; set -l last_status $status; printf '%s' '${marker}'; __kubepair_return_status $last_status; __kubepair_user_fish_prompt; end`,
    'end',
  ].join('\n');
}

/**
 * How to start `shell` so its prompts carry the marker. `dir` is the private directory the
 * files will be written to; `env` is the environment the shell gets (its ZDOTDIR, PS1, PROMPT
 * are read, never changed in place).
 */
export function shellStartup(shell: string, clusterName: string, dir: string, env: NodeJS.ProcessEnv): ShellStartup {
  const marker = promptMarker(clusterName);
  switch (basename(shell)) {
    case 'bash':
      return { args: ['--rcfile', `${dir}/bashrc`, '-i'], env: {}, files: new Map([['bashrc', bashRc(marker)]]) };
    case 'zsh': {
      const userZdotdir = env['ZDOTDIR'];
      return {
        args: ['-i'],
        env: { ZDOTDIR: dir, ...(userZdotdir !== undefined && { KUBEPAIR_USER_ZDOTDIR: userZdotdir }) },
        files: new Map([
          ['.zshenv', ZSHENV],
          ['.zshrc', zshRc(marker)],
        ]),
      };
    }
    case 'fish':
      return { args: ['-i', '--init-command', fishInit(marker)], env: {}, files: new Map() };
    default:
      return { args: ['-i'], env: { PS1: `${marker}${env['PS1'] ?? '$ '}`, PROMPT: `${marker}${env['PROMPT'] ?? '%# '}` }, files: new Map() };
  }
}
