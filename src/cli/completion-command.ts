/**
 * `kubepair completion bash|zsh|fish`: print the shell's completion script, generated from this
 * very program's commands and options (completion-tree.ts, completion-scripts.ts), so it cannot
 * drift from the CLI. docs/usage.md "Shell completion" has the install lines.
 */
import { Argument } from 'commander';
import type { Command } from 'commander';

/** The shells a script is generated for; the generator is loaded only when the command runs. */
const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;
type CompletionShell = (typeof COMPLETION_SHELLS)[number];

const EXAMPLES = `
Install (then open a new shell):
  bash:  kubepair completion bash > ~/.local/share/bash-completion/completions/kubepair
         (or: echo 'source <(kubepair completion bash)' >> ~/.bashrc)
  zsh:   echo 'source <(kubepair completion zsh)' >> ~/.zshrc      (after compinit)
         (or: kubepair completion zsh > "\${fpath[1]}/_kubepair")
  fish:  kubepair completion fish > ~/.config/fish/completions/kubepair.fish

Regenerate the script after upgrading kubepair.`;

/** The root of the program `command` belongs to. */
function rootOf(command: Command): Command {
  let root = command;
  while (root.parent !== null) root = root.parent;
  return root;
}

export function registerCompletionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'the shell').choices(COMPLETION_SHELLS))
    .addHelpText('after', EXAMPLES)
    .action(async (shell: CompletionShell, _options: unknown, command: Command) => {
      const [{ completionScript }, { completionTree }] = await Promise.all([import('./completion-scripts.js'), import('./completion-tree.js')]);
      process.stdout.write(completionScript(shell, completionTree(rootOf(command))));
    });
}
