/**
 * Start-up of the kubepair binary (issue 15; docs/performance.md "Start-up"): the timeline
 * KUBEPAIR_TIMELINE=1 prints, connect's switch of zod to interpreted validation (each in a child
 * process of its own: both act on process-wide state), the registration of the invoked
 * command alone, and connect's own entry module (cli-entry.ts, connect-cli.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliEntryFor } from '../../../src/cli/cli-entry.js';
import { connectCommands } from '../../../src/cli/connect-cli.js';
import { buildProgram } from '../../../src/cli/program.js';
import { commandsFor } from '../../../src/cli/run-cli.js';
import { timelineLine } from '../../../src/cli/startup-timeline.js';
import { CLI_PATH } from '../../helpers/cli.js';
import { repoPath } from '../../helpers/paths.js';

const run = promisify(execFile);
const CHILD_TIMEOUT_MS = 60_000;

describe('the start-up timeline (KUBEPAIR_TIMELINE=1)', () => {
  it('a line is the step and the milliseconds since the process started', () => {
    assert.equal(timelineLine(12.345, 'cli_loaded'), 'kubepair: timeline 12.3 cli_loaded\n');
  });

  it('with KUBEPAIR_TIMELINE=1 kubepair --version prints its steps in order on stderr, with times that grow; without it nothing', async () => {
    const on = await run(process.execPath, [CLI_PATH, '--version'], { env: { ...process.env, KUBEPAIR_TIMELINE: '1' }, timeout: CHILD_TIMEOUT_MS });
    const steps = [...on.stderr.matchAll(/^kubepair: timeline (\d+\.\d) (\w+)$/gm)].map((match) => ({ ms: Number(match[1]), step: match[2] }));
    assert.deepEqual(
      steps.map((entry) => entry.step),
      ['main', 'cli_loaded'],
    );
    assert.ok(steps[0]!.ms > 0 && steps[1]!.ms >= steps[0]!.ms, on.stderr);
    const { KUBEPAIR_TIMELINE: _unset, ...without } = process.env;
    const off = await run(process.execPath, [CLI_PATH, '--version'], { env: without, timeout: CHILD_TIMEOUT_MS });
    assert.equal(off.stderr, '');
    assert.match(off.stdout, /^\d+\.\d+\.\d+/);
  });
});

describe('connect validates with zod interpreted, not compiled', () => {
  it('after useInterpretedValidation() zod builds no validator with new Function, and parses the same', async () => {
    const script = `
      const { z } = await import('zod');
      const { useInterpretedValidation } = await import(${JSON.stringify(repoPath('build/src/cli/connect-command.js'))});
      const compiled = [];
      const RealFunction = globalThis.Function;
      globalThis.Function = new Proxy(RealFunction, { construct(target, args) { compiled.push(args.at(-1)); return Reflect.construct(target, args); } });
      const parseBoth = (schema) => [schema.safeParse({ a: 'x', b: 1 }).success, schema.safeParse({ a: 'x', b: 'no' }).success, schema.safeParse({ a: 'x', b: 1, c: 2 }).success];
      const before = parseBoth(z.strictObject({ a: z.string(), b: z.number() }));
      const compiledBefore = compiled.length;
      useInterpretedValidation();
      const after = parseBoth(z.strictObject({ a: z.string(), b: z.number() }));
      process.stdout.write(JSON.stringify({ compiledBefore, compiledAfter: compiled.length - compiledBefore, before, after }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: repoPath('.'), timeout: CHILD_TIMEOUT_MS });
    const result = JSON.parse(stdout) as { compiledBefore: number; compiledAfter: number; before: boolean[]; after: boolean[] };
    assert.ok(result.compiledBefore > 0, 'zod compiles an object schema by default (else this test shows nothing)');
    assert.equal(result.compiledAfter, 0);
    assert.deepEqual(result.after, result.before);
    assert.deepEqual(result.after, [true, false, false]);
  });
});

describe('only the invoked command is registered (commandsFor)', () => {
  const registered = (argv: readonly string[]): string[] => buildProgram(commandsFor(argv)).commands.map((command) => command.name());
  const ALL = registered([]);

  it('kubepair connect CODE registers connect alone; share and relay theirs alone', () => {
    assert.ok(ALL.length >= 10 && ALL.includes('connect') && ALL.includes('share'), ALL.join(' '));
    assert.deepEqual(registered(['connect', '42-1234-5678']), ['connect']);
    assert.deepEqual(registered(['connect', '--no-shell', '42-1234-5678']), ['connect']);
    assert.deepEqual(registered(['share', '--once']), ['share']);
    assert.deepEqual(registered(['relay', 'token', 'list']), ['relay']);
    assert.deepEqual(registered(['session', 'end']), ['status', 'session']);
  });

  it('help, completion, an unknown or misspelt command, and no command register every command', () => {
    for (const argv of [[], ['--help'], ['connect', '--help'], ['connect', '-h'], ['help', 'connect'], ['completion', 'bash'], ['conect', '42-1234-5678'], ['--version']]) {
      assert.deepEqual(registered(argv), ALL, argv.join(' '));
    }
  });

  it('a misspelt command still gets commander\'s suggestion, exit 2', async () => {
    const result = await run(process.execPath, [CLI_PATH, 'conect', '42-1234-5678'], { timeout: CHILD_TIMEOUT_MS }).then(
      () => assert.fail('exit 0'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command 'conect'[\s\S]*Did you mean connect\?/);
  });
});

describe("connect's own entry module (cliEntryFor, connect-cli.ts)", () => {
  /** The commands a program registers, each with its options and help text: what a command line can reach. */
  const shape = (commands: Parameters<typeof buildProgram>[0]): unknown =>
    buildProgram(commands).commands.map((command) => ({ name: command.name(), options: command.options.map((option) => option.flags), help: command.helpInformation() }));
  const CONNECT_LINES = [
    ['connect', '42-1234-5678'],
    ['connect', '--no-shell', '--forward', '6379:redis', '42-1234-5678'],
    ['connect', '42-1234-5678', '--', 'kubectl', 'get', 'pods'],
    ['connect'],
    ['connect', '--bogus'],
    ['connect', '-V'],
  ];

  it('kubepair connect goes to connect-cli unless help is asked for anywhere; every other command line to run-cli', () => {
    for (const argv of CONNECT_LINES) assert.equal(cliEntryFor(argv), 'connect-cli', argv.join(' '));
    for (const argv of [[], ['--help'], ['connect', '--help'], ['connect', '-h'], ['connect', '42-1234-5678', '--', 'kubectl', '-h'], ['help', 'connect'], ['share', '--once'], ['conect', '42-1234-5678'], ['--version'], ['completion', 'bash'], ['status']]) {
      assert.equal(cliEntryFor(argv), 'run-cli', argv.join(' '));
    }
  });

  it('for each command line it gets, connect-cli registers exactly what run-cli would (connect alone, same options and help)', () => {
    for (const argv of CONNECT_LINES) {
      assert.deepEqual(shape(connectCommands(argv)), shape(commandsFor(argv)), argv.join(' '));
      assert.deepEqual(buildProgram(connectCommands(argv)).commands.map((command) => command.name()), ['connect'], argv.join(' '));
    }
  });

  it('through the binary: connect-cli passes the whole command line on (a command after -- is checked, one without -- refused)', async () => {
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent' };
    const failed = (args: string[]) =>
      run(process.execPath, [CLI_PATH, ...args], { env, timeout: CHILD_TIMEOUT_MS }).then(
        () => assert.fail(`exit 0: ${args.join(' ')}`),
        (err: { code: number; stderr: string }) => err,
      );
    const afterDashes = await failed(['connect', '42-1234-5678', '--', '/nonexistent/kubepair-test-command']);
    assert.equal(afterDashes.code, 127, afterDashes.stderr);
    assert.match(afterDashes.stderr, /not an executable file; nothing was paired/);
    const withoutDashes = await failed(['connect', '42-1234-5678', '/nonexistent/kubepair-test-command']);
    assert.equal(withoutDashes.code, 2, withoutDashes.stderr);
    assert.match(withoutDashes.stderr, /a command after the code needs "--" before it/);
  });
});
