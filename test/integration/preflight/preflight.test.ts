/**
 * npm test's preflight (test/preflight.js, the first command of package.json's `pretest`): on a
 * machine without the programs the tests run, `npm test` stops before compiling anything, names
 * every missing program with the Debian package to install, and exits 1 by itself, instead of
 * failing test files one by one minutes later or waiting for good (a missing redis-server hung
 * test/e2e/forward.test.ts). The programs here are stub files on a private PATH: the preflight
 * only looks for them, it never runs them.
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
  ['tinyproxy', 'tinyproxy-bin'],
  ['prlimit', 'util-linux'],
  ['dbus-daemon', 'dbus-daemon'],
  ['gnome-keyring-daemon', 'gnome-keyring'],
  ['script', 'bsdutils'],
  ['zsh', 'zsh'],
  ['fish', 'fish'],
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
});
