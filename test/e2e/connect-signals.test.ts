/**
 * End to end (issue 10, "A cancelled connect still runs", "Kubeconfig left behind"): real
 * `kubepair connect` processes on a real relay, ended by signals at each stage — at the code
 * prompt, while pairing, with a session up — and killed with SIGKILL. A cancelled connect runs
 * nothing and exits 128 + the signal's number; no stage leaves a kubeconfig behind, and one that
 * SIGKILL left is removed by the next connect. The agent is scripted in the test process
 * (test/helpers/scripted-agent.ts) so it can answer late, or never.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_PATH } from '../helpers/cli.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { startProcess } from '../helpers/managed-process.js';
import type { ScriptedAgent } from '../helpers/scripted-agent.js';
import { proxyDescription, startScriptedAgent } from '../helpers/scripted-agent.js';
import { waitUntil, waitUntilAsync } from '../helpers/wait-until.js';

/** Every test is bounded: a connect that ignores a signal fails the test instead of hanging it. */
const T = { timeout: 60_000 };

function exitCodeOf(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('e2e: connect ends cleanly on signals', () => {
  let stack: E2EStack;
  let marker: string;
  let count = 0;
  before(async () => {
    stack = await startE2EStack();
  });
  after(() => stack.close());

  const agent = (gate?: Promise<void>): Promise<ScriptedAgent> =>
    startScriptedAgent({ relay: { url: stack.relayUrl, token: stack.tokens.agent }, description: proxyDescription(), ...(gate !== undefined && { gate }) });
  /** `-- sh -c 'touch MARKER'`: a command whose only effect is a file that must not appear. */
  const markerCommand = (): string[] => {
    marker = join(stack.dir, `ran-${++count}`);
    return ['--', 'sh', '-c', 'touch "$0"', marker];
  };

  it('Security: Ctrl-C while pairing: the agent answers later, yet nothing runs; exit 130, no kubeconfig', T, async () => {
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const slow = await agent(gate);
    const connect = stack.startConnect([slow.code, ...markerCommand()]);
    try {
      await slow.clientArrived;
      connect.child.kill('SIGINT');
      // The agent answers once connect is gone — or, were the Ctrl-C ignored, a moment later.
      await Promise.race([connect.exited, new Promise((resolve) => setTimeout(resolve, 1000))]);
      openGate();
      const exit = await connect.exited;
      assert.equal(exit.code, 130, connect.stderr());
      assert.match(connect.stderr(), /kubepair: interrupted: received SIGINT before the session started; nothing was run/);
      assert.doesNotMatch(connect.stderr(), /\n\s+at /, 'no stack trace');
      assert.ok(!existsSync(marker), 'the command did not run');
      assert.notEqual(await slow.outcome, 'paired', 'the agent could not pair with a connect that was gone');
    } finally {
      await connect.stop('SIGKILL');
      await slow.close();
    }
    assert.deepEqual(await stack.kubeconfigsLeft(), []);
  });

  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
    it(`${signal} while pairing with an agent that never answers: exit ${exitCodeOf(signal)}, nothing runs`, T, async () => {
      const silent = await agent(new Promise<void>(() => undefined));
      const connect = stack.startConnect([silent.code, ...markerCommand()]);
      try {
        await silent.clientArrived;
        connect.child.kill(signal);
        const exit = await connect.exited;
        assert.equal(exit.code, exitCodeOf(signal), connect.stderr());
        assert.match(connect.stderr(), new RegExp(`received ${signal} before the session started; nothing was run`));
        assert.ok(!existsSync(marker), 'the command did not run');
      } finally {
        await connect.stop('SIGKILL');
        await silent.close();
      }
      assert.deepEqual(await stack.kubeconfigsLeft(), []);
    });
  }

  describe('the code prompt without a terminal (the first line of standard input)', () => {
    it('end of input without a code: "no pairing code entered", exit 2, no stack trace', T, async () => {
      const connect = stack.startConnect(['--no-shell']);
      await connect.waitFor(/reading the pairing code/, 15_000, 'stderr');
      connect.child.stdin.end();
      const exit = await connect.exited;
      assert.equal(exit.code, 2, connect.stderr());
      assert.match(connect.stderr(), /kubepair: no pairing code entered/);
      assert.doesNotMatch(connect.stderr(), /internal error|\n\s+at /);
    });

    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`${signal} while waiting for the code: exit ${exitCodeOf(signal)}, no stack trace`, T, async () => {
        const connect = stack.startConnect(['--no-shell']);
        try {
          await connect.waitFor(/reading the pairing code/, 15_000, 'stderr');
          connect.child.kill(signal);
          const exit = await connect.exited;
          assert.equal(exit.code, exitCodeOf(signal), connect.stderr());
          assert.match(connect.stderr(), new RegExp(`interrupted: received ${signal}`));
          assert.doesNotMatch(connect.stderr(), /internal error|\n\s+at /);
        } finally {
          await connect.stop('SIGKILL');
        }
      });
    }

    it('a code on standard input pairs like one given as an argument', T, async () => {
      const ready = await agent();
      const connect = stack.startConnect(['--no-shell']);
      try {
        connect.child.stdin.end(`${ready.code}\n`);
        await connect.waitFor(/export KUBECONFIG=\S+/, 20_000, 'stdout');
        assert.equal(await ready.outcome, 'paired');
      } finally {
        await connect.stop('SIGTERM');
        await ready.close();
      }
    });
  });

  describe('the code prompt on a terminal (a pty from script(1))', () => {
    /** `kubepair connect` under script(1): its stdin, stdout and stderr are a pty. */
    const onTerminal = (args: readonly string[]): ManagedProcess => {
      const command = ['connect', ...args].map((arg) => `'${arg}'`).join(' ');
      return startProcess('script', ['-qec', `'${process.execPath}' '${CLI_PATH}' ${command}`, '/dev/null'], stack.env('client'));
    };

    it('Ctrl-C at the prompt: exit 130, one line, no stack trace', T, async () => {
      const connect = onTerminal(['--no-shell']);
      try {
        await connect.waitFor(/Pairing code: /, 15_000, 'stdout');
        connect.child.stdin.write('42-73\u0003');
        const exit = await connect.exited;
        assert.equal(exit.code, 130, connect.stdout());
        assert.match(connect.stdout(), /interrupted: received SIGINT/);
        assert.doesNotMatch(connect.stdout(), /internal error|\n\s+at /);
      } finally {
        await connect.stop('SIGKILL');
      }
    });

    it('Ctrl-D at an empty prompt: "no pairing code entered", exit 2', T, async () => {
      const connect = onTerminal(['--no-shell']);
      try {
        await connect.waitFor(/Pairing code: /, 15_000, 'stdout');
        connect.child.stdin.write('\u0004');
        const exit = await connect.exited;
        assert.equal(exit.code, 2, connect.stdout());
        assert.match(connect.stdout(), /kubepair: no pairing code entered/);
        assert.doesNotMatch(connect.stdout(), /internal error|\n\s+at /);
      } finally {
        await connect.stop('SIGKILL');
      }
    });
  });

  describe('Security: a session ended by a signal leaves no kubeconfig', () => {
    for (const signal of ['SIGQUIT', 'SIGUSR2', 'SIGHUP', 'SIGTERM', 'SIGINT', 'SIGUSR1'] as const) {
      it(`connect --no-shell ended by ${signal}: exit ${exitCodeOf(signal)}, kubeconfig removed`, T, async () => {
        const ready = await agent();
        const connect = stack.startConnect(['--no-shell', ready.code]);
        try {
          const path = (await connect.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout'))[1]!;
          assert.ok(existsSync(path));
          connect.child.kill(signal);
          const exit = await connect.exited;
          assert.equal(exit.code, exitCodeOf(signal), `${signal}: ${connect.stderr()}`);
          assert.ok(!existsSync(path), `${signal}: the kubeconfig is removed`);
          assert.match(connect.stderr(), new RegExp(`kubepair: ${signal}: the session ended and the kubeconfig is removed`));
        } finally {
          await connect.stop('SIGKILL');
          await ready.close();
        }
        assert.deepEqual(await stack.kubeconfigsLeft(), []);
      });
    }

    it('a command running when SIGTERM arrives is stopped; exit 143, kubeconfig removed', T, async () => {
      const ready = await agent();
      const pidFile = join(stack.dir, 'command.pid');
      const connect = stack.startConnect([ready.code, '--', 'sh', '-c', 'echo $$ > "$0"; exec sleep 60', pidFile]);
      try {
        // The shell creates the file before it writes the line: wait for the whole line, since an
        // empty file would read as pid 0, which names our own process group and is never gone.
        await waitUntilAsync(async () => /^\d+\n$/.test(await readFile(pidFile, 'utf8').catch(() => '')), 20_000, 'the command to write its pid');
        const pid = Number((await readFile(pidFile, 'utf8')).trim());
        assert.ok(pid > 1, `a process id: ${pid}`);
        assert.equal((await stack.kubeconfigsLeft()).length, 1);
        connect.child.kill('SIGTERM');
        const exit = await connect.exited;
        assert.equal(exit.code, 143, connect.stderr());
        await waitUntil(() => processGone(pid), 10_000, 'the command to be stopped');
      } finally {
        await connect.stop('SIGKILL');
        await ready.close();
      }
      assert.deepEqual(await stack.kubeconfigsLeft(), []);
    });

    it('SIGKILL leaves the kubeconfig; the next connect removes it, but not a live connect\'s', T, async () => {
      const first = await agent();
      const second = await agent();
      const third = await agent();
      const killed = stack.startConnect(['--no-shell', first.code]);
      const alive = stack.startConnect(['--no-shell', second.code]);
      let later: ManagedProcess | undefined;
      try {
        const stale = (await killed.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout'))[1]!;
        const kept = (await alive.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout'))[1]!;
        killed.child.kill('SIGKILL');
        assert.equal((await killed.exited).signal, 'SIGKILL');
        assert.ok(existsSync(stale), 'SIGKILL leaves the file (nothing can run after it)');

        later = stack.startConnect(['--no-shell', third.code]);
        const fresh = (await later.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout'))[1]!;
        assert.ok(!existsSync(stale), 'the dead connect\'s kubeconfig is removed');
        assert.ok(existsSync(kept), 'a live connect\'s kubeconfig is kept');
        assert.ok(existsSync(fresh));
        assert.match(later.stderr(), /removed 1 kubeconfig left behind by connect processes that no longer run/);
        assert.deepEqual((await readdir(stack.runtimeDir)).filter((name) => name.endsWith('.kubeconfig')).sort(), [kept, fresh].map((path) => path.slice(stack.runtimeDir.length + 1)).sort());
      } finally {
        await Promise.all([killed.stop('SIGKILL'), alive.stop('SIGTERM'), later?.stop('SIGTERM')]);
        await Promise.all([first.close(), second.close(), third.close()]);
      }
      assert.deepEqual(await stack.kubeconfigsLeft(), []);
    });
  });
});
