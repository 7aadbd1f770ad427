/**
 * The package as a user gets it (issue 11 §2). `npm pack` in a copy of this checkout that has
 * no build output (no dist/, no build/: what a fresh clone has after `npm ci`), then
 * `npm install -g` of the tarball into an empty prefix, then the installed `PREFIX/bin/kubepair`
 * runs everything: every command's --help, a relay with tokens, `kubepair share` against the
 * test API server, `kubepair token set` into a real Secret Service, `kubepair doctor` and
 * `kubepair connect CODE -- kubectl get pods`. Also what the tarball holds (the bundle
 * scripts/bundle.mjs builds, split into chunks, with connect's entry as one file, its third-party notices, LICENSE, README, SECURITY.md and the docs
 * the help and the README point to; no sources, tests, source maps or benchmarks), that its
 * only dependencies are the native packages the bundle cannot hold, that the bundle fills its
 * compile cache, and the installed size (issue 15: at most 25 MB).
 *
 * npm fetches those dependencies from the registry (the tarball holds kubepair only), with the
 * developer's own npm configuration (registry, proxy, cache): only the npm_* variables that
 * `npm test` sets for its scripts are left out, so the nested npm sees what a user's shell
 * would. Node.js is the one running this test, first on PATH, as a user's would be. Every npm
 * run is bounded and killed with its process group when the time is up.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AFTER_COMPILE } from '../../src/cli/eager-compile.js';
import { BIN_LAUNCH_LINES, BIN_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { runKubepair } from '../helpers/cli.js';
import { CODE_CACHE_DEBUG_ENV, builtinCodeCache } from '../helpers/code-cache.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { kubectlSandbox } from '../helpers/kubectl.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { privateTempDir } from '../helpers/relay-process.js';
import type { SecretService } from '../helpers/secret-service.js';
import { startSecretService } from '../helpers/secret-service.js';

/** `npm pack` (its prepack step bundles src/ with esbuild: seconds idle, more on a loaded 2-core machine), in ms. */
const PACK_TIMEOUT_MS = 300_000;
/** `npm install -g` of the tarball (its few native dependencies from the registry or npm's cache), in ms. */
const INSTALL_TIMEOUT_MS = 300_000;
/** One short kubepair command (--version, --help, token set), in ms. */
const COMMAND_TIMEOUT_MS = 60_000;
/** `connect CODE -- kubectl get pods`: pairing, the tunnel and one kubectl call, in ms. */
const CONNECT_TIMEOUT_MS = 120_000;
/** How long the output of a killed npm may stay open, in ms. */
const CLOSE_AFTER_KILL_MS = 10_000;
/** The most output kept per stream of an npm run. */
const MAX_OUTPUT_CHARS = 1024 * 1024;
/** SHA-256 of the Apache License 2.0 text as apache.org publishes it (LICENSE-2.0.txt, 11358 bytes). */
const APACHE_2_0_SHA256 = 'cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30';
/** What the tarball may hold: the bundle and its notices, the docs the README and the help point to, the license. */
const SHIPPED = /^(?:package\.json|README\.md|LICENSE|SECURITY\.md|docs\/[\w.-]+\.(?:md|svg)|dist\/cli\/(?:main|run-cli|connect-cli|heap-flag-reset|chunks\/[\w-]+)\.js|dist\/THIRD-PARTY-NOTICES\.txt)$/;
/**
 * The package's run-time dependencies: only the native packages a bundle cannot hold
 * (scripts/bundle.mjs RUNTIME_PACKAGES), and what they bring: bufferutil's loader and
 * the keyring's prebuilt binary for this platform.
 */
const RUNTIME_DEPENDENCIES = ['@napi-rs/keyring', 'bufferutil'];
const INSTALLED_PACKAGES = /^(?:@napi-rs\/keyring|@napi-rs\/keyring-[\w-]+|bufferutil|node-gyp-build)$/;
/** Issue 15's goal for `npm install -g` (the whole prefix, apparent size), in bytes: 25 MB. */
const INSTALLED_SIZE_GOAL_BYTES = 25_000_000;
/** Top-level entries of the checkout the copy leaves out: build output, dependencies, git. */
const NOT_COPIED = new Set(['node_modules', 'build', 'dist', '.git']);
/** The commands `kubepair --help` lists; each answers its own --help. */
const COMMANDS = ['relay', 'share', 'connect', 'token', 'audit', 'config', 'doctor', 'completion'];
const POD = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'default' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } };

interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run a command to its end in `cwd`, in its own process group; when it outlives `timeoutMs` the
 * whole group (npm and the scripts it runs) is killed and this rejects, naming the command.
 */
function runBounded(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<CommandResult> {
  const label = [command, ...args].join(' ');
  const child = spawn(command, [...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout = (stdout + chunk).slice(-MAX_OUTPUT_CHARS)));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-MAX_OUTPUT_CHARS)));
  return new Promise((resolvePromise, reject) => {
    let killedAt: number | undefined;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    };
    const timer = setTimeout(() => {
      killedAt = Date.now();
      killGroup();
      setTimeout(() => reject(new Error(`${label}: output still open ${CLOSE_AFTER_KILL_MS} ms after SIGKILL`)), CLOSE_AFTER_KILL_MS).unref();
    }, options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${label} could not be started: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (killedAt !== undefined) reject(new Error(`${label} did not finish within ${options.timeoutMs} ms (killed):\n${stderr.slice(-4000)}`));
      else resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** This environment without what `npm test` adds for its scripts (npm_*), Node.js first on PATH. */
function userEnvironment(pathFirst: readonly string[]): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return { ...env, PATH: [...pathFirst, dirname(process.execPath), process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter) };
}

/** Every regular file under `dir`, as paths relative to it (symbolic links are not followed). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)));
  }
  return out;
}

/** Bytes of the regular files under `dir` (the apparent size; links count once, as links). */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const file of await filesUnder(dir)) total += (await lstat(join(dir, file))).size;
  return total;
}

/** The failure output of a command, for assertion messages. */
function output(result: CommandResult): string {
  return `exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`;
}

describe('e2e: the package a user installs (npm pack, npm install -g into an empty prefix, the installed kubepair)', () => {
  let dir: string;
  let prefix: string;
  let packageDir: string;
  let bin: string;
  let userPath: string;
  let tarballFiles: string[];
  let version: string;

  before(async () => {
    dir = await privateTempDir('kubepair-package-');
    const source = join(dir, 'checkout');
    const packed = join(dir, 'packed');
    prefix = join(dir, 'prefix');
    for (const path of [packed, prefix]) await mkdir(path);
    // The checkout without build output; its dependencies are this checkout's (npm ci's).
    await cp(REPO_ROOT, source, { recursive: true, filter: (path) => !NOT_COPIED.has(relative(REPO_ROOT, path).split(/[\\/]/)[0] ?? '') });
    await symlink(join(REPO_ROOT, 'node_modules'), join(source, 'node_modules'), 'dir');
    version = (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

    const pack = await runBounded('npm', ['pack', '--json', '--pack-destination', packed], { cwd: source, env: userEnvironment([]), timeoutMs: PACK_TIMEOUT_MS });
    assert.equal(pack.code, 0, `npm pack failed: ${output(pack)}`);
    const [report] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    assert.ok(report !== undefined, `npm pack reported nothing: ${output(pack)}`);
    tarballFiles = report.files.map((file) => file.path).sort();

    const install = await runBounded('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', join(packed, report.filename)], {
      cwd: dir,
      env: userEnvironment([]),
      timeoutMs: INSTALL_TIMEOUT_MS,
    });
    assert.equal(install.code, 0, `npm install -g of the tarball failed (it needs the npm registry for the dependencies): ${output(install)}`);
    bin = join(prefix, 'bin', 'kubepair');
    packageDir = join(prefix, 'lib', 'node_modules', 'kubepair');
    userPath = userEnvironment([join(prefix, 'bin')])['PATH']!;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('the tarball holds the build, LICENSE (Apache-2.0), README, SECURITY.md and docs, and no sources, tests, maps or benchmarks', async () => {
    for (const file of tarballFiles) assert.match(file, SHIPPED, `${file} should not be in the package`);
    for (const needed of ['package.json', 'LICENSE', 'README.md', 'SECURITY.md', 'dist/cli/main.js', 'dist/cli/run-cli.js', 'dist/cli/connect-cli.js', 'dist/cli/heap-flag-reset.js', 'dist/THIRD-PARTY-NOTICES.txt', 'docs/operations.md', 'docs/usage.md']) {
      const listed = [...tarballFiles.filter((file) => !file.startsWith('dist/')), `and ${tarballFiles.filter((file) => file.startsWith('dist/')).length} files under dist/`];
      assert.ok(tarballFiles.includes(needed), `${needed} is missing from the package, which holds ${listed.join(' ')}`);
    }
    // The same files, installed (npm adds nothing of ours, leaves nothing out).
    const installed = (await filesUnder(packageDir)).filter((file) => !file.startsWith(`node_modules/`)).sort();
    assert.deepEqual(installed, tarballFiles);
    const license = await readFile(join(packageDir, 'LICENSE'));
    assert.equal(createHash('sha256').update(license).digest('hex'), APACHE_2_0_SHA256, 'LICENSE is the Apache License 2.0 text, byte for byte');
    const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as { license: string; engines: { node: string }; dependencies?: Record<string, string> };
    assert.equal(manifest.license, 'Apache-2.0');
    const notices = await readFile(join(packageDir, 'dist', 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    for (const bundled of ['@kubernetes/client-node@', 'fastify@', 'ws@', '@noble/curves@', 'zod@']) assert.ok(notices.includes(bundled), `the notices name ${bundled}`);
  });

  it('the bundle needs only the native dependencies it cannot hold, and the install stays within 25 MB', async (t) => {
    const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}).sort(), RUNTIME_DEPENDENCIES);
    const installedPackages: string[] = [];
    for (const entry of await readdir(join(packageDir, 'node_modules'), { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      if (!entry.name.startsWith('@')) installedPackages.push(entry.name);
      else for (const scoped of await readdir(join(packageDir, 'node_modules', entry.name))) installedPackages.push(`${entry.name}/${scoped}`);
    }
    for (const name of installedPackages) assert.match(name, INSTALLED_PACKAGES, `npm installed ${name}, which the bundle should hold or package.json should not ask for`);
    // The size is that of fixed files (the bundle, the docs, pinned native packages): the same on every run.
    const size = await bytesUnder(prefix);
    const dependencies = await bytesUnder(join(packageDir, 'node_modules'));
    t.diagnostic(`installed: ${(size / 1e6).toFixed(1)} MB (kubepair ${((size - dependencies) / 1e6).toFixed(1)} MB, dependencies ${(dependencies / 1e6).toFixed(1)} MB: ${installedPackages.join(', ')})`);
    assert.ok(size <= INSTALLED_SIZE_GOAL_BYTES, `npm install -g takes ${(size / 1e6).toFixed(1)} MB, more than issue 15's 25 MB`);
  });

  it('the bundle loads Node.js builtins with require: no ES module import of one but the banner\'s node:module (no facades that run lazy getters)', async () => {
    const files = (await filesUnder(packageDir)).filter((name) => name.startsWith('dist/') && name.endsWith('.js'));
    assert.ok(files.length > 2, 'the bundle is split into chunks');
    for (const file of files) {
      const text = await readFile(join(packageDir, file), 'utf8');
      const imported = [...text.matchAll(/\bfrom\s*["'](node:[\w/]+)["']/g)].map((match) => match[1]);
      assert.deepEqual(imported, ['node:module'], `${file} imports ${imported.join(', ')}`);
    }
  });

  it('every docs/ file the shipped code and the shipped Markdown point to is in the package', async () => {
    const files = await filesUnder(packageDir);
    const references: Array<{ from: string; target: string }> = [];
    for (const file of files.filter((name) => name.startsWith('dist/') && name.endsWith('.js'))) {
      for (const match of (await readFile(join(packageDir, file), 'utf8')).matchAll(/\bdocs\/[\w.-]+\.md\b/g)) references.push({ from: file, target: match[0] });
    }
    for (const file of files.filter((name) => !name.startsWith('node_modules/') && name.endsWith('.md'))) {
      for (const match of (await readFile(join(packageDir, file), 'utf8')).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const link = match[1]!;
        if (/^[a-z]+:/i.test(link)) continue; // https:, mailto:
        references.push({ from: file, target: relative(packageDir, resolve(packageDir, dirname(file), link)) });
      }
    }
    assert.ok(references.some(({ target }) => target === 'docs/operations.md'), 'relay --help points to docs/operations.md');
    for (const { from, target } of references) assert.ok(existsSync(join(packageDir, target)), `${from} points to ${target}, which is not in the package`);
  });

  it('PREFIX/bin/kubepair is the installed dist/cli/main.js and answers --version, --help and every command\'s --help', async () => {
    assert.equal(resolve(dirname(bin), await readlink(bin)), join(packageDir, 'dist', 'cli', 'main.js'));
    const env = { PATH: userPath, HOME: dir };
    const versionRun = await runKubepair(['--version'], { program: bin, env, timeoutMs: COMMAND_TIMEOUT_MS });
    assert.deepEqual([versionRun.code, versionRun.stdout, versionRun.stderr], [0, `${version}\n`, '']);
    const help = await runKubepair(['--help'], { program: bin, env, timeoutMs: COMMAND_TIMEOUT_MS });
    assert.equal(help.code, 0, help.stderr);
    for (const command of COMMANDS) assert.match(help.stdout, new RegExp(`^ {2}${command}\\b`, 'm'), `--help lists ${command}:\n${help.stdout}`);
    for (const command of COMMANDS) {
      const commandHelp = await runKubepair([command, '--help'], { program: bin, env, timeoutMs: COMMAND_TIMEOUT_MS });
      assert.deepEqual([commandHelp.code, commandHelp.stderr], [0, ''], `kubepair ${command} --help`);
      assert.match(commandHelp.stdout, new RegExp(`^Usage: kubepair ${command}\\b`, 'm'), `kubepair ${command} --help`);
      if (command === 'relay') assert.match(commandHelp.stdout, /docs\/operations\.md/);
    }
    const completion = await runKubepair(['completion', 'bash'], { program: bin, env, timeoutMs: COMMAND_TIMEOUT_MS });
    assert.equal(completion.code, 0, completion.stderr);
    assert.match(completion.stdout, /complete .*kubepair/);
  });

  it("connect's entry is one file whose first statements (before any bundled code) turn V8's lazy compilation back on (src/cli/eager-compile.ts)", async () => {
    const text = await readFile(join(packageDir, 'dist', 'cli', 'connect-cli.js'), 'utf8');
    assert.doesNotMatch(text, /from\s*"\.\.?\//, 'no import of another file of the bundle');
    assert.ok(text.split('\n').slice(0, 3).includes(`globalThis[Symbol.for(${JSON.stringify(AFTER_COMPILE).replaceAll('"', "'")})]?.();`), text.slice(0, 300));
  });

  it('the installed kubepair runs in a Node.js started with the flags of its launch lines (--initial-old-space-size, src/cli/node-flags.ts)', async () => {
    assert.deepEqual((await readFile(join(packageDir, 'dist', 'cli', 'main.js'), 'utf8')).split('\n').slice(0, 2), [...BIN_LAUNCH_LINES]);
    const preload = join(dir, 'report-exec-argv.cjs');
    const report = join(dir, 'exec-argv.json');
    // NODE_OPTIONS may preload a script: it records the flags node was started with.
    await writeFile(preload, `require('node:fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify(process.execArgv));\n`);
    const versionRun = await runKubepair(['--version'], { program: bin, env: { PATH: userPath, HOME: dir, NODE_OPTIONS: `--require ${preload}` }, timeoutMs: COMMAND_TIMEOUT_MS });
    assert.deepEqual([versionRun.code, versionRun.stdout, versionRun.stderr], [0, `${version}\n`, '']);
    const execArgv = JSON.parse(await readFile(report, 'utf8')) as string[];
    for (const flag of BIN_NODE_FLAGS) assert.ok(execArgv.includes(flag), `node ran with ${JSON.stringify(execArgv)}, missing ${flag}`);
  });

  it("main.js's first import puts the heap flag back (src/cli/heap-flag-reset.ts): Node.js's modules loaded after it take their built-in code cache", async () => {
    assert.equal((await readFile(join(packageDir, 'dist', 'cli', 'main.js'), 'utf8')).split('\n')[2], 'import"./heap-flag-reset.js";');
    // `kubepair connect` with a relay nobody listens on loads connect's whole module graph, then stops.
    const run = await runKubepair(['connect', '42-7315-0286', '--no-shell'], {
      program: bin,
      env: { PATH: userPath, HOME: dir, KUBEPAIR_RELAY: 'http://127.0.0.1:9', KUBEPAIR_TOKEN: `kprt_${'A'.repeat(43)}`, ...CODE_CACHE_DEBUG_ENV },
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /cannot reach the relay/);
    const cache = builtinCodeCache(run.stderr);
    // Rejected: only what Node.js loads before main.js and what node:v8 loads (its streams).
    for (const name of ['http2', 'tls', 'net', 'crypto']) assert.ok(cache.accepted.includes(name), `${name}: accepted ${cache.accepted.join(' ')}; rejected ${cache.rejected.join(' ')}`);
    assert.ok(cache.accepted.length > 2 * cache.rejected.length, `accepted ${cache.accepted.length}, rejected ${cache.rejected.length}: ${cache.rejected.join(' ')}`);
  });

  it('the installed bundle fills its compile cache in ~/.cache/kubepair/compile-cache (Node.js 22.1 and later)', async () => {
    const home = join(dir, 'compile-cache-home');
    await mkdir(home);
    const cache = join(home, '.cache', 'kubepair', 'compile-cache');
    for (let run = 0; run < 2; run++) {
      const versionRun = await runKubepair(['--version'], { program: bin, env: { PATH: userPath, HOME: home }, timeoutMs: COMMAND_TIMEOUT_MS });
      assert.deepEqual([versionRun.code, versionRun.stdout, versionRun.stderr], [0, `${version}\n`, ''], `run ${run + 1}`);
    }
    assert.ok((await filesUnder(cache)).length > 0, `nothing in ${cache}`);
  });

  describe('a session run by the installed kubepair', () => {
    let stack: E2EStack;
    let secrets: SecretService;
    let home: Awaited<ReturnType<typeof kubectlSandbox>>;
    before(async () => {
      stack = await startE2EStack({ api: { objects: [POD] }, installed: { bin, path: userPath } });
      secrets = await startSecretService();
      home = await kubectlSandbox('kubepair-package-home-');
    });
    after(async () => {
      await stack?.close();
      await secrets?.stop();
      await home?.remove();
    });

    it('relay, share, token set into the keychain and connect CODE -- kubectl get pods: the pod comes back', async () => {
      const share = await stack.startShare(['--once']);
      const laptop = { DBUS_SESSION_BUS_ADDRESS: secrets.address, KUBEPAIR_TOKEN: '', HOME: home.dir };
      const set = await runKubepair(['token', 'set', '--relay', stack.relayUrl], {
        program: bin,
        env: stack.env('client', laptop),
        input: stack.tokens.client,
        timeoutMs: COMMAND_TIMEOUT_MS,
      });
      assert.equal(set.code, 0, set.stderr);
      // doctor of the installed package: reaches the relay and finds the token in the keychain.
      const doctor = await runKubepair(['doctor', '--relay', stack.relayUrl], { program: bin, env: stack.env('client', laptop), timeoutMs: CONNECT_TIMEOUT_MS });
      assert.match(doctor.stdout, /^OK +relay\b/m, `doctor:\n${doctor.stdout}\n${doctor.stderr}`);
      assert.match(doctor.stdout, /^OK +token\b/m, `doctor:\n${doctor.stdout}\n${doctor.stderr}`);
      const connect = stack.startConnect([share.code, '--', 'kubectl', 'get', 'pods', '-o', 'name'], laptop);
      const exit = await connect.exitedWithin(CONNECT_TIMEOUT_MS);
      assert.equal(exit.code, 0, connect.stderr());
      assert.equal(connect.stdout(), 'pod/web-0\n');
      assert.ok(
        stack.api.requests().some((request) => request.path === '/api/v1/namespaces/default/pods'),
        'kubectl\'s request reached the API server through the tunnel',
      );
      assert.equal((await share.process.exitedWithin(CONNECT_TIMEOUT_MS)).code, 0, share.process.stderr());
      assert.deepEqual(await stack.kubeconfigsLeft(), []);
      // The installed relay masks WebSocket frames with bufferutil's prebuilt native code where one exists for this platform.
      if (existsSync(join(packageDir, 'node_modules', 'bufferutil', 'prebuilds', `${process.platform}-${process.arch}`))) {
        assert.doesNotMatch(stack.relay.stderr(), /bufferutil_missing/);
      }
    });
  });
});
