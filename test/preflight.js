/**
 * npm test's preflight, run by the `pretest` step before anything is compiled: the Node.js
 * version and the system programs the tests run for real, looked up on PATH without starting
 * any of them, so it answers in well under a second. When something is missing it names each
 * program with the Debian package that provides it and the one apt-get line that installs them
 * all, and exits 1; otherwise it prints nothing and exits 0. Without it, a machine lacking
 * kubectl or redis-server fails test files one by one minutes later, or waits.
 *
 * Plain JavaScript because it runs before `tsc`. .ci/run installs the same packages;
 * test/integration/preflight/preflight.test.ts keeps the two lists in step.
 * Input: PATH and KUBEPAIR_TEST_KUBECTL from the environment (trusted: the developer's own).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import process from 'node:process';

/** The oldest Node.js the tests run on (package.json "engines"; --test-force-exit needs 20.14). */
const NODE_MINIMUM = [20, 19];

/** Each program the tests start, the Debian package that installs it, and who needs it. */
const REQUIRED_PROGRAMS = [
  { program: 'kubectl', debianPackage: 'kubernetes-client', usedBy: 'the kubectl tests (proxy, passthrough, policy, audit, API server fixture)' },
  { program: 'redis-server', debianPackage: 'redis-server', usedBy: 'test/e2e/forward: the TCP target behind --expose' },
  { program: 'redis-cli', debianPackage: 'redis-tools', usedBy: 'test/e2e/forward: the client through --forward' },
  { program: 'tinyproxy', debianPackage: 'tinyproxy-bin', usedBy: 'the HTTPS_PROXY tests: a real proxy to the relay' },
  { program: 'prlimit', debianPackage: 'util-linux', usedBy: 'the fail-closed audit tests: a share whose log writes fail (RLIMIT_FSIZE)' },
  { program: 'dbus-daemon', debianPackage: 'dbus-daemon', usedBy: 'the keychain tests: a private session bus' },
  { program: 'gnome-keyring-daemon', debianPackage: 'gnome-keyring', usedBy: 'the keychain tests: the Secret Service' },
  { program: 'script', debianPackage: 'bsdutils', usedBy: 'the terminal tests: kubectl exec -it, attach -it and the code prompt under a pty' },
  { program: 'zsh', debianPackage: 'zsh', usedBy: 'test/integration/cli/completion: the zsh completion script in a real zsh' },
  { program: 'fish', debianPackage: 'fish', usedBy: 'test/integration/cli/completion: the fish completion script in a real fish' },
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

function main() {
  const problems = [];
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < NODE_MINIMUM[0] || (major === NODE_MINIMUM[0] && minor < NODE_MINIMUM[1])) {
    problems.push(`Node.js ${NODE_MINIMUM.join('.')} or later is needed; this is ${process.versions.node}.`);
  }
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
        `Install them (as root), then run npm test again:`,
        `  apt-get install --no-install-recommends ${[...new Set(missing.map(({ debianPackage }) => debianPackage))].join(' ')}`,
        `(.ci/run installs them itself. KUBEPAIR_TEST_KUBECTL may name another kubectl.)`,
      ].join('\n'),
    );
  }
  if (problems.length === 0) return 0;
  process.stderr.write(`npm test cannot run on this machine yet.\n${problems.join('\n')}\n`);
  return 1;
}

process.exitCode = main();
