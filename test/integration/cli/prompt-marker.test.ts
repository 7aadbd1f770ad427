/**
 * The `[kubepair:CLUSTER]` prompt marker of connect's shell (src/cli/prompt-marker.ts, issue 11
 * §3) under a real pseudo-terminal (util-linux `script`): in bash, zsh and fish whose rc files
 * install a prompt theme that rebuilds the prompt before every prompt, the prompt printed after
 * a command still starts with the marker, exactly once. The shell is started by
 * startChildSession as connect starts it (test/helpers/shell-session-child.ts), in a temporary
 * HOME; the cluster name is the agent's, so a hostile one must stay inert in every shell.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startChildSession } from '../../../src/cli/child-session.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { sanitizeClusterName } from '../../../src/session/cluster-name.js';
import type { ManagedProcess } from '../../helpers/managed-process.js';
import { startProcess } from '../../helpers/managed-process.js';
import { repoPath } from '../../helpers/paths.js';
import { waitUntil } from '../../helpers/wait-until.js';

const T = { timeout: 60_000 };
const WAIT_MS = 20_000;
const CHILD = repoPath('build/test/helpers/shell-session-child.js');

function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The terminal's text without escape sequences (colours, bracketed paste, fish's cursor moves). */
function plain(output: string): string {
  // eslint-disable-next-line no-control-regex
  return output.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[()][0-9A-Za-z]|\u001b[=>]/g, '');
}

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

interface ShellUnderPty {
  readonly process: ManagedProcess;
  text(): string;
  type(line: string): void;
}

interface Setup {
  readonly shell: string;
  readonly home: string;
  readonly scratch: string;
  readonly cwd: string;
  readonly clusterName?: string;
  readonly env?: Readonly<Record<string, string>>;
}

function startShell(setup: Setup): ShellUnderPty {
  const command = `cd ${quote(setup.cwd)} && exec ${quote(process.execPath)} ${quote(CHILD)} ${quote(setup.shell)} ${quote(setup.clusterName ?? 'prod-eu')} ${quote(setup.scratch)}`;
  // The shells' own history files go to the working directory, so HOME holds only what the test put there.
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: setup.home, TERM: 'dumb', LANG: 'C.UTF-8', SHELL: '/bin/sh', HISTFILE: join(setup.cwd, 'history'), ...setup.env };
  const child = startProcess('script', ['-qfec', command, '/dev/null'], env);
  return { process: child, text: () => plain(child.stdout()), type: (line) => child.child.stdin.write(`${line}\n`) };
}

/**
 * Wait for the first prompt, run `command` (whose output has `anchor`), and return the first
 * prompt line drawn after that output (fish redraws the line with CR, so one drawing of it).
 */
/** waitUntil, with what the terminal showed when the time ran out. */
async function waitForScreen(shell: ShellUnderPty, condition: () => boolean, what: string): Promise<void> {
  try {
    await waitUntil(condition, WAIT_MS, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the terminal showed: ${JSON.stringify(shell.text())}`, { cause: err });
  }
}

async function promptAfter(shell: ShellUnderPty, firstPrompt: string, command: string, anchor: string, prompt: string): Promise<string> {
  await waitForScreen(shell, () => shell.text().includes(firstPrompt), `the first prompt (${firstPrompt})`);
  shell.type(command);
  const drawnAfter = (): string | undefined => {
    const text = shell.text();
    const at = text.indexOf(anchor);
    if (at < 0) return undefined;
    return text
      .slice(at + anchor.length)
      .split(/[\r\n]/)
      .find((line) => line.includes(prompt));
  };
  await waitForScreen(shell, () => drawnAfter() !== undefined, `a prompt (${prompt}) after ${anchor}`);
  return drawnAfter()!;
}

async function exitShell(shell: ShellUnderPty): Promise<void> {
  try {
    shell.type('exit 0');
    const exit = await shell.process.exitedWithin(WAIT_MS);
    assert.equal(exit.code, 0, shell.text());
  } finally {
    await shell.process.stop('SIGKILL');
  }
}

/** Every file under `dir` with a hash of its content, to show nothing was changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path] = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  }
  return out;
}

describe('connect shell: the prompt marker survives prompt themes', () => {
  let root: string;
  let n = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kubepair-prompt-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** A fresh HOME holding `files` (path relative to HOME → content), a runtime dir and a cwd. */
  async function world(files: Readonly<Record<string, string>>): Promise<{ home: string; scratch: string; cwd: string }> {
    const base = join(root, `case-${++n}`);
    const home = join(base, 'home');
    const scratch = join(base, 'runtime');
    const cwd = join(base, 'cwd');
    for (const dir of [home, scratch, cwd]) await mkdir(dir, { recursive: true, mode: 0o700 });
    // Present, so fish does not start generating completions in the background at its first start.
    await mkdir(join(home, '.local/share/fish/generated_completions'), { recursive: true });
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(home, path, '..'), { recursive: true });
      await writeFile(join(home, path), text);
    }
    return { home, scratch, cwd };
  }

  const MARKER = '[kubepair:prod-eu] ';
  const SH_COMMAND = 'echo ran-$((6*7)); false';
  const FISH_COMMAND = 'echo ran-(math 6 \\* 7); false';

  describe('bash', () => {
    for (const [kind, rc] of [
      ['a string', `PROMPT_COMMAND='PS1="themed[\\$?]> "'\n`],
      ['an array (bash 5.1+)', `PROMPT_COMMAND=('PS1="themed[\\$?]> "')\n`],
    ] as const) {
      it(`a PROMPT_COMMAND that rebuilds PS1 (${kind}): the marker is on the next prompt, once, and $? is the command's`, T, async () => {
        const dirs = await world({ '.bashrc': rc });
        const shell = startShell({ shell: 'bash', ...dirs });
        try {
          const line = await promptAfter(shell, 'themed[0]> ', SH_COMMAND, 'ran-42', 'themed');
          assert.ok(line.startsWith(`${MARKER}themed[1]> `), line);
          assert.equal(count(line, '[kubepair:'), 1, line);
        } finally {
          await exitShell(shell);
        }
      });
    }
  });

  describe('zsh', () => {
    it('a precmd() that sets PROMPT: the marker is on the next prompt, once; ZDOTDIR stays unset as it was', T, async () => {
      const dirs = await world({ '.zshrc': 'precmd() { PROMPT="themed[%?]> " }\n' });
      const shell = startShell({ shell: 'zsh', ...dirs });
      try {
        const line = await promptAfter(shell, 'themed[0]> ', `echo "zd=\${ZDOTDIR-unset}"; sh -c 'echo nested=\${ZDOTDIR-unset}'; ${SH_COMMAND}`, 'ran-42', 'themed');
        assert.ok(line.startsWith(`${MARKER}themed[1]> `), line);
        assert.equal(count(line, '[kubepair:'), 1, line);
        assert.match(shell.text(), /^zd=unset\r?$/m);
        assert.match(shell.text(), /^nested=unset\r?$/m);
      } finally {
        await exitShell(shell);
      }
    });

    it('a theme hook added with add-zsh-hook: the marker is on the next prompt, once', T, async () => {
      const dirs = await world({ '.zshrc': 'autoload -Uz add-zsh-hook\ntheme() { PROMPT="themed> " }\nadd-zsh-hook precmd theme\n' });
      const shell = startShell({ shell: 'zsh', ...dirs });
      try {
        const line = await promptAfter(shell, 'themed> ', SH_COMMAND, 'ran-42', 'themed');
        assert.ok(line.startsWith(`${MARKER}themed> `), line);
        assert.equal(count(line, '[kubepair:'), 1, line);
      } finally {
        await exitShell(shell);
      }
    });

    it('a theme hook added at the first prompt, after ours: ours moves last, so the next prompt has the marker, once', T, async () => {
      const dirs = await world({
        '.zshrc': 'autoload -Uz add-zsh-hook\nlate() { PROMPT="late> " }\nfirst() { add-zsh-hook -d precmd first; add-zsh-hook precmd late }\nadd-zsh-hook precmd first\n',
      });
      const shell = startShell({ shell: 'zsh', ...dirs });
      try {
        const line = await promptAfter(shell, MARKER, `${SH_COMMAND}; print -r -- "hooks=$precmd_functions"`, 'hooks=', 'late> ');
        assert.ok(line.startsWith(`${MARKER}late> `), line);
        assert.equal(count(line, '[kubepair:'), 1, line);
      } finally {
        await exitShell(shell);
      }
    });

    it("the user's exported ZDOTDIR: its .zshenv and .zshrc are read, and ZDOTDIR is theirs again, still exported", T, async () => {
      const dirs = await world({
        'zdot/.zshenv': 'export FROM_ZSHENV=yes\n',
        'zdot/.zshrc': 'autoload -Uz add-zsh-hook\ntheme() { PROMPT="themed> " }\nadd-zsh-hook precmd theme\n',
      });
      const zdot = join(dirs.home, 'zdot');
      const shell = startShell({ shell: 'zsh', ...dirs, env: { ZDOTDIR: zdot } });
      try {
        const line = await promptAfter(shell, 'themed> ', `echo "zd=$ZDOTDIR \${(t)ZDOTDIR} env=$FROM_ZSHENV"; sh -c 'echo nested=$ZDOTDIR'`, 'nested=', 'themed');
        assert.ok(line.startsWith(`${MARKER}themed> `), line);
        assert.ok(shell.text().includes(`zd=${zdot} scalar-export env=yes`), shell.text());
        assert.ok(shell.text().includes(`nested=${zdot}`), shell.text());
      } finally {
        await exitShell(shell);
      }
    });

    it('a ZDOTDIR set (not exported) by ~/.zshenv: the .zshrc there is read, ZDOTDIR keeps its value and stays unexported', T, async () => {
      const dirs = await world({
        '.zshenv': 'ZDOTDIR=$HOME/.config/zsh\n',
        '.config/zsh/.zshrc': 'precmd() { PROMPT="themed> " }\n',
      });
      const shell = startShell({ shell: 'zsh', ...dirs });
      try {
        const line = await promptAfter(shell, 'themed> ', `echo "zd=$ZDOTDIR \${(t)ZDOTDIR}"; sh -c 'echo nested=\${ZDOTDIR-unset}'`, 'nested=', 'themed');
        assert.ok(line.startsWith(`${MARKER}themed> `), line);
        assert.ok(shell.text().includes(`zd=${join(dirs.home, '.config/zsh')} scalar\r`), shell.text());
        assert.match(shell.text(), /^nested=unset\r?$/m);
      } finally {
        await exitShell(shell);
      }
    });
  });

  describe('fish', () => {
    it("a fish_prompt of the user's: the marker comes first, once, and $status is the command's", T, async () => {
      const dirs = await world({ '.config/fish/config.fish': "function fish_prompt\n  printf 'themed[%s]> ' $status\nend\n" });
      const shell = startShell({ shell: 'fish', ...dirs });
      try {
        const line = await promptAfter(shell, 'themed[0]> ', FISH_COMMAND, 'ran-42', 'themed');
        assert.ok(line.startsWith(`${MARKER}themed[1]> `), line);
        assert.equal(count(line, '[kubepair:'), 1, line);
      } finally {
        await exitShell(shell);
      }
    });

    it("fish's own default prompt: the marker comes first, once", T, async () => {
      const dirs = await world({});
      const shell = startShell({ shell: 'fish', ...dirs });
      try {
        const line = await promptAfter(shell, MARKER, FISH_COMMAND, 'ran-42', MARKER);
        assert.ok(line.startsWith(MARKER), line);
        assert.equal(count(line, '[kubepair:'), 1, line);
      } finally {
        await exitShell(shell);
      }
    });
  });

  describe('Security: the startup files', () => {
    for (const [shell, files] of [
      ['bash', { '.bashrc': `PROMPT_COMMAND='PS1="themed> "'\n` }],
      ['zsh', { '.zshenv': 'typeset -g SEEN_ZSHENV=1\n', '.zshrc': 'precmd() { PROMPT="themed> " }\n' }],
    ] as const) {
      it(`${shell}: in a private directory (0700, files 0600) of the runtime dir while the shell runs, gone after; the user's files unchanged`, T, async () => {
        const dirs = await world(files);
        const before = await snapshot(dirs.home);
        const session = startShell({ shell, ...dirs });
        try {
          await waitForScreen(session, () => session.text().includes(`${MARKER}themed> `), 'the first prompt');
          const entries = await readdir(dirs.scratch);
          const startup = entries.filter((name) => name.startsWith('kubepair-shell-'));
          assert.equal(startup.length, 1, entries.join(' '));
          const dir = join(dirs.scratch, startup[0]!);
          assert.equal((await stat(dir)).mode & 0o777, 0o700);
          const inside = await readdir(dir);
          assert.ok(inside.length > 0);
          for (const name of inside) assert.equal((await stat(join(dir, name))).mode & 0o777, 0o600, name);
        } finally {
          await exitShell(session);
        }
        assert.deepEqual(await readdir(dirs.scratch), []);
        assert.deepEqual(await snapshot(dirs.home), before);
      });
    }

    it('a cancelled connect writes nothing it leaves behind: KP_ERR_ABORTED, the runtime dir empty', T, async () => {
      const dirs = await world({});
      const controller = new AbortController();
      controller.abort(new Error('interrupted'));
      await assert.rejects(
        startChildSession({ plan: { kind: 'shell', shell: 'zsh' }, kubeconfigPath: join(dirs.scratch, 'kubeconfig'), clusterName: 'c', scratchDir: dirs.scratch, signal: controller.signal }),
        (err: unknown) => isKubepairError(err, 'KP_ERR_ABORTED'),
      );
      assert.deepEqual(await readdir(dirs.scratch), []);
    });

    it('a shell that cannot be started: exit 127, the runtime dir empty', T, async () => {
      const dirs = await world({});
      const child = await startChildSession({ plan: { kind: 'shell', shell: join(dirs.cwd, 'no-such', 'bash') }, kubeconfigPath: join(dirs.scratch, 'kubeconfig'), clusterName: 'c', scratchDir: dirs.scratch });
      assert.equal(await child.exited, 127);
      assert.deepEqual(await readdir(dirs.scratch), []);
    });
  });

  describe("Security: a hostile cluster name is inert in every shell's prompt", () => {
    const HOSTILE = "x$(touch pwned-1)`touch pwned-2`%n\\u'\"; touch pwned-3 #";
    const expected = `[kubepair:${sanitizeClusterName(HOSTILE)}] `;
    const themes: Readonly<Record<string, Readonly<Record<string, string>>>> = {
      bash: { '.bashrc': `PROMPT_COMMAND='PS1="themed> "'\n` },
      zsh: { '.zshrc': 'setopt prompt_subst\nprecmd() { PROMPT="themed> " }\n' },
      fish: { '.config/fish/config.fish': "function fish_prompt; printf 'themed> '; end\n" },
      sh: {},
    };
    for (const shell of ['bash', 'zsh', 'fish', 'sh']) {
      it(`${shell}: the marker shows the sanitized name once and runs nothing; KUBEPAIR_CLUSTER is the sanitized name`, T, async () => {
        const dirs = await world(themes[shell]!);
        const session = startShell({ shell, ...dirs, clusterName: HOSTILE });
        const prompt = shell === 'sh' ? '$ ' : 'themed> ';
        try {
          const line = await promptAfter(session, prompt, shell === 'fish' ? 'echo ran-(math 6 \\* 7) "$KUBEPAIR_CLUSTER"' : 'echo ran-$((6*7)) "$KUBEPAIR_CLUSTER"', 'ran-42', prompt);
          assert.ok(line.startsWith(`${expected}${prompt}`), line);
          assert.equal(count(line, '[kubepair:'), 1, line);
          assert.ok(session.text().includes(`ran-42 ${sanitizeClusterName(HOSTILE)}\r`), session.text());
        } finally {
          await exitShell(session);
        }
        for (const file of ['pwned-1', 'pwned-2', 'pwned-3']) assert.ok(!existsSync(join(dirs.cwd, file)), `${file} was created: the name ran as code`);
      });
    }
  });
});
