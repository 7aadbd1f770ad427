/**
 * `kubepair completion bash|zsh|fish` (src/cli/completion-*.ts): each script, printed by the
 * real CLI, is loaded into the real shell and asked to complete command lines. One shell
 * process per shell answers every query. Differential check: for every command path of the
 * program (read from commander, as the generator does), the shell offers exactly that path's
 * subcommands and options; then the values: --policy, --mode, --scope, config keys, shells,
 * files after <file> options, commands after connect's --.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Command } from 'commander';
import { registerAuditCommand } from '../../../src/cli/audit-command.js';
import { registerCompletionCommand } from '../../../src/cli/completion-command.js';
import { registerConfigCommand } from '../../../src/cli/config-command.js';
import { registerConnectCommand } from '../../../src/cli/connect-command.js';
import { registerControlCommands } from '../../../src/cli/control-command.js';
import { registerDoctorCommand } from '../../../src/cli/doctor-command.js';
import { buildProgram } from '../../../src/cli/program.js';
import { registerRelayCommand } from '../../../src/cli/relay-command.js';
import { registerShareCommand } from '../../../src/cli/share-command.js';
import { registerTokenCommand } from '../../../src/cli/token-command.js';
import { registerApprovalCommands } from '../../../src/cli/approval-command.js';
import { SETTINGS } from '../../../src/cli/settings.js';
import { runKubepair } from '../../helpers/cli.js';


/** The CLI with room for a loaded machine (a process may take seconds to start). */
const kp = (args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): ReturnType<typeof runKubepair> => runKubepair(args, { timeoutMs: 90_000, ...options });
const T = { timeout: 240_000 };
const SEPARATOR = '@@kubepair-completion-test@@';

/** Run `script` in `shell` with `args`; bounded in time; resolves with stdout. */
function runShell(shell: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(shell, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir(), TERM: 'dumb' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${shell} exited ${code ?? signal}: ${stderr}`));
    });
  });
}

/** Every command path of the program with its subcommands and option names. */
function programPaths(): Array<{ path: string; subs: string[]; options: string[] }> {
  const program = buildProgram([registerShareCommand, registerConnectCommand, registerRelayCommand, registerAuditCommand, registerTokenCommand, registerApprovalCommands, registerConfigCommand, registerCompletionCommand, registerDoctorCommand, registerControlCommands]);
  const found: Array<{ path: string; subs: string[]; options: string[] }> = [];
  const visit = (command: Command, path: string): void => {
    const options = command.options.flatMap((option) => [option.long, option.short]).filter((name): name is string => name !== undefined);
    found.push({ path, subs: command.commands.map((sub) => sub.name()).sort(), options: [...options, '--help', '-h'].sort() });
    for (const sub of command.commands) visit(sub, `${path} ${sub.name()}`);
  };
  visit(program, 'kubepair');
  return found;
}

/** The queries: a command line (the last word is being completed) and the answer expected. */
function queries(): Array<{ line: string[]; expected: string[]; exact: boolean }> {
  const list: Array<{ line: string[]; expected: string[]; exact: boolean }> = [];
  for (const { path, subs, options } of programPaths()) {
    const words = path.split(' ');
    if (subs.length > 0) list.push({ line: [...words, ''], expected: subs, exact: true });
    list.push({ line: [...words, '-'], expected: options, exact: true });
  }
  list.push(
    { line: ['kubepair', 'sh'], expected: ['share'], exact: true },
    { line: ['kubepair', 'share', '--po'], expected: ['--policy'], exact: true },
    { line: ['kubepair', 'share', '--policy', ''], expected: ['guarded', 'open', 'readonly'], exact: true },
    { line: ['kubepair', 'share', '--policy', 're'], expected: ['readonly'], exact: true },
    { line: ['kubepair', 'share', '--once', '--mode', 'p'], expected: ['passthrough', 'proxy'], exact: true },
    { line: ['kubepair', 'share', '--context', 'prod', '--po'], expected: ['--policy'], exact: true },
    { line: ['kubepair', 'relay', 'token', 'create', '--scope', ''], expected: ['admin', 'agent', 'client', 'metrics'], exact: true },
    { line: ['kubepair', 'completion', ''], expected: ['bash', 'fish', 'zsh'], exact: true },
    { line: ['kubepair', 'config', 'set', 'share.'], expected: SETTINGS.map((spec) => spec.key).filter((key) => key.startsWith('share.')).sort(), exact: true },
    { line: ['kubepair', 'token', 'status', '--relay', 'https://r.example.com', '-'], expected: ['--help', '--relay', '-h'], exact: true },
  );
  return list;
}

describe('kubepair completion', { timeout: 600_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-completion-'));
    await writeFile(join(dir, 'kubeconfig-prod.yaml'), '');
    await writeFile(join(dir, 'kubeconfig-dev.yaml'), '');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function script(shell: string): Promise<string> {
    const result = await kp(['completion', shell]);
    assert.equal(result.code, 0, result.stderr);
    const path = join(dir, `kubepair.${shell}`);
    await writeFile(path, result.stdout);
    return path;
  }

  /** The shell-specific program that prints, for each query, its candidates then SEPARATOR. */
  function driver(shell: string, scriptPath: string, lines: string[][]): string[] {
    const quote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;
    if (shell === 'bash') {
      const body = lines.map((line) => `q ${line.map(quote).join(' ')}`).join('\n');
      return ['--norc', '--noprofile', '-c', `source ${quote(scriptPath)}\nq() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _kubepair; printf '%s\\n' "\${COMPREPLY[@]}" ${quote(SEPARATOR)}; }\n${body}`];
    }
    if (shell === 'zsh') {
      // compadd filters by the typed prefix; the driver does the same with the candidates.
      const body = lines.map((line) => `q ${line.map(quote).join(' ')}`).join('\n');
      return ['-f', '-c', `source ${quote(scriptPath)}\nq() { local -a reply; __kubepair_candidates "$@"; local cur=\${@[-1]} w; case $reply[1] in words) for w in "\${(@)reply[2,-1]}"; do [[ $w == "$cur"* ]] && print -r -- $w; done ;; *) print -r -- "<$reply[1]>" ;; esac; print -r -- ${quote(SEPARATOR)}; }\n${body}`];
    }
    const body = lines.map((line) => `q ${quote(line.join(' '))}`).join('\n');
    return ['--no-config', '-c', `source ${quote(scriptPath)}\nfunction q; complete -C $argv[1] | string replace -r '\\t.*' ''; echo ${quote(SEPARATOR)}; end\n${body}`];
  }

  async function ask(shell: string, lines: string[][]): Promise<string[][]> {
    const output = await runShell(shell, driver(shell, await script(shell), lines));
    const answers = output.split(`${SEPARATOR}\n`).slice(0, -1).map((block) => block.split('\n').filter((word) => word !== ''));
    assert.equal(answers.length, lines.length, `${shell} answered every query`);
    return answers;
  }

  for (const shell of ['bash', 'zsh', 'fish']) {
    it(`${shell}: every command path offers exactly its subcommands and options; enum values and keys complete by prefix`, T, async () => {
      const list = queries();
      const answers = await ask(shell, list.map((query) => query.line));
      list.forEach((query, index) => {
        const got = [...new Set(answers[index])].sort();
        assert.deepEqual(got, [...query.expected].sort(), `${shell}: ${query.line.join(' ')}|`);
      });
    });
  }

  it('files after <file> options and commands after connect\'s --, in each shell', T, async () => {
    const kubeconfigLine = ['kubepair', 'share', '--kubeconfig', join(dir, 'kubeconfig-p')];
    const commandLine = ['kubepair', 'connect', '1-2345-6789', '--', 'kubect'];
    const bash = await ask('bash', [kubeconfigLine, commandLine]);
    assert.deepEqual(bash[0], [join(dir, 'kubeconfig-prod.yaml')]);
    assert.ok(bash[1]?.includes('kubectl'), `bash offers kubectl after --: ${bash[1]?.join(' ')}`);
    const zsh = await ask('zsh', [kubeconfigLine, commandLine]);
    assert.deepEqual(zsh, [['<files>'], ['<commands>']], 'zsh hands these to _files and _command_names');
    const fish = await ask('fish', [kubeconfigLine, commandLine]);
    assert.deepEqual(fish[0], [join(dir, 'kubeconfig-prod.yaml')]);
    assert.ok(fish[1]?.includes('kubectl'), `fish offers kubectl after --: ${fish[1]?.join(' ')}`);
  });

  it('an unknown shell is a usage error (exit 2)', T, async () => {
    const result = await kp(['completion', 'tcsh']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /value 'tcsh' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish/);
  });
});
